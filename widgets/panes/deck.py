"""The six panes as one deck: which one is active, moving between them, the selected row.

Shared by the app (data goes to panes by source; focus moved by a click follows) and the main
screen's keys (tab, 1..6, enter). Not a widget: the panes are composed by the app.
"""

from __future__ import annotations

from typing import Any

from textual.widget import Widget

from widgets.panes.base import Pane

PANE_NAMES = {"pods": "kubernetes", "db": "database", "certs": "certificates"}


class PaneDeck:
    """The panes in screen order, and the active one."""

    def __init__(self, panes: list[Pane]) -> None:
        self.panes = panes
        self.by_source = {p.source: p for p in panes if p.source}
        self.active = 0

    @property
    def active_pane(self) -> Pane:
        """The focused pane."""
        return self.panes[self.active]

    def focus(self, number: int) -> None:
        """Make pane `number` (1..6, wrapping) the active one and focus its main widget."""
        self.active = (number - 1) % len(self.panes)
        self._mark()
        self.active_pane.focus_target().focus()

    def follow(self, widget: Widget) -> None:
        """Focus moved by other means (a click, a closed dialog): the pane holding it is active."""
        for i, pane in enumerate(self.panes):
            if i != self.active and widget in pane.walk_children():
                self.active = i
                self._mark()
                return

    def _mark(self) -> None:
        for i, pane in enumerate(self.panes):
            pane.set_class(i == self.active, "-active")

    def selected_row(self, pane: str | None = None) -> dict[str, Any] | None:
        """The selected row of a pane ('pods'/'kubernetes', 'database', 'certificates', ...),
        default the active pane, as plain data for actions."""
        if pane is None:
            return self.active_pane.selection()
        target = self.by_source.get(PANE_NAMES.get(pane, pane))
        return target.selection() if target is not None else None
