"""The help screen: every key of this mode, straight from the key registry (the same list the
footer and the command palette are built from)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from widgets.keys import KeySpec, display_key

GROUPS = (
    ("navigation", "Navigation"),
    ("view", "View"),
    ("incident", "Incidents"),
    ("action", "Actions"),
)


def help_text(specs: tuple[KeySpec, ...], read_only: bool) -> str:
    """The help as plain text, grouped; says so when actions are off (read-only)."""
    lines: list[str] = []
    for group, title in GROUPS:
        members = [s for s in specs if s.group == group]
        if group == "action" and read_only:
            lines += [title, "  READ-ONLY: no action can run from this cockpit.", ""]
            members = [s for s in members if not s.mutating]
            if not members:
                continue
        if not members:
            continue
        lines.append(title)
        lines += [f"  {display_key(s.key):<10} {s.description}" for s in members]
        lines.append("")
    lines += [
        "Anywhere",
        f"  {'ctrl+p':<10} Command palette (the same commands as above)",
        f"  {'escape':<10} Close a dialog, or clear the filter",
        "",
    ]
    return "\n".join(lines)


class HelpScreen(ModalScreen[None]):
    """Modal list of every key; escape, q or ? closes it."""

    BINDINGS = [Binding("escape,q,question_mark", "dismiss_help", "Close help")]

    def __init__(self, specs: tuple[KeySpec, ...], read_only: bool) -> None:
        super().__init__(id="help")
        self.specs = specs
        self.read_only = read_only

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-box") as box:
            box.border_title = "Keys"
            box.border_subtitle = "escape closes"
            yield Static(help_text(self.specs, self.read_only), id="help-text")

    def action_dismiss_help(self) -> None:
        self.dismiss(None)
