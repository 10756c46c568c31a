"""The detail view: the full story of one row (a pod, a connection, a certificate) as text."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static


class DetailScreen(ModalScreen[None]):
    """Modal, scrollable text; escape, q or enter closes it."""

    BINDINGS = [Binding("escape,q,enter", "close", "Close")]

    def __init__(self, title: str, body: str) -> None:
        super().__init__(id="detail")
        self.title_text = title
        self.body = body

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="detail-box") as box:
            box.border_title = self.title_text
            box.border_subtitle = "escape closes"
            yield Static(self.body, id="detail-text", markup=False)

    def action_close(self) -> None:
        self.dismiss(None)
