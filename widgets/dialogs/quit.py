"""Asked before quitting while an action is in flight: quitting could leave its outcome unknown."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Static


class QuitConfirm(ModalScreen[bool]):
    """y quits, n or escape stays (the default)."""

    BINDINGS = [Binding("y", "answer(True)", "Quit"), Binding("n,escape", "answer(False)", "Stay")]

    def __init__(self, in_flight: int) -> None:
        super().__init__(id="quit-confirm")
        self.in_flight = in_flight

    def compose(self) -> ComposeResult:
        with Vertical(id="quit-box") as box:
            box.border_title = "Quit?"
            yield Static(
                f"{self.in_flight} action(s) still in flight; quitting now may leave "
                "the outcome unknown in the audit trail.\n\ny quit anyway   n / escape stay"
            )

    def action_answer(self, quit_now: bool) -> None:
        self.dismiss(quit_now)
