"""A pane built around a DataTable that updates by diff, filters by substring and sorts by column.

Rows carry stable keys (pod uid, backend pid, host:port). Every row of the snapshot is kept in
Python; filtering and sorting happen there, and the DataTable holds only a window of the sorted
rows around the cursor (see `widgets.panes.window`). A refresh removes vanished rows, adds new
ones and updates only the cells that changed since the last refresh (`update_width=False`),
never `clear()`, so the cursor and the scroll position survive; the cursor follows its row key.
"""

from __future__ import annotations

import operator
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.widgets import DataTable, Input
from textual.widgets.data_table import ColumnKey

from widgets.messages import OpenDetail
from widgets.panes.base import Pane, S
from widgets.panes.columns import MIN_FLEX, Fit, fit_columns
from widgets.panes.common import Cell
from widgets.panes.window import WINDOW, Row, WindowTable, filter_rows, sort_rows, window_start

__all__ = ["Row", "TablePane"]

_BLANK = Cell("")


class TablePane(Pane[S]):
    """A pane whose body ends in a sortable, filterable table of items."""

    #: (column key, label) in display order; subclasses may choose fewer in monitor mode
    COLUMNS: tuple[tuple[str, str], ...] = ()
    MONITOR_COLUMNS: tuple[str, ...] = ()
    DEFAULT_SORT: tuple[str, bool] = ("", False)  # (column key, reverse)
    WINDOW: int = WINDOW  # rows in the DataTable at most
    #: columns left out first as the pane narrows (never the name, status or clock)
    DROP_FIRST: tuple[str, ...] = ()
    #: the column that takes what the others leave, cut with an ellipsis (a query, an issuer)
    FLEX: str | None = None
    FLEX_MIN: int = MIN_FLEX  # the flexible column shrinks to this before others are dropped
    #: fixed widths (a status column as wide as its longest word: no `expir…`)
    WIDTHS: dict[str, int] = {}

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.filter_text = ""
        self.sort_column, self.sort_reverse = self.DEFAULT_SORT
        self.items: dict[str, Any] = {}  # every row of the last snapshot, filtered or not
        self._rows: list[Row] = []
        self._view: list[str] = []  # keys of the filtered, sorted rows
        self._by_key: dict[str, dict[str, Cell]] = {}  # every filtered row's cells by column
        self._sorted: tuple[Any, list[Row]] = ((), [])  # (filter/order, rows) of the last sort
        self._sorted_result: list[Row] = []
        self._shown: dict[str, tuple[Cell, ...]] = {}  # the rows in the DataTable, as put there
        self._shown_from: dict[str, dict[str, Cell]] = {}  # the cells dicts they came from
        self._changed: list[tuple[str, str, Cell]] = []  # cells to write (set_cell)
        self._fit = Fit(frozenset())  # the columns dropped at this width, the flex column's width
        self._widths: dict[str, int] = {}  # each column's width as last added (grows only)
        self._start = 0  # index in _view of the DataTable's first row
        self._cursor = 0  # index in _view of the cursor's row (kept when its row vanishes)
        # The cursor's row vanished (or was filtered away) and the cursor now rests on a
        # neighbour the operator did not choose: nothing is selected until the operator moves.
        self.selection_lost = False
        # Until the operator moves the cursor in this table, it marks the top row, whatever that
        # row is after a refresh: the first row is what an untouched table selects. From the
        # first move on, the cursor follows its row's key.
        self.cursor_chosen = False

    def mode_columns(self) -> list[tuple[str, str]]:
        """The columns of this mode (monitor mode may choose fewer), at any width."""
        if self.monitor and self.MONITOR_COLUMNS:
            return [c for c in self.COLUMNS if c[0] in self.MONITOR_COLUMNS]
        return list(self.COLUMNS)

    def columns(self) -> list[tuple[str, str]]:
        """The columns shown now: this mode's, less those dropped at this width."""
        return [c for c in self.mode_columns() if c[0] not in self._fit.dropped]

    def _add_columns(self, table: DataTable[Any]) -> None:
        for key, label in self.columns():
            # a column is as wide as its widest cell so far: a cell updated in place (no width
            # update) is never cut into something ambiguous (`expir…`)
            # (widths count two cells for the sort arrow: a label set later does not widen it)
            width = (
                self._fit.flex_width
                if key == self.FLEX
                else self.WIDTHS.get(key) or self._widths.get(key)
            )
            table.add_column(Text(label), key=key, width=width)

    def compose_table(self) -> ComposeResult:
        """The table and its (hidden) filter input; call from compose_body."""
        table = WindowTable(cursor_type="row", zebra_stripes=False, classes="focus-target")
        self._add_columns(table)
        yield table
        yield Input(placeholder="filter rows (enter keeps it, escape clears)", classes="filter")

    @property
    def table(self) -> DataTable[Any]:
        """The pane's DataTable."""
        return self.query_one(DataTable)

    def rows(self, snapshot: S, now: datetime, /) -> Iterable[Row]:
        """Every row of a snapshot, unfiltered."""
        return ()

    def render_body(self, snapshot: S, now: datetime, trends: dict[str, list[float]], /) -> None:
        self._rows = list(self.rows(snapshot, now))
        self.items = {key: item for key, item, _ in self._rows}
        self.apply_rows()

    @property
    def row_total(self) -> int:
        """How many rows pass the filter (the DataTable may hold only a window of them)."""
        return len(self._view)

    def apply_rows(self, *, scroll: bool = False) -> None:
        """Filter and sort every row, then bring the DataTable's window to them by diff, with
        the cursor on the same row key (or at the same place when that row is gone)."""
        cursor_key = self.cursor_key()
        rows = self._filtered_sorted()
        self._view = [key for key, _, _ in rows]
        self._by_key = {key: cells for key, _, cells in rows}
        if not self.cursor_chosen:
            self._cursor = 0  # an untouched table selects its top row
        elif cursor_key is not None and cursor_key in self._by_key:
            self._cursor = self._view.index(cursor_key)
        elif cursor_key is not None:
            self._set_lost(True)  # its row is gone: the nearest row is not a choice
        self._cursor = min(self._cursor, max(len(self._view) - 1, 0))
        if not self._refit():
            self._show_window(scroll)

    def _natural_widths(self) -> dict[str, int]:
        """Each column's width for its label (with room for the arrow) and the window's cells."""
        keys = self._view[self._start : self._start + self.WINDOW]
        widths: dict[str, int] = {}
        for key, label in self.mode_columns():
            fixed = self.WIDTHS.get(key)
            if fixed is not None:
                widths[key] = fixed
                continue
            cells = (self._by_key[k].get(key) for k in keys)
            widths[key] = max([len(label) + 2, *(len(c.text) for c in cells if c is not None)])
        return widths

    def _refit(self) -> bool:
        """Choose the columns for the table's width; rebuild the table when the choice changed
        (True: the rows are shown already)."""
        if not self.is_mounted:
            return False
        width = self.table.size.width
        if width <= 0:  # hidden (a collapsed pane in the compact layout): keep the choice
            return False
        long = len(self._view) >= self.table.size.height - 1  # rows under the header
        room = width - (self.table.styles.scrollbar_size_vertical if long else 0)
        natural = self._natural_widths()
        fit = fit_columns(natural, room, self.DROP_FIRST, self.FLEX, self.FLEX_MIN)
        grown = any(
            w > self._widths.get(k, 0)
            for k, w in natural.items()
            if k != self.FLEX and k not in fit.dropped
        )
        if fit == self._fit and not grown:
            return False
        self._fit = fit
        self._widths = {k: max(w, self._widths.get(k, 0)) for k, w in natural.items()}
        table = self.table
        table.clear(columns=True)
        self._add_columns(table)
        self._shown, self._shown_from = {}, {}
        self._show_window(scroll=False)
        self._mark_sorted_header()
        return True

    def table_resized(self) -> None:
        """The DataTable's width changed (a layout switch, a terminal resize): refit."""
        if self._view:
            self._refit()

    def _set_lost(self, lost: bool) -> None:
        self.selection_lost = lost
        self.table.set_class(lost, "-lost")

    def operator_moved(self) -> None:
        """The operator moved the cursor: the row under it is a choice (again)."""
        self.cursor_chosen = True
        if self.selection_lost:
            self._set_lost(False)

    def _filtered_sorted(self) -> list[Row]:
        """The rows filtered and sorted; the last result again when the same row objects come
        with the same filter and order (panes reuse an unchanged item's row object)."""
        inputs = (self.filter_text, self.sort_column, self.sort_reverse)
        (last_inputs, last_rows), result = self._sorted, self._sorted_result
        rows = self._rows
        if (
            inputs == last_inputs
            and len(rows) == len(last_rows)
            and all(map(operator.is_, rows, last_rows))
        ):
            return result
        result = sort_rows(filter_rows(rows, self.filter_text), self.sort_column, self.sort_reverse)
        self._sorted, self._sorted_result = (inputs, rows), result
        return result

    def _cells(self, key: str) -> tuple[Cell, ...]:
        """A row's cells in the shown columns' order (built for the window's rows only)."""
        cells = self._by_key[key]
        return tuple(cells.get(c, _BLANK) for c, _ in self.columns())

    def _show_window(self, scroll: bool) -> None:
        table = self.table
        old_start = self._start
        size = self.WINDOW
        self._start = window_start(self._cursor, self._start, len(self._view), size, size // 4)
        wanted = self._view[self._start : self._start + size]
        keep = set(wanted)
        shown = [c for c, _ in self.columns()]
        gone = [k for k in self._shown if k not in keep]
        if len(gone) > size // 4:  # remove_row costs O(rows) each: start over instead
            self._rebuild(wanted, scroll)
            return
        for key in gone:
            table.remove_row(key)
            del self._shown[key]
        for key in wanted:
            old = self._shown.get(key)
            if old is not None and self._shown_from.get(key) is self._by_key[key]:
                continue  # the same row object as last time: nothing in it changed
            cells = self._cells(key)
            if old is None:
                table.add_row(*cells, key=key)
            elif old is not cells:
                for column, before, after in zip(shown, old, cells, strict=True):
                    if before is not after and before != after:
                        self.set_cell(key, column, after)
            self._shown[key] = cells
        self._flush_cells()
        self._shown_from = {key: self._by_key[key] for key in wanted}
        if [row.key.value for row in table.ordered_rows] != wanted:
            self._reorder(wanted)
        if wanted:
            row = self._cursor - self._start
            if self._start != old_start and not scroll:
                # the window moved under a still cursor row: keep that row where it was on screen
                table.scroll_to(
                    y=max(table.scroll_y + old_start - self._start, 0),
                    animate=False,
                    immediate=True,
                )
            if row != table.cursor_row or scroll:
                table.move_cursor(row=row, scroll=scroll)

    def _rebuild(self, wanted: list[str], scroll: bool) -> None:
        """Refill the DataTable with `wanted` (a jump of the window: a re-sort, top/bottom)."""
        table = self.table
        on_screen = table.cursor_row - round(table.scroll_y)  # the cursor's line on screen
        table.clear()
        self._shown = {key: self._cells(key) for key in wanted}
        self._shown_from = {key: self._by_key[key] for key in wanted}
        for key in wanted:
            table.add_row(*self._shown[key], key=key)
        if not wanted:
            return
        row = self._cursor - self._start
        table.move_cursor(row=row, scroll=scroll)
        if not scroll:  # keep the cursor's row on the same screen line, once sizes are known
            table.call_after_refresh(
                table.scroll_to, y=max(row - on_screen, 0), animate=False, immediate=True
            )

    def _reorder(self, wanted: list[str]) -> None:
        """Put the DataTable's rows in the order of `wanted` (its sort takes a key of the row's
        cells only: each row is found by the identity of its first cell object)."""
        table = self.table
        first = {id(table.get_row(key)[0]): i for i, key in enumerate(wanted)}
        if len(first) == len(wanted):
            table.sort(key=lambda values: first[id(values[0])])
            return
        for key in wanted:  # a cell object shared by rows: re-add them in order instead
            table.remove_row(key)
            table.add_row(*self._shown[key], key=key)

    def set_cell(self, key: str, column: str, value: Cell) -> None:
        """One changed cell for the DataTable (diff first); written with the others of the
        same refresh, repainting only their rows."""
        self._changed.append((key, column, value))

    def _flush_cells(self) -> None:
        changed, self._changed = self._changed, []
        if not changed:
            return
        table = self.table
        if isinstance(table, WindowTable):
            table.set_cells_quiet(changed)
        else:
            for key, column, value in changed:
                table.update_cell(key, column, value, update_width=False)

    def goto_row(self, index: int) -> bool:
        """Put the cursor on row `index` of all rows (negative: from the end); False if empty."""
        if not self._view:
            return False
        self._cursor = index % len(self._view)
        self._show_window(scroll=True)
        self.operator_moved()
        return True

    @on(DataTable.RowHighlighted)
    def _row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        # The cursor moved inside the window: follow it, and move the window near its ends.
        key = self.cursor_key()
        if (
            key is None
            or key not in self._by_key
            or self._start + self.table.cursor_row >= len(self._view)
        ):
            return
        self._cursor = self._start + self.table.cursor_row
        size = self.WINDOW
        if window_start(self._cursor, self._start, len(self._view), size, size // 4) != self._start:
            self._show_window(scroll=False)

    def cursor_key(self) -> str | None:
        """The row key under the cursor, if any."""
        table = self.table
        if table.row_count == 0:
            return None
        try:
            return table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        except Exception:  # cursor outside an emptied table
            return None

    def selected_key(self) -> str | None:
        """The row key the operator selected: None when the table is empty, or when the
        cursor's row vanished and the operator has not moved since (see `selection_lost`)."""
        return None if self.selection_lost else self.cursor_key()

    def selected_item(self) -> Any:
        """The item under the cursor (a PodInfo, DbConnection, CertStatus...), if selected."""
        key = self.selected_key()
        return self.items.get(key) if key is not None else None

    def identity(self, key: str) -> str | None:
        """What makes the row `key` the same thing over time (None: the row is gone). A row
        key alone (pod uid, host:port) is an identity; panes whose keys are reused (a backend
        pid) add what tells two holders apart."""
        return key if key in self.items else None

    # -- sort and filter ---------------------------------------------------------------------

    def sort_next(self) -> str:
        """Sort by the next column (ascending first); returns the column's label."""
        cols = self.columns()
        keys = [c for c, _ in cols]
        nxt = (
            keys[(keys.index(self.sort_column) + 1) % len(keys)]
            if self.sort_column in keys
            else keys[0]
        )
        self.sort_column, self.sort_reverse = nxt, False
        self._resort()
        return dict(cols)[nxt]

    def sort_reverse_order(self) -> None:
        """Flip the sort direction."""
        self.sort_reverse = not self.sort_reverse
        self._resort()

    def _resort(self) -> None:
        self.apply_rows(scroll=True)
        self._mark_sorted_header()

    def _mark_sorted_header(self) -> None:
        for key, label in self.columns():
            column = self.table.columns.get(ColumnKey(key))
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
        self.operator_moved()  # typing a filter is choosing: the row it leaves is selected

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
        if self.selection_lost:
            self.notify(
                f"{self.title}: nothing selected (the row under the cursor went away); "
                "move the cursor to choose a row",
                severity="warning",
                timeout=4,
            )
            return
        if event.row_key.value is not None:
            self.operator_moved()  # enter on a row chooses it: the cursor follows it from now on
            self.post_message(OpenDetail(self.source, event.row_key.value))
