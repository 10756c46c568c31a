"""One line of text from the operator (a note, a value for an action)."""

from __future__ import annotations

from rich.markup import escape
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label


class TextDialog(ModalScreen[str | None]):
    """One line of text (a note); enter submits, escape cancels."""

    DEFAULT_CSS = """
    TextDialog { align: center middle; }
    TextDialog > Vertical { width: 100%; max-width: 80; height: auto; border: thick $accent;
                            padding: 1 2; background: $surface; }
    TextDialog Label { width: 100%; }
    """
    BINDINGS = [Binding("escape", "dismiss_none", "Cancel")]

    def __init__(self, prompt: str, value: str = "", *, password: bool = False) -> None:
        super().__init__()
        self.prompt = prompt
        self.value = value  # what the input starts with (a proposal the operator may edit)
        self.password = password  # a secret's value: not echoed

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(escape(self.prompt))
            yield Input(value=self.value, password=self.password, id="text")
            yield Label("[dim]enter continue · escape cancel[/dim]")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.dismiss(event.value.strip() or None)

    def action_dismiss_none(self) -> None:
        self.dismiss(None)
