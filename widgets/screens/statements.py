"""The statements view (key `t`): pg_stat_statements' slowest and costliest statements.

Per statement: the all-time mean, the mean of the last interval (from the deltas between the
source's samples: a statement that just became slow shows here first), its trend since the
cockpit started, the total time, calls, rows and the share of the database's total time.
`o` changes the order (mean, last interval, total), `e` or enter explains the selected
statement (its generic plan: the text carries $n parameters), `E` explain-analyzes it when its
text has no parameter. Read from the database source's snapshots; nothing here queries the
server but the explain screen.
"""

from __future__ import annotations

from collections.abc import Callable

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Static

from cockpit.models import DbActivity, StatementStat
from widgets.footer import StableFooter
from widgets.panes.common import short, spark

ORDERS = (("mean", "mean"), ("interval", "last interval"), ("total", "total time"))


def statements_of(db: DbActivity) -> list[StatementStat]:
    """Both top lists, each statement once."""
    seen: dict[object, StatementStat] = {}
    for s in (*db.top_by_mean, *db.top_by_total):
        seen.setdefault(s.queryid if s.queryid is not None else s.query, s)
    return list(seen.values())


def order_key(order: str) -> Callable[[StatementStat], float]:
    """Sort key (descending) for one of ORDERS."""
    if order == "interval":
        return lambda s: s.interval_mean_ms if s.interval_mean_ms is not None else -1.0
    if order == "total":
        return lambda s: s.total_ms
    return lambda s: s.mean_ms


def _ms(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value / 1000:,.1f} s" if value >= 10_000 else f"{value:,.1f}"


class StatementsScreen(ModalScreen[None]):
    """The top statements, refreshed from the database source."""

    DEFAULT_CSS = """
    StatementsScreen { align: center middle; }
    StatementsScreen > Vertical { width: 98%; height: 94%; border: thick $accent; \
background: $surface; }
    StatementsScreen DataTable { height: 1fr; }
    """
    BINDINGS = [
        Binding("escape,q,t", "close", "Close"),
        Binding("o", "order", "Order"),
        Binding("e,enter", "explain", "Explain"),
        Binding("E", "analyze", "Explain analyze"),
    ]
    COLUMNS = ("Mean ms", "Last ms", "Trend", "Total", "Calls", "Rows", "Share", "Query")

    def __init__(
        self,
        latest: Callable[[], DbActivity | None],
        open_explain: Callable[[str], None],
        analyze: Callable[[str], None] | None,
    ) -> None:
        super().__init__(id="statements")
        self.latest = latest
        self.open_explain = open_explain
        self.analyze = analyze  # None in read-only mode
        self.order = "mean"
        self.rows: dict[str, StatementStat] = {}
        self._version: object = None
        # Until the operator moves the cursor, it marks the top row (the worst statement) after
        # every re-sort; after that it follows its statement (issue 14: the row you see).
        self.chosen = False
        self._placed: str | None = None  # the row key the last redraw put the cursor on

    def compose(self) -> ComposeResult:
        with Vertical() as box:
            box.border_title = "Statements"
            box.border_subtitle = "o order · e explain · escape closes"
            yield Static(id="statements-status")
            table: DataTable[str | Text] = DataTable(cursor_type="row", zebra_stripes=True)
            for label in self.COLUMNS:
                table.add_column(label, key=label)
            yield table
        yield StableFooter(fit=False)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return self.analyze is not None if action == "analyze" else True

    def on_mount(self) -> None:
        self.redraw()
        self.set_interval(1.0, self.redraw)

    def redraw(self, force: bool = False) -> None:
        """Rebuild the table when a new sample arrived (the cursor stays on its statement)."""
        db = self.latest()
        status = self.query_one("#statements-status", Static)
        if db is None:
            status.update("no database snapshot yet")
            return
        version = (db.statements_sampled_at, self.order)
        if version == self._version and not force:
            return
        self._version = version
        stats = sorted(statements_of(db), key=order_key(self.order), reverse=True)
        when = (
            db.statements_sampled_at.strftime("%H:%M:%S UTC")
            if db.statements_sampled_at
            else "never"
        )
        note = f" · {db.statements_note}" if db.statements_note else ""
        status.update(
            Text(
                f"{len(stats)} statements · sampled {when} · ordered by "
                f"{dict(ORDERS)[self.order]}{note}"
            )
        )
        table = self.query_one(DataTable)
        keep = (
            table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
            if table.row_count
            else None
        )
        table.clear()
        self.rows = {}
        for s in stats:
            key = str(s.queryid if s.queryid is not None else hash(s.query))
            self.rows[key] = s
            table.add_row(
                _ms(s.mean_ms),
                _ms(s.interval_mean_ms),
                spark(list(s.mean_trend), 10),
                f"{s.total_ms / 1000:,.1f} s",
                f"{s.calls:,}",
                f"{s.rows:,}",
                f"{100 * s.share_of_total:.0f}%" if s.share_of_total is not None else "-",
                Text(short(s.query, 200)),
                key=key,
            )
        if self.chosen and keep in self.rows:
            table.move_cursor(row=list(self.rows).index(keep))
            self._placed = str(keep)
        else:
            self._placed = next(iter(self.rows), None)

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        """The operator moved to another row than the redraw placed the cursor on: it is chosen."""
        if event.row_key.value is not None and event.row_key.value != self._placed:
            self.chosen = True

    def selected(self) -> StatementStat | None:
        """The statement under the cursor."""
        table = self.query_one(DataTable)
        if not table.row_count:
            return None
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        return self.rows.get(str(key))

    def action_order(self) -> None:
        names = [o for o, _ in ORDERS]
        self.order = names[(names.index(self.order) + 1) % len(names)]
        self.redraw(force=True)

    def action_explain(self) -> None:
        stat = self.selected()
        if stat is None:
            self.notify("no statement selected", severity="warning")
            return
        self.open_explain(stat.query)

    def action_analyze(self) -> None:
        stat = self.selected()
        if stat is not None and self.analyze is not None:
            self.analyze(stat.query)

    def action_close(self) -> None:
        self.dismiss(None)
