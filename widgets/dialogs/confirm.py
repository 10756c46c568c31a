"""Confirmation dialogs for actions, and the replica-count prompt.

ConfirmDialog: where (context/cluster/namespace, production in red), the exact effect, the
equivalent command and RBAC; focus starts on Cancel; `y` confirms, `n` or escape cancels.
TypeToConfirmDialog: the same, but only typing the target's name (then enter) confirms; `y` is
just a letter there. The focus starts in the input, because typing is the confirmation.
"""

from __future__ import annotations

from collections.abc import Callable

from rich.markup import escape
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Static

from actions.base import Plan

# At 80x24 a long plan (kill 300 idle connections) must not push the answer off the screen: the
# facts scroll in a body that takes whatever height the screen leaves (see `_fit_body`), while
# the typed-name input, the hint and the buttons stay put; the arrow keys scroll it at once.
DIALOG_CSS = """
ConfirmDialog, TypeToConfirmDialog, ReplicaPrompt { align: center middle; }
#confirm-box { width: 90%; max-width: 110; height: auto; max-height: 96%; border: thick $warning;
               background: $surface; padding: 0 1; }
#confirm-box.-production { border: thick $error; }
#confirm-body { height: auto; }
#confirm-where { height: auto; }
#confirm-where.-production { background: $error; color: $text; text-style: bold; }
#confirm-effect, #confirm-command, #confirm-rbac { height: auto; margin-top: 1; }
#confirm-hint { height: auto; }
#confirm-buttons { height: 1; align-horizontal: right; }
#confirm-buttons Button { margin-left: 2; }
"""


def where_line(plan: Plan) -> str:
    """'PRODUCTION  context eu-prod  cluster c1  namespace predictiq' (markup-safe)."""
    parts = []
    if plan.production:
        parts.append("⚠ PRODUCTION ⚠")
    if plan.context:
        parts.append(f"context {escape(plan.context)}")
    if plan.cluster:
        parts.append(f"cluster {escape(plan.cluster)}")
    if plan.namespace:
        parts.append(f"namespace {escape(plan.namespace)}")
    parts.append(f"target {escape(plan.target)}")
    return "   ".join(parts)


# the plan body scrolls with these wherever the focus is (Cancel, or the typed-name input)
SCROLL_BINDINGS = [
    Binding("up", "scroll_plan('up')", show=False),
    Binding("down", "scroll_plan('down')", show=False),
    Binding("pageup", "scroll_plan('page_up')", show=False),
    Binding("pagedown", "scroll_plan('page_down')", show=False),
]


class ConfirmDialog(ModalScreen[bool]):
    """y confirms; n, escape or the (focused) Cancel button cancels."""

    DEFAULT_CSS = DIALOG_CSS
    BINDINGS = [
        Binding("y", "answer(True)", "Confirm"),
        Binding("n,escape", "answer(False)", "Cancel"),
        *SCROLL_BINDINGS,
    ]
    HINT = "y confirm    n / escape cancel    ↑↓ PgUp PgDn scroll the plan"

    def __init__(self, plan: Plan, recheck: Callable[[], str | None] | None = None) -> None:
        super().__init__()
        self.plan = plan
        # asked just before confirming: why the planned row is no longer the row it was, if so
        self.recheck = recheck
        self.refused: str | None = None  # the reason a confirmation was refused

    def compose(self) -> ComposeResult:
        plan = self.plan
        prod = "-production" if plan.production else ""
        with Vertical(id="confirm-box", classes=prod) as box:
            box.border_title = escape(f"{plan.title}  [{plan.danger} danger]")
            with VerticalScroll(id="confirm-body"):
                yield Static(where_line(plan), id="confirm-where", classes=prod)
                yield Static(f"RBAC: {escape(plan.rbac.describe())}", id="confirm-rbac")
                yield Static("\n".join(escape(line) for line in plan.effect), id="confirm-effect")
                yield Static(f"equivalent command:\n  {escape(plan.command)}", id="confirm-command")
            yield from self.compose_extra()
            yield Static(self.HINT, id="confirm-hint")
            with Horizontal(id="confirm-buttons"):
                yield Button("Cancel", id="cancel", variant="primary", compact=True)
                yield Button(
                    "Confirm",
                    id="confirm",
                    variant="error" if plan.production else "warning",
                    compact=True,
                )

    def compose_extra(self) -> ComposeResult:
        """Extra widgets between the facts and the buttons (the typed-name input)."""
        yield from ()

    def on_mount(self) -> None:
        self.initial_focus()
        self.call_after_refresh(self._fit_body)

    def on_resize(self) -> None:
        self.call_after_refresh(self._fit_body)

    def _fit_body(self) -> None:
        """Give the plan body every line the screen leaves around the fixed parts."""
        if not self.is_attached:
            return
        box = self.query_one("#confirm-box")
        body = self.query_one("#confirm-body", VerticalScroll)
        fixed = sum(w.outer_size.height for w in box.children if w is not body)
        room = int(self.size.height * 0.96) - fixed - 2  # the box's top and bottom border
        body.styles.max_height = max(room, 3)

    def action_scroll_plan(self, how: str) -> None:
        """Scroll the plan body (up, down, page_up, page_down)."""
        body = self.query_one("#confirm-body", VerticalScroll)
        getattr(body, f"scroll_{how}")(animate=False)

    def initial_focus(self) -> None:
        """Cancel has the focus first: enter alone never confirms."""
        self.query_one("#cancel", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_answer(event.button.id == "confirm")

    def action_answer(self, confirmed: bool) -> None:
        """Close with the answer (a confirmation of a row that changed meanwhile is refused)."""
        self.dismiss(self._checked(confirmed))

    def _checked(self, confirmed: bool) -> bool:
        if confirmed and self.recheck is not None:
            self.refused = self.recheck()
            if self.refused is not None:
                return False
        return confirmed


class TypeToConfirmDialog(ConfirmDialog):
    """Only typing the target's name exactly, then enter (or Confirm), confirms."""

    BINDINGS = [Binding("escape", "answer(False)", "Cancel"), *SCROLL_BINDINGS]
    inherit_bindings = False  # `y` and `n` are letters of the name here, not answers

    def __init__(self, plan: Plan, recheck: Callable[[], str | None] | None = None) -> None:
        super().__init__(plan, recheck)
        self.expected = plan.requires_typed_name or ""
        self.HINT = f"type {self.expected} and press enter to confirm    escape cancel    ↑↓ scroll"

    def compose_extra(self) -> ComposeResult:
        yield Static(f"Type [b]{escape(self.expected)}[/b] to confirm:", id="confirm-type-label")
        yield Input(placeholder=self.expected, id="confirm-name")

    def initial_focus(self) -> None:
        """The name input has the focus: typing it is the confirmation."""
        self.query_one("#confirm", Button).disabled = True
        self.query_one("#confirm-name", Input).focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        self.query_one("#confirm", Button).disabled = event.value != self.expected

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if event.value == self.expected:
            self.dismiss(self._checked(True))
        else:
            self.notify(f"type {self.expected} exactly to confirm", severity="warning", timeout=3)

    def action_answer(self, confirmed: bool) -> None:
        if confirmed and self.query_one("#confirm-name", Input).value != self.expected:
            return  # the Confirm button is disabled until the name matches; belt and braces
        self.dismiss(self._checked(confirmed))


class ReplicaPrompt(ModalScreen[int | None]):
    """Ask for a replica count within [low, high]; enter submits a valid number, escape cancels."""

    DEFAULT_CSS = DIALOG_CSS
    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, deployment: str, current: int | None, low: int, high: int) -> None:
        super().__init__()
        self.deployment, self.current, self.low, self.high = deployment, current, low, high

    def compose(self) -> ComposeResult:
        now = f" (now {self.current})" if self.current is not None else ""
        with Vertical(id="confirm-box") as box:
            box.border_title = escape(f"Scale deployment/{self.deployment}")
            yield Static(f"Replicas, {self.low} to {self.high}{now}:")
            yield Input(
                value="" if self.current is None else str(self.current),
                id="replicas",
                type="integer",
            )
            yield Static("", id="replicas-error")
            yield Static("enter continue to the confirmation    escape cancel", id="confirm-hint")

    def on_mount(self) -> None:
        self.query_one("#replicas", Input).focus()

    def validate(self, text: str) -> int | str:
        """The count, or the reason it is not acceptable."""
        try:
            value = int(text.strip())
        except ValueError:
            return f"enter a whole number from {self.low} to {self.high}"
        if not self.low <= value <= self.high:
            return f"{value} is outside {self.low}..{self.high} (actions.scale_min/max_replicas)"
        return value

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        result = self.validate(event.value)
        if isinstance(result, str):
            self.query_one("#replicas-error", Static).update(f"[red]{escape(result)}[/red]")
            return
        self.dismiss(result)

    def action_cancel(self) -> None:
        """Close without a count."""
        self.dismiss(None)
