"""Database pane: connection usage bar, counts by state, idle-over-threshold, a trend, the
connections table (longest running first, keyed by backend pid) and the top statements.

The source reads full rows for a window only (the counts cover every backend): scrolled near
the end of its rows, the table asks for the next page (MoreRows), so it is complete when
scrolled through; back at the top it lets the source return to its window."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.widgets import DataTable, Static

from cockpit.durations import duration
from cockpit.models import DbActivity, DbConnection
from widgets.messages import MoreRows
from widgets.paint import paint
from widgets.panes.common import Cell, bar, short, trend_line, utc_time
from widgets.panes.table import Row, TablePane

PAGE = 100  # rows asked for at a time when the table is scrolled past those it has
PAGE_MARGIN = 10
SHORT_STATE = {
    "idle in transaction": "idle in tx",
    "idle in transaction (aborted)": "idle tx abort",
    "fastpath function call": "fastpath",
}
STATE_WIDTH = 13  # "idle tx abort"


def _running_for(c: DbConnection) -> float | None:
    return c.idle_seconds if c.state.startswith("idle") else c.query_seconds


class DatabasePane(TablePane[DbActivity]):
    """PostgreSQL client backends and what they are doing."""

    source = "database"
    title = "Database"
    number = 2
    # What is running comes right after who and for how long: at 80 columns the query must show
    # without scrolling sideways; the rest is one `enter` away in the detail view.
    COLUMNS = (
        ("pid", "PID"),
        ("state", "State"),
        ("for", "For"),
        ("query", "Query"),
        ("blocked", "Blocked by"),
        ("wait", "Wait"),
        ("user", "User"),
        ("app", "Application"),
    )
    MONITOR_COLUMNS = ("pid", "state", "for", "query")
    DEFAULT_SORT = ("for", True)
    DROP_FIRST = ("app", "user", "wait", "blocked")
    FLEX = "query"
    FLEX_MIN = 28  # what is running matters more than who is blocking and waiting
    WIDTHS = {"state": STATE_WIDTH}

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._db: DbActivity | None = None
        self._asked = 0  # rows the table had when it last asked for more

    def compose_body(self) -> ComposeResult:
        yield Static(classes="usage")
        yield from self.compose_table()
        yield Static(classes="statements")

    def summarize(self, db: DbActivity, trends: dict[str, list[float]]) -> str:
        text = f"{db.total + 1}/{db.max_connections} conns {db.usage_percent:.0f}%"
        if db.visibility_note:  # what the rest of the line cannot see: say it before it
            text += f" · {db.visibility_note}"
        active = db.by_state.get("active", 0)
        text += (
            f" · {active} active · {db.idle_over_count} idle>{duration(db.idle_threshold_seconds)}"
        )
        if db.lock_waits:
            text += f" · {len(db.lock_waits)} waiting on locks"
        return text

    def render_body(self, db: DbActivity, now: datetime, trends: dict[str, list[float]]) -> None:
        states = ", ".join(f"{n} {s}" for s, n in sorted(db.by_state.items(), key=lambda i: -i[1]))
        conns = trends.get("db.connections") or []
        slowest = db.longest_queries[0] if db.longest_queries else None
        lines = [
            f"{bar(db.usage_percent / 100, 24)} {db.total + 1}/{db.max_connections} "
            f"({db.usage_percent:.0f}%, {db.reserved_connections} reserved)",
            f"by state: {states or 'no client backends'}",
            f"idle > {duration(db.idle_threshold_seconds)}: {db.idle_over_count}"
            + (
                f" · longest query {duration(slowest.query_seconds)} (pid {slowest.pid})"
                if slowest
                else ""
            ),
        ]
        if conns:
            lines.append(f"connections 15m {trend_line(conns, 40)}")
        if not db.complete:
            lines.append(f"rows {len(db.connections)} of {db.total}: more come as you scroll")
        self._db = db
        paint(self.query_one(".usage", Static), "\n".join(lines))
        top = db.top_by_mean[:3]
        if top:
            stmt = ["top statements by mean:"] + [
                f"  {s.mean_ms:9.1f} ms × {s.calls:<7} {short(s.query, 60)}" for s in top
            ]
        else:
            stmt = [f"top statements: {db.statements_note or 'none recorded'}"]
        paint(self.query_one(".statements", Static), "\n".join(stmt))
        super().render_body(db, now, trends)

    def rows(self, db: DbActivity, now: datetime) -> Iterable[Row]:
        for c in db.connections:
            running = _running_for(c)
            wait = f"{c.wait_event_type}:{c.wait_event}" if c.wait_event else ""
            idle_long = (
                c.state.startswith("idle") and (c.idle_seconds or 0) > db.idle_threshold_seconds
            )
            yield (
                str(c.pid),
                c,
                {
                    "pid": Cell(str(c.pid), c.pid),
                    "user": Cell(c.user),
                    "state": Cell(
                        SHORT_STATE.get(c.state, c.state), c.state, "yellow" if idle_long else ""
                    ),
                    # running queries before idle sessions, each longest first: the query that
                    # hurts is on the first row, not under twenty long-idle connections
                    "for": Cell(
                        duration(running),
                        None if running is None else (not c.state.startswith("idle"), running),
                    ),
                    "wait": Cell(wait),
                    "blocked": Cell(
                        ",".join(map(str, c.blocked_by)),
                        len(c.blocked_by),
                        "bold red" if c.blocked_by else "",
                    ),
                    "app": Cell(c.application),
                    "query": Cell(short(c.query, 48)),
                },
            )

    @on(DataTable.RowHighlighted)
    def _more_rows(self, event: DataTable.RowHighlighted) -> None:
        # The source reads full rows for a window only: near the end of the rows there are,
        # ask for the next page; back near the top, for the window again.
        db = self._db
        if db is None:
            return
        at = self._start + self.table.cursor_row
        have = len(db.connections)
        if not db.complete and at >= have - PAGE_MARGIN and have != self._asked:
            self._asked = have
            self.post_message(MoreRows(have + PAGE))
        elif at < PAGE_MARGIN and self._asked:
            self._asked = 0
            self.post_message(MoreRows(0))

    def detail(self, key: str) -> tuple[str, str] | None:
        c: DbConnection | None = self.items.get(key)
        if c is None:
            return None
        lines = [
            f"PID {c.pid}   user {c.user}   database {c.database}",
            f"application {c.application or '-'}   client {c.client_addr or 'unix socket'}",
            f"state {c.state} for {duration(_running_for(c))}",
            f"backend start {utc_time(c.backend_start)}   query start {utc_time(c.query_start)}",
            (
                "wait event: "
                f"{(c.wait_event_type or '?') + ' / ' + c.wait_event if c.wait_event else 'none'}"
            ),
            f"blocked by pids: {', '.join(map(str, c.blocked_by)) if c.blocked_by else 'none'}",
            "",
            "Query:",
            c.query or "(none)",
        ]
        return f"Connection {c.pid}", "\n".join(lines)

    def identity(self, key: str) -> str | None:
        # A pid is reused by the next backend once its holder ends: the start time tells them apart.
        c: DbConnection | None = self.items.get(key)
        if c is None:
            return None
        return f"pid {c.pid} started {utc_time(c.backend_start)}"

    def selection(self) -> dict | None:
        c: DbConnection | None = self.selected_item()
        if c is None:
            return None
        return {
            "pane": "database",
            "source": self.source,
            "key": str(c.pid),
            "identity": self.identity(str(c.pid)),
            "pid": c.pid,
            "user": c.user,
            "state": c.state,
            "query": c.query,
        }
