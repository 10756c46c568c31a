"""PostgreSQL activity: connections, idle sessions, long queries, lock waits, top statements.

One read-only session (application_name `predictiq-cockpit`, a short statement_timeout) is kept
open between collections and replaced when the server drops it (restart, failover, network).
Each collection costs one statement (see queries.activity_summary_sql): the server facts,
every count over all client backends computed in SQL, and full rows only for a window of
sessions (the table's first rows, those over a threshold, the lock waiters). Everything else
runs on its own slower cadence: pg_stat_statements ([database] statements_seconds), the lock
sample with pg_blocking_pids() ([database] locks_seconds, inside that same statement) and the
database size, because pg_database_size walks every file of the database.
"""

from __future__ import annotations

import asyncio
import dataclasses
import ipaddress
import math
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any, LiteralString, cast

import psycopg
from psycopg import errors as pg_errors
from psycopg.conninfo import conninfo_to_dict
from psycopg.rows import DictRow, dict_row

from cockpit.config import DatabaseConfig, ThresholdsConfig
from cockpit.models import DbActivity, DbConnection, SourceFailure, StatementStat, utcnow
from cockpit.sources.base import describe_error, error_detail, guarded
from cockpit.sources.fields import (
    Json,
    as_list,
    as_text,
    boolean,
    get,
    integer,
    integers,
    is_array,
    number,
    optional_datetime,
    optional_integer,
    optional_number,
    optional_text,
    text,
)
from cockpit.sources.postgres import queries as pg_queries
from cockpit.sources.postgres.locks import LockSampler, epoch_datetime
from cockpit.sources.postgres.statements import StatementTrends

APPLICATION_NAME = "predictiq-cockpit"
HIDDEN_STATE = pg_queries.HIDDEN_STATE
NOT_INSTALLED = "pg_stat_statements not installed"
LONGEST_QUERIES = 20
# after pg_stat_statements hit the statement timeout or is unusable, leave it alone this long
STATEMENTS_BACKOFF_SECONDS = 300.0
# of the timeout, for one collection: answer before the scheduler's own limit cancels us (a
# cancel reaching psycopg mid-query starts its polite cancellation, which waits on the same hung
# server for up to ten seconds)
BUDGET_SHARE = 0.9


class PostgresSource:
    """Collects a DbActivity per call; never raises, never waits longer than `timeout`."""

    name = "database"

    def __init__(
        self,
        cfg: DatabaseConfig,
        thresholds: ThresholdsConfig,
        *,
        timeout: float = 5.0,
        top_statements: int = 10,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.cfg = cfg
        self.thresholds = thresholds
        self.timeout = timeout
        self.top_statements = top_statements
        self.clock = clock  # the cadences' clock (a bench advances it by the refresh interval)
        self._conn: psycopg.AsyncConnection[DictRow] | None = None
        self._size: int | None = None
        self._size_measured_at: float | None = None
        self._statements_retry_at = 0.0
        self._statements_note: str | None = None
        self._statements: tuple[tuple[StatementStat, ...], tuple[StatementStat, ...]] = ((), ())
        self._statements_at: tuple[float, datetime] | None = None
        self._trends = StatementTrends()
        self.locks = LockSampler(cfg.locks_seconds, connection_from_row)
        self._rows_wanted = cfg.rows_window

    def want_rows(self, count: int) -> None:
        """Read at least `count` full rows from the next collection on (a table scrolled past
        the rows it has); below the configured window, back to the window."""
        self._rows_wanted = max(int(count), self.cfg.rows_window)

    def sample_locks_now(self) -> None:
        """Take a lock sample at the next collection (the blocking tree was opened)."""
        self.locks.sample_next_time()

    def sample_statements_now(self) -> None:
        """Read pg_stat_statements at the next collection (the statements view was opened)."""
        self._statements_at = None

    @property
    def backend_pid(self) -> int | None:
        """The cockpit's own backend pid while connected (it is excluded from every figure)."""
        conn = self._conn
        return None if conn is None or conn.closed else conn.info.backend_pid

    async def collect(self) -> DbActivity | SourceFailure:
        """Connect if needed, then read the server's activity under one overall timeout."""
        started = time.monotonic()
        budget = self.timeout * BUDGET_SHARE
        conn = self._conn
        if conn is None or conn.closed or conn.broken:
            await self._drop()
            connected = await guarded(self.name, "connect", self._connect(), budget)
            if isinstance(connected, SourceFailure):
                return self._timeout_named(connected)
            conn = self._conn = connected
        # a slow connect must not eat the whole budget of the queries
        remaining = round(max(budget - (time.monotonic() - started), budget / 4), 2)
        result = await self._read_within(conn, remaining)
        if isinstance(result, SourceFailure) and (
            conn.broken or conn.closed or result.reason.startswith("timed out")
        ):
            # cancelled mid-query or dropped by the server: the session is unusable
            await self._drop()
        return result

    async def _read_within(
        self, conn: psycopg.AsyncConnection[DictRow], seconds: float
    ) -> DbActivity | SourceFailure:
        """`_read` under `seconds`. A hung or very slow server gets its session cut rather than a
        polite cancel: psycopg's cancellation asks the same server and waits up to 10 s for it."""
        task = asyncio.ensure_future(self._read(conn))
        try:
            done, _ = await asyncio.wait({task}, timeout=seconds)
        except asyncio.CancelledError:
            await _abandon(conn, task)
            raise
        if not done:
            await _abandon(conn, task)
            return SourceFailure(
                self.name,
                "query",
                f"timed out after {self.timeout:g}s",
                detail=f"no answer within {seconds:g}s of the collection's budget; "
                "the session was cut and is opened again next time",
            )
        try:
            return task.result()
        except Exception as exc:  # a source never raises into its caller
            return SourceFailure(self.name, "query", describe_error(exc), detail=error_detail(exc))

    def _timeout_named(self, failure: SourceFailure) -> SourceFailure:
        """A timeout named by the configured timeout (the operator's number), not the share of
        it the source allowed itself."""
        if not failure.reason.startswith("timed out"):
            return failure
        return SourceFailure(
            failure.source,
            failure.what,
            f"timed out after {self.timeout:g}s",
            at=failure.at,
            detail=failure.detail,
        )

    async def aclose(self) -> None:
        """Close the session; safe to call twice."""
        await self._drop()

    async def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None and not conn.closed:
            try:
                await conn.close()
            except Exception:  # closing a dead session may fail; it is gone anyway
                pass

    async def _connect(self) -> psycopg.AsyncConnection[DictRow]:
        existing = conninfo_to_dict(self.cfg.url).get("options") or ""
        options = (
            f"{existing} -c statement_timeout={int(self.cfg.statement_timeout_ms)}"
            " -c default_transaction_read_only=on"
        ).strip()
        return await psycopg.AsyncConnection[DictRow].connect(
            self.cfg.url,
            application_name=APPLICATION_NAME,
            options=options,
            # libpq takes whole seconds and raises anything under 2 to 2
            connect_timeout=max(2, math.ceil(self.cfg.connect_timeout_seconds)),
            autocommit=True,
            row_factory=dict_row,
        )

    async def _read(self, conn: psycopg.AsyncConnection[DictRow]) -> DbActivity:
        version_num = conn.info.server_version
        now = self.clock()
        with_locks = self.locks.due(now)
        sql = pg_queries.activity_summary_sql(
            version_num,
            window=self._rows_wanted,
            slow_seconds=self.thresholds.slow_query_seconds,
            idle_seconds=self.thresholds.idle_connection_seconds,
            with_locks=with_locks,
        )
        summary = await (await conn.execute(_sql(sql))).fetchone()
        if summary is None:
            raise psycopg.InterfaceError("the activity summary query returned no row")
        extension = optional_text(summary, "pg_stat_statements_version")
        if with_locks:
            self.locks.take((_json_row(r) for r in _json_rows(summary, "locks")), now)
        if self._due(self._statements_at, self.cfg.statements_seconds, now):
            self._statements = await self._read_statements(conn, version_num, extension)
            self._statements_at = (now, utcnow())
        await self._measure_size(conn)
        note = self._statements_note if extension else NOT_INSTALLED
        return self._build(summary, note)

    @staticmethod
    def _due(last: tuple[float, datetime] | None, every: float, now: float) -> bool:
        return last is None or now - last[0] >= every

    async def _measure_size(self, conn: psycopg.AsyncConnection[DictRow]) -> None:
        now = self.clock()
        if (
            self._size_measured_at is not None
            and now - self._size_measured_at < self.cfg.size_interval_seconds
        ):
            return
        self._size_measured_at = now
        try:
            row = await (await conn.execute(_sql(pg_queries.database_size_sql()))).fetchone()
        except pg_errors.QueryCanceled:
            return  # statement_timeout on a huge database: keep the last size, retry later
        self._size = optional_integer(row, "size")

    async def _read_statements(
        self,
        conn: psycopg.AsyncConnection[DictRow],
        version_num: int,
        extension_version: str | None,
    ) -> tuple[tuple[StatementStat, ...], tuple[StatementStat, ...]]:
        if extension_version is None:
            return (), ()
        if time.monotonic() < self._statements_retry_at:
            return self._statements
        self._statements_note = None
        sql = pg_queries.statements_sql(version_num, extension_version, self.top_statements)
        try:
            rows = await (await conn.execute(_sql(sql))).fetchall()
        except pg_errors.ObjectNotInPrerequisiteState:
            # created in the database but not in shared_preload_libraries: every read errors
            self._back_off(f"{NOT_INSTALLED} (not in shared_preload_libraries)")
            return (), ()
        except pg_errors.QueryCanceled:
            self._back_off("pg_stat_statements skipped: statement timeout")
            return (), ()
        except (
            pg_errors.InsufficientPrivilege,
            pg_errors.UndefinedColumn,
            pg_errors.UndefinedTable,
        ) as exc:
            self._back_off(f"pg_stat_statements unreadable: {exc.sqlstate} {exc}")
            return (), ()
        stats = self._trends.update(
            tuple(statement_from_row(row) for row in rows),
            optional_number(rows[0], "all_total_ms") if rows else None,
        )
        kinds = [text(row, "kind") for row in rows]
        return (
            tuple(st for st, k in zip(stats, kinds, strict=True) if k == "mean"),
            tuple(st for st, k in zip(stats, kinds, strict=True) if k == "total"),
        )

    def _back_off(self, note: str) -> str:
        self._statements_retry_at = time.monotonic() + STATEMENTS_BACKOFF_SECONDS
        self._statements_note = " ".join(note.split())
        return self._statements_note

    def _build(self, summary: Json, note: str | None) -> DbActivity:
        blocked = self.locks.blocked_by()
        rows = [
            connection_from_row({**_json_row(r), "blocked_by": list(blocked.get(_pid(r), ()))})
            for r in _json_rows(summary, "rows")
        ]
        seen = {c.pid for c in rows}
        # sessions of the lock sample outside the window (a root blocker idle for hours)
        rows += [c for c in self.locks.sessions if c.pid not in seen]
        counts = _counts(_json_rows(summary, "counts"))
        top_mean, top_total = self._statements
        snapshot = activity_from_connections(
            summary,
            tuple(rows),
            float(self.thresholds.idle_connection_seconds),
            top_mean,
            top_total,
            note,
            self._size,
        )
        hidden = counts["state"].get(HIDDEN_STATE, 0)
        return dataclasses.replace(
            snapshot,
            total=sum(counts["state"].values()),
            by_state=counts["state"],
            by_user=counts["user"],
            by_application=counts["application"],
            by_client=counts["client"],
            hidden=hidden,
            visibility_note=(f"{hidden} hidden: role lacks pg_read_all_stats" if hidden else None),
            idle_over_threshold_count=counts["idle_over"].get("true", 0),
            lock_sessions=self.locks.sessions,
            locks_sampled_at=self.locks.sampled_at,
            statements_sampled_at=self._statements_at[1] if self._statements_at else None,
        )


def _pid(values: object) -> int:
    items = as_list(values)
    first = items[0] if items else None
    return first if isinstance(first, int) else -1


def _json_rows(summary: Json, key: str) -> list[list[object]]:
    """A JSON array of arrays from the summary row (SQL NULL when empty: [])."""
    value = get(summary, key)
    return [as_list(v) for v in as_list(value) if is_array(v)]


def _counts(groups: Iterable[list[Any]]) -> dict[str, dict[str, int]]:
    """activity_summary_sql's counts ([state, role, application, client, idle over, n] for
    each combination present), summed per dimension. A state the role may not read (another
    role's backend without pg_read_all_stats) is counted as HIDDEN_STATE."""
    out: dict[str, Counter[str]] = {
        k: Counter() for k in ("state", "user", "application", "client", "idle_over")
    }
    for group in groups:
        if len(group) != 6:
            continue
        state, role, application, client, idle_over, n = group
        count = n if isinstance(n, int) else 0
        out["state"][str(state) if state else HIDDEN_STATE] += count
        out["user"][str(role) if role else "unknown"] += count
        out["application"][str(application or "")] += count
        out["client"][str(client) if client else ("local" if state else "hidden")] += count
        out["idle_over"]["true" if idle_over is True else "false"] += count
    return {k: dict(v) for k, v in out.items()}


def _json_row(values: list[Any]) -> dict[str, Any]:
    """A JSON array row (queries.ROW_FIELDS order) as the dict the row helpers read, its times
    (epoch seconds) as datetimes."""
    row: dict[str, Any] = dict(zip(pg_queries.ROW_FIELDS, values, strict=False))
    for key in ("backend_start", "query_start", "state_change"):
        row[key] = epoch_datetime(row.get(key))
    return row


def _sql(statement: str) -> LiteralString:
    """Our statements are built from the constants in `queries` and integers only, never from
    data: psycopg's LiteralString guard cannot follow the f-strings that assemble them."""
    return cast(LiteralString, statement)


def statement_from_row(row: Json, total: str = "total_ms", mean: str = "mean_ms") -> StatementStat:
    """One pg_stat_statements row; `total`/`mean` name its time columns (they differ by version:
    see `queries.statements_columns`). NULLs (another role's statement) read as 0 / ""."""
    return StatementStat(
        queryid=optional_integer(row, "queryid"),
        query=text(row, "query"),
        calls=integer(row, "calls"),
        total_ms=finite(number(row, total)),
        mean_ms=finite(number(row, mean)),
        rows=integer(row, "rows"),
    )


def finite(value: float) -> float:
    """A time as a finite float (NaN or an infinity, which no real timing is, read as 0)."""
    return value if math.isfinite(value) else 0.0


def build_activity(
    facts: Json,
    rows: Sequence[Json],
    idle_threshold: float,
    top_mean: tuple[StatementStat, ...] = (),
    top_total: tuple[StatementStat, ...] = (),
    note: str | None = None,
    size: int | None = None,
) -> DbActivity:
    """The snapshot from the server-facts row and the pg_stat_activity rows."""
    return activity_from_connections(
        facts,
        tuple(connection_from_row(row) for row in rows),
        idle_threshold,
        top_mean,
        top_total,
        note,
        size,
    )


def activity_from_connections(
    facts: Json,
    connections: tuple[DbConnection, ...],
    idle_threshold: float,
    top_mean: tuple[StatementStat, ...] = (),
    top_total: tuple[StatementStat, ...] = (),
    note: str | None = None,
    size: int | None = None,
) -> DbActivity:
    """The snapshot from the server-facts row and the connections read (counted here: the
    source replaces the counts with those of every backend, computed in SQL)."""
    hidden = sum(1 for c in connections if c.hidden)
    idle_over = sorted(
        (c for c in connections if c.idle_seconds is not None and c.idle_seconds > idle_threshold),
        key=lambda c: c.idle_seconds or 0.0,
        reverse=True,
    )
    running = sorted(
        (c for c in connections if c.query_seconds is not None),
        key=lambda c: c.query_seconds or 0.0,
        reverse=True,
    )
    waiting = [c for c in running if c.blocked_by] + [
        c for c in connections if c.blocked_by and c.query_seconds is None
    ]
    return DbActivity(
        collected_at=utcnow(),
        database=text(facts, "database"),
        # "15.20 (Debian 15.20-0+deb12u1)" -> "15.20"
        server_version=text(facts, "server_version").split(" ")[0],
        server_version_num=integer(facts, "server_version_num"),
        uptime_seconds=finite(number(facts, "uptime_seconds")),
        max_connections=integer(facts, "max_connections"),
        reserved_connections=integer(facts, "reserved_connections"),
        total=len(connections),
        by_state=dict(Counter(c.state or "unknown" for c in connections)),
        by_user=dict(Counter(c.user or "unknown" for c in connections)),
        by_application=dict(Counter(c.application for c in connections)),
        by_client=dict(
            Counter("hidden" if c.hidden else (c.client_addr or "local") for c in connections)
        ),
        connections=connections,
        idle_threshold_seconds=idle_threshold,
        idle_over_threshold=tuple(idle_over),
        longest_queries=tuple(running[:LONGEST_QUERIES]),
        lock_waits=tuple(waiting),
        top_by_mean=top_mean,
        top_by_total=top_total,
        statements_note=note,
        database_size_bytes=size,
        hidden=hidden,
        visibility_note=(f"{hidden} hidden: role lacks pg_read_all_stats" if hidden else None),
    )


def _seconds(row: Json, key: str) -> float | None:
    value = optional_number(row, key)
    return value if value is not None and math.isfinite(value) else None


def connection_from_row(row: Json) -> DbConnection:
    """One pg_stat_activity row. Another role's backend, seen without pg_read_all_stats, has
    NULL columns and '<insufficient privilege>' as its query: it is `hidden`, its state says
    so, and nothing about it is guessed."""
    query = text(row, "query")
    # the flag, or the shape itself (a query that read the state through coalesce(state, ''))
    hidden = boolean(row, "hidden") or (
        query == pg_queries.INSUFFICIENT_PRIVILEGE and not text(row, "state")
    )
    state = HIDDEN_STATE if hidden else text(row, "state")
    idle = state.startswith("idle")
    # only a running statement has a meaningful duration; 'disabled' means track_activities off
    running = bool(state) and not idle and state != "disabled" and not hidden
    return DbConnection(
        pid=integer(row, "pid"),
        user=text(row, "usename"),
        application=text(row, "application_name"),
        client_addr=as_text(get(row, "client_addr")) or _address(get(row, "client_addr")),
        database=text(row, "datname"),
        state=state,
        query="" if hidden else query,
        backend_start=optional_datetime(row, "backend_start"),
        query_start=optional_datetime(row, "query_start"),
        state_change=optional_datetime(row, "state_change"),
        query_seconds=_seconds(row, "query_seconds") if running else None,
        idle_seconds=_seconds(row, "state_seconds") if idle else None,
        # both come from one wait_event_info: a type without an event (or the reverse) is
        # not something PostgreSQL sends, but it must not reach a pane as None
        wait_event_type=(
            optional_text(row, "wait_event_type")
            or ("" if optional_text(row, "wait_event") is not None else None)
        ),
        wait_event=optional_text(row, "wait_event"),
        blocked_by=integers(row, "blocked_by"),
        hidden=hidden,
    )


def _address(value: object) -> str:
    """An inet value psycopg gave as an ipaddress object (a query selecting the raw column)."""
    return (
        str(value)
        if isinstance(
            value,
            ipaddress.IPv4Address
            | ipaddress.IPv6Address
            | ipaddress.IPv4Interface
            | ipaddress.IPv6Interface,
        )
        else ""
    )


async def _abandon(conn: psycopg.AsyncConnection[Any], task: asyncio.Future[Any]) -> None:
    """Cut the session under a query that will not finish in time, then end its task (which,
    with the session gone, has nothing left to cancel politely and ends at once)."""
    conn.pgconn.finish()
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
