"""A pane built around a DataTable that updates by diff, filters by substring and sorts by column.

Rows carry stable keys (pod uid, backend pid, host:port). A refresh removes vanished rows, adds
new ones and updates only the cells that changed (`update_width=False`), never `clear()`, so the
cursor and the scroll position survive. The cursor is restored by row key after a re-sort.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.widgets import DataTable, Input

from cockpit.models import Snapshot
from widgets.messages import OpenDetail
from widgets.panes.base import Pane
from widgets.panes.common import Cell

Row = tuple[str, Any, dict[str, Cell]]  # (row key, the item, cells by column key)


class TablePane(Pane):
    """A pane whose body ends in a sortable, filterable table of items."""

    #: (column key, label) in display order; subclasses may choose fewer in monitor mode
    COLUMNS: tuple[tuple[str, str], ...] = ()
    MONITOR_COLUMNS: tuple[str, ...] = ()
    DEFAULT_SORT: tuple[str, bool] = ("", False)  # (column key, reverse)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.filter_text = ""
        self.sort_column, self.sort_reverse = self.DEFAULT_SORT
        self.items: dict[str, Any] = {}  # every row of the last snapshot, filtered or not
        self._rows: list[Row] = []

    def columns(self) -> list[tuple[str, str]]:
        """The columns shown in this mode."""
        if self.monitor and self.MONITOR_COLUMNS:
            return [c for c in self.COLUMNS if c[0] in self.MONITOR_COLUMNS]
        return list(self.COLUMNS)

    def compose_table(self) -> ComposeResult:
        """The table and its (hidden) filter input; call from compose_body."""
        table: DataTable[Any] = DataTable(cursor_type="row", zebra_stripes=False,
                                          classes="focus-target")
        for key, label in self.columns():
            table.add_column(label, key=key)
        yield table
        yield Input(placeholder="filter rows (enter keeps it, escape clears)", classes="filter")

    @property
    def table(self) -> DataTable[Any]:
        """The pane's DataTable."""
        return self.query_one(DataTable)

    def rows(self, snapshot: Snapshot, now: datetime) -> Iterable[Row]:
        """Every row of a snapshot, unfiltered."""
        return ()

    def render_body(self, snapshot: Snapshot, now: datetime, trends: dict[str, list[float]]) -> None:
        self._rows = list(self.rows(snapshot, now))
        self.items = {key: item for key, item, _ in self._rows}
        self.apply_rows()

    def _visible(self) -> list[Row]:
        if not self.filter_text:
            return self._rows
        needle = self.filter_text.lower()
        return [r for r in self._rows
                if any(needle in c.text.lower() for c in r[2].values()) or needle in r[0].lower()]

    def apply_rows(self) -> None:
        """Bring the table to the current rows by diff, then sort and put the cursor back."""
        table = self.table
        cursor_key = self.cursor_key()
        wanted = {key: cells for key, _, cells in self._visible()}
        shown = [c for c, _ in self.columns()]
        changed = False
        for row_key in list(table.rows):
            if row_key.value not in wanted:
                table.remove_row(row_key)
                changed = True
        for key, cells in wanted.items():
            if key in table.rows:
                old = table.get_row(key)
                for i, col in enumerate(shown):
                    new = cells.get(col, Cell(""))
                    if old[i] != new:
                        table.update_cell(key, col, new, update_width=False)
                        changed = True
            else:
                table.add_row(*(cells.get(col, Cell("")) for col in shown), key=key)
                changed = True
        if changed:
            self._sort()
        if cursor_key is not None and cursor_key in table.rows:
            index = table.get_row_index(cursor_key)
            if index != table.cursor_row:
                table.move_cursor(row=index, scroll=False)

    def _sort(self) -> None:
        if self.sort_column and self.sort_column in [c for c, _ in self.columns()]:
            self.table.sort(self.sort_column, key=lambda cell: cell.sort_key(),
                            reverse=self.sort_reverse)

    def cursor_key(self) -> str | None:
        """The row key under the cursor, if any."""
        table = self.table
        if table.row_count == 0:
            return None
        try:
            return table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        except Exception:  # noqa: BLE001 - cursor outside an emptied table
            return None

    def selected_item(self) -> Any:
        """The item under the cursor (a PodInfo, DbConnection, CertStatus...)."""
        key = self.cursor_key()
        return self.items.get(key) if key is not None else None

    # -- sort and filter ---------------------------------------------------------------------

    def sort_next(self) -> str:
        """Sort by the next column (ascending first); returns the column's label."""
        cols = self.columns()
        keys = [c for c, _ in cols]
        nxt = keys[(keys.index(self.sort_column) + 1) % len(keys)] if self.sort_column in keys else keys[0]
        self.sort_column, self.sort_reverse = nxt, False
        self._resort()
        return dict(cols)[nxt]

    def sort_reverse_order(self) -> None:
        """Flip the sort direction."""
        self.sort_reverse = not self.sort_reverse
        self._resort()

    def _resort(self) -> None:
        key = self.cursor_key()
        self._sort()
        self._mark_sorted_header()
        if key is not None:
            self.table.move_cursor(row=self.table.get_row_index(key))

    def _mark_sorted_header(self) -> None:
        for key, label in self.columns():
            column = self.table.columns.get(key)  # type: ignore[call-overload]
            if column is not None:
                arrow = (" ▼" if self.sort_reverse else " ▲") if key == self.sort_column else ""
                column.label = Text(label + arrow)
        self.table.refresh()

    def on_mount(self) -> None:
        super().on_mount()
        self._mark_sorted_header()

    def open_filter(self) -> None:
        """Show the filter input and focus it."""
        box = self.query_one(".filter", Input)
        box.add_class("-open")
        box.value = self.filter_text
        box.focus()

    @on(Input.Changed, ".filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self.filter_text = event.value
        self.apply_rows()

    @on(Input.Submitted, ".filter")
    def _filter_submitted(self, event: Input.Submitted) -> None:
        event.input.set_class(bool(self.filter_text), "-open")
        self.table.focus()

    def close_filter(self) -> None:
        """Clear the filter, hide the input and give focus back to the table."""
        box = self.query_one(".filter", Input)
        box.value = ""
        self.filter_text = ""
        box.remove_class("-open")
        self.apply_rows()
        self.table.focus()

    def key_escape(self) -> None:
        if self.filter_text or self.query_one(".filter", Input).has_class("-open"):
            self.close_filter()

    @on(DataTable.RowSelected)
    def _row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        if event.row_key.value is not None:
            self.post_message(OpenDetail(self.source, event.row_key.value))
