"""Pick one of a few options with its number key."""

from __future__ import annotations

from rich.markup import escape
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label


class ChoiceDialog(ModalScreen[str | None]):
    """Pick one of a few options with its number key; escape cancels."""

    DEFAULT_CSS = """
    ChoiceDialog { align: center middle; }
    ChoiceDialog > Vertical { width: 100%; max-width: 78; height: auto; border: thick $accent;
                              padding: 1 2; background: $surface; }
    """
    BINDINGS = [Binding("escape", "dismiss_none", "Cancel")]

    def __init__(self, title: str, options: list[tuple[str, str]]) -> None:
        super().__init__()
        self.title_text = title
        self.options = options  # (value, label)

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(f"[b]{escape(self.title_text)}[/b]")
            for n, (_value, label) in enumerate(self.options, 1):
                yield Label(f"  {n}  {escape(label)}")
            yield Label("[dim]number to choose, escape to cancel[/dim]")

    def on_key(self, event: events.Key) -> None:
        if event.character and event.character.isdigit():
            n = int(event.character)
            if 1 <= n <= len(self.options):
                event.stop()
                self.dismiss(self.options[n - 1][0])

    def action_dismiss_none(self) -> None:
        self.dismiss(None)
