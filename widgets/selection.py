"""Whether the row an action was planned against is still the row it was at the key press.

An action on a selected row (cancel pid 4242) plans against the row as the operator saw it when
pressing the key. While the confirmation is open the table keeps refreshing: the backend may end,
and its pid may even be reused by another one. The dialog asks `row_change` just before it
confirms, and refuses with the reason when the row is gone or is now something else.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol


class IdentifiesRows(Protocol):
    """A pane that can say what a row key stands for now (widgets.panes.table.TablePane)."""

    title: str

    def identity(self, key: str) -> str | None:
        """The row's identity now, None when it is gone."""
        ...


def row_change(panes: Mapping[str, Any], selection: Mapping[str, Any] | None) -> str | None:
    """None when the selected row is still the same thing; otherwise why not, in the operator's
    words ('pid 4242 is gone: it ended after the key press')."""
    if not selection or "identity" not in selection:
        return None  # a global action: nothing was selected
    pane: IdentifiesRows | None = panes.get(str(selection.get("source", "")))
    if pane is None:
        return None
    key = str(selection.get("key", ""))
    then = selection.get("identity")
    now = pane.identity(key)
    if now is None:
        return f"{pane.title}: {then} is gone: it ended after the key press"
    if now != then:
        return f"{pane.title}: the row is now {now}, not {then} as at the key press"
    return None
