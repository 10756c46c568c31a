"""The rows a table pane shows: filtered and sorted in Python, and only a window of them in the
DataTable.

A DataTable with 5,000 rows costs on every refresh (a widget call per changed cell, each one
invalidating the whole table's render caches, widths measured per row, a sort of every row) and
holds every cell's rendering in memory. So the pane keeps every row here, as plain tuples, and
puts only `WINDOW` rows around the cursor into the DataTable; the window follows the cursor.
Tables up to `WINDOW` rows are shown whole, exactly as before.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from textual import events
from textual.widgets import DataTable
from textual.widgets.data_table import ColumnKey, RowKey

from widgets.panes.common import Cell, SortKey

Row = tuple[str, Any, dict[str, Cell]]  # (row key, the item, cells by column key)

WINDOW = 160  # rows in the DataTable at most: several screens around the cursor
MARGIN = WINDOW // 4  # the window moves when the cursor comes this close to one of its ends


def filter_rows(rows: list[Row], needle: str) -> list[Row]:
    """Rows with `needle` (case-insensitive) in a cell's text or in the row key."""
    if not needle:
        return rows
    needle = needle.lower()
    return [
        r
        for r in rows
        if needle in r[0].lower() or any(needle in (c.text or "").lower() for c in r[2].values())
    ]


def sort_rows(rows: list[Row], column: str, reverse: bool) -> list[Row]:
    """Rows by one column's sort key (stable: equal values keep their order), the rows without
    a value last in either direction. Every key has one type (`Cell.sort_key`), so rows of one
    column always compare, whatever the backend sent."""
    if not column:
        return rows
    blank = Cell("")
    keyed = [(row[2].get(column, blank).sort_key(), row) for row in rows]
    present = [(key, row) for key, row in keyed if not key[0]]
    present.sort(key=_first, reverse=reverse)  # reverse keeps equal keys in their order too
    return [row for _, row in present] + [row for key, row in keyed if key[0]]


def _first(pair: tuple[SortKey, Row]) -> SortKey:
    return pair[0]


def window_start(pos: int, start: int, total: int, size: int = WINDOW, margin: int = MARGIN) -> int:
    """Where the window of `size` rows starts so that row `pos` is well inside it.

    The window stays put while `pos` is more than `margin` rows from either end (so moving the
    cursor or a refresh costs no reshuffle); otherwise it is centred on `pos`. Never past the
    ends of the `total` rows.
    """
    if total <= size:
        return 0
    last = total - size
    start = min(max(start, 0), last)
    near_top = pos - start < margin and start > 0
    near_bottom = start + size - pos <= margin and start < last
    if near_top or near_bottom or not start <= pos < start + size:
        start = pos - size // 2
    return min(max(start, 0), last)


@runtime_checkable
class OwningPane(Protocol):
    """What the table tells the TablePane it sits in (named structurally: table.py imports
    this module)."""

    def goto_row(self, index: int) -> bool: ...
    def operator_moved(self) -> None: ...
    def table_resized(self) -> None: ...


def _looks_the_same(before: object, after: object) -> bool:
    """Whether two cells draw alike: both `Cell`s with the same text and style."""
    return (
        isinstance(before, Cell)
        and isinstance(after, Cell)
        and before.text == after.text
        and before.style == after.style
    )


class WindowTable(DataTable):
    """The pane's DataTable: top/bottom (ctrl+home/ctrl+end) go to the first/last of *all*
    rows, not of the window; the pane moves the window there."""

    def action_scroll_top(self) -> None:
        pane = self.parent_pane()
        if pane is None or not pane.goto_row(0):
            super().action_scroll_top()

    # The operator's own moves (a refresh's are not): they choose the row under the cursor.
    def _moved(self) -> None:
        pane = self.parent_pane()
        if pane is not None:
            pane.operator_moved()

    def action_cursor_up(self) -> None:
        self._moved()
        super().action_cursor_up()

    def action_cursor_down(self) -> None:
        self._moved()
        super().action_cursor_down()

    def action_page_up(self) -> None:
        self._moved()
        super().action_page_up()

    def action_page_down(self) -> None:
        self._moved()
        super().action_page_down()

    def on_click(self, event: events.Click) -> None:
        self._moved()  # after DataTable's own click handling, before its RowHighlighted

    def action_scroll_bottom(self) -> None:
        pane = self.parent_pane()
        if pane is None or not pane.goto_row(-1):
            super().action_scroll_bottom()

    def on_resize(self, event: events.Resize) -> None:
        pane = self.parent_pane()
        if pane is not None:
            pane.table_resized()

    def set_cells_quiet(self, changes: list[tuple[str, str, Any]]) -> None:
        """Like `update_cell(..., update_width=False)` for each (row key, column key, value),
        but repaint only the changed rows' lines.

        `update_cell` refreshes the whole table: every visible line is rendered and written to
        the terminal again for one changed cell. The rows' regions are enough (nothing for rows
        scrolled out of view); bumping the update count drops the cached renderings.
        A cell whose text and style stay (only its sort value moved: a duration's exact seconds
        under the same '1s') is stored without a repaint.
        """
        rows = set()
        for row_key, column_key, value in changes:
            key = RowKey(row_key)
            cells = self._data[key]
            column = ColumnKey(column_key)
            if not _looks_the_same(cells.get(column), value):
                rows.add(key)
            cells[column] = value
        if not rows:
            return
        self._update_count += 1
        for key in rows:
            self.refresh_row(self.get_row_index(key))

    def parent_pane(self) -> OwningPane | None:
        """The TablePane this table belongs to, if any."""
        node = self.parent
        while node is not None and not isinstance(node, OwningPane):
            node = node.parent
        return node
