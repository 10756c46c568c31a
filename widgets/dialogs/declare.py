"""Declare an incident by hand: title, severity, impact, and optionally which runbook entry it
is (`security`: the security-incident template, whose fixes are Contain and a backup)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label

from cockpit.incidents.severity import SEVERITIES


class DeclareDialog(ModalScreen[tuple[str, str, str, str] | None]):
    """Declare an incident: title, severity P1-P4, impact, and (tab to it) the runbook entry.
    Enter in impact or in the entry submits."""

    DEFAULT_CSS = """
    DeclareDialog { align: center middle; }
    DeclareDialog > Vertical { width: 80; height: auto; border: thick $error; padding: 1 2;
                               background: $surface; }
    """
    BINDINGS = [Binding("escape", "dismiss_none", "Cancel")]

    def __init__(self, kinds: tuple[str, ...] = ()) -> None:
        super().__init__()
        self.kinds = kinds  # the runbook entries a declared incident may be (empty: none)

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label("[b]Declare an incident[/b] (e.g. from a user report)")
            yield Input(placeholder="title: what is broken", id="title")
            yield Input(value="P2", placeholder="severity: P1 P2 P3 P4", id="severity")
            yield Input(placeholder="impact: who is affected, how", id="impact")
            if self.kinds:
                yield Input(
                    placeholder=f"runbook entry (tab here; optional): {', '.join(self.kinds)}",
                    id="kind",
                )
            yield Label("", id="error")
            yield Label(
                "[dim]enter: next field · enter in impact declares · escape cancels[/dim]",
                id="declare-hint",
            )

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        title = self.query_one("#title", Input).value.strip()
        severity = self.query_one("#severity", Input).value.strip().upper()
        severity = f"P{severity}" if severity in ("1", "2", "3", "4") else severity
        impact = self.query_one("#impact", Input).value.strip()
        kinds = self.query("#kind")
        kind = kinds.first(Input).value.strip() if kinds else ""
        if event.input.id not in ("impact", "kind"):
            self.focus_next()
            return
        if not title or severity not in SEVERITIES:
            self.query_one("#error", Label).update(
                "[red]a title and a severity P1-P4 are needed[/red]"
            )
            return
        if kind and kind not in self.kinds:
            self.query_one("#error", Label).update(
                f"[red]runbook entry: one of {', '.join(self.kinds)}, or empty[/red]"
            )
            return
        self.dismiss((title, severity, impact, kind))

    def action_dismiss_none(self) -> None:
        self.dismiss(None)
