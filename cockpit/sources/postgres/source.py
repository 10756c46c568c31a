"""PostgreSQL activity: connections, idle sessions, long queries, lock waits, top statements.

One read-only session (application_name `predictiq-cockpit`, a short statement_timeout) is kept
open between collections and replaced when the server drops it (restart, failover, network).
Each collection costs three short queries (see postgres/queries.py); the database size is measured on its
own slow cadence because pg_database_size walks every file of the database.
"""

from __future__ import annotations

import asyncio
import ipaddress
import math
import time
from collections import Counter
from collections.abc import Sequence
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
    as_text,
    boolean,
    get,
    integer,
    integers,
    number,
    optional_datetime,
    optional_integer,
    optional_number,
    optional_text,
    text,
)
from cockpit.sources.postgres import queries as pg_queries

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

    def __init__(self, cfg: DatabaseConfig, thresholds: ThresholdsConfig, *,
                 timeout: float = 5.0, top_statements: int = 10) -> None:
        self.cfg = cfg
        self.thresholds = thresholds
        self.timeout = timeout
        self.top_statements = top_statements
        self._conn: psycopg.AsyncConnection[DictRow] | None = None
        self._size: int | None = None
        self._size_measured_at: float | None = None
        self._statements_retry_at = 0.0
        self._statements_note: str | None = None

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
                conn.broken or conn.closed or result.reason.startswith("timed out")):
            # cancelled mid-query or dropped by the server: the session is unusable
            await self._drop()
        return result

    async def _read_within(self, conn: psycopg.AsyncConnection[DictRow],
                           seconds: float) -> DbActivity | SourceFailure:
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
            return SourceFailure(self.name, "query", f"timed out after {self.timeout:g}s",
                                 detail=f"no answer within {seconds:g}s of the collection's budget; "
                                        "the session was cut and is opened again next time")
        try:
            return task.result()
        except Exception as exc:  # noqa: BLE001 - a source never raises into its caller
            return SourceFailure(self.name, "query", describe_error(exc), detail=error_detail(exc))

    def _timeout_named(self, failure: SourceFailure) -> SourceFailure:
        """A timeout named by the configured timeout (the operator's number), not the share of
        it the source allowed itself."""
        if not failure.reason.startswith("timed out"):
            return failure
        return SourceFailure(failure.source, failure.what, f"timed out after {self.timeout:g}s",
                             at=failure.at, detail=failure.detail)

    async def aclose(self) -> None:
        """Close the session; safe to call twice."""
        await self._drop()

    async def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None and not conn.closed:
            try:
                await conn.close()
            except Exception:  # noqa: BLE001 - closing a dead session may fail; it is gone anyway
                pass

    async def _connect(self) -> psycopg.AsyncConnection[DictRow]:
        existing = conninfo_to_dict(self.cfg.url).get("options") or ""
        options = (f"{existing} -c statement_timeout={int(self.cfg.statement_timeout_ms)}"
                   " -c default_transaction_read_only=on").strip()
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
        facts = await (await conn.execute(_sql(pg_queries.server_facts_sql(version_num)))).fetchone()
        if facts is None:
            raise psycopg.InterfaceError("the server facts query returned no row")
        rows = await (await conn.execute(_sql(pg_queries.activity_sql(version_num)))).fetchall()
        top_mean, top_total, note = await self._statements(
            conn, version_num, optional_text(facts, "pg_stat_statements_version"))
        await self._measure_size(conn)
        return self._build(facts, rows, top_mean, top_total, note)

    async def _measure_size(self, conn: psycopg.AsyncConnection[DictRow]) -> None:
        now = time.monotonic()
        if (self._size_measured_at is not None
                and now - self._size_measured_at < self.cfg.size_interval_seconds):
            return
        self._size_measured_at = now
        try:
            row = await (await conn.execute(_sql(pg_queries.database_size_sql()))).fetchone()
        except pg_errors.QueryCanceled:
            return  # statement_timeout on a huge database: keep the last size, retry later
        self._size = optional_integer(row, "size")

    async def _statements(
        self, conn: psycopg.AsyncConnection[DictRow], version_num: int,
        extension_version: str | None,
    ) -> tuple[tuple[StatementStat, ...], tuple[StatementStat, ...], str | None]:
        if extension_version is None:
            return (), (), NOT_INSTALLED
        if time.monotonic() < self._statements_retry_at:
            return (), (), self._statements_note
        sql = pg_queries.top_statements_sql(version_num, extension_version, self.top_statements)
        try:
            rows = await (await conn.execute(_sql(sql))).fetchall()
        except pg_errors.ObjectNotInPrerequisiteState:
            # created in the database but not in shared_preload_libraries: every read errors
            return (), (), self._back_off(f"{NOT_INSTALLED} (not in shared_preload_libraries)")
        except pg_errors.QueryCanceled:
            return (), (), self._back_off("pg_stat_statements skipped: statement timeout")
        except (pg_errors.InsufficientPrivilege, pg_errors.UndefinedColumn,
                pg_errors.UndefinedTable) as exc:
            return (), (), self._back_off(f"pg_stat_statements unreadable: {exc.sqlstate} {exc}")
        by_kind: dict[str, list[StatementStat]] = {"mean": [], "total": []}
        for row in rows:
            by_kind.setdefault(text(row, "kind"), []).append(statement_from_row(row))
        return tuple(by_kind["mean"]), tuple(by_kind["total"]), None

    def _back_off(self, note: str) -> str:
        self._statements_retry_at = time.monotonic() + STATEMENTS_BACKOFF_SECONDS
        self._statements_note = " ".join(note.split())
        return self._statements_note

    def _build(self, facts: Json, rows: Sequence[Json],
               top_mean: tuple[StatementStat, ...], top_total: tuple[StatementStat, ...],
               note: str | None) -> DbActivity:
        return build_activity(facts, rows, float(self.thresholds.idle_connection_seconds),
                              top_mean, top_total, note, self._size)


def _sql(statement: str) -> LiteralString:
    """Our statements are built from the constants in `queries` and integers only, never from
    data: psycopg's LiteralString guard cannot follow the f-strings that assemble them."""
    return cast(LiteralString, statement)


def statement_from_row(row: Json, total: str = "total_ms", mean: str = "mean_ms") -> StatementStat:
    """One pg_stat_statements row; `total`/`mean` name its time columns (they differ by version:
    see `queries.statements_columns`). NULLs (another role's statement) read as 0 / ""."""
    return StatementStat(
        queryid=optional_integer(row, "queryid"), query=text(row, "query"),
        calls=integer(row, "calls"), total_ms=finite(number(row, total)),
        mean_ms=finite(number(row, mean)), rows=integer(row, "rows"))


def finite(value: float) -> float:
    """A time as a finite float (NaN or an infinity, which no real timing is, read as 0)."""
    return value if math.isfinite(value) else 0.0


def build_activity(facts: Json, rows: Sequence[Json], idle_threshold: float,
                   top_mean: tuple[StatementStat, ...] = (),
                   top_total: tuple[StatementStat, ...] = (), note: str | None = None,
                   size: int | None = None) -> DbActivity:
    """The snapshot from the server-facts row and the pg_stat_activity rows."""
    connections = tuple(connection_from_row(row) for row in rows)
    hidden = sum(1 for c in connections if c.hidden)
    idle_over = sorted((c for c in connections
                        if c.idle_seconds is not None and c.idle_seconds > idle_threshold),
                       key=lambda c: c.idle_seconds or 0.0, reverse=True)
    running = sorted((c for c in connections if c.query_seconds is not None),
                     key=lambda c: c.query_seconds or 0.0, reverse=True)
    waiting = [c for c in running if c.blocked_by] + [
        c for c in connections if c.blocked_by and c.query_seconds is None]
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
        by_client=dict(Counter("hidden" if c.hidden else (c.client_addr or "local")
                               for c in connections)),
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
        query == pg_queries.INSUFFICIENT_PRIVILEGE and not text(row, "state"))
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
        wait_event_type=(optional_text(row, "wait_event_type")
                         or ("" if optional_text(row, "wait_event") is not None else None)),
        wait_event=optional_text(row, "wait_event"),
        blocked_by=integers(row, "blocked_by"),
        hidden=hidden,
    )


def _address(value: object) -> str:
    """An inet value psycopg gave as an ipaddress object (a query selecting the raw column)."""
    return str(value) if isinstance(value, ipaddress.IPv4Address | ipaddress.IPv6Address
                                    | ipaddress.IPv4Interface | ipaddress.IPv6Interface) else ""


async def _abandon(conn: psycopg.AsyncConnection[Any], task: asyncio.Future[Any]) -> None:
    """Cut the session under a query that will not finish in time, then end its task (which,
    with the session gone, has nothing left to cancel politely and ends at once)."""
    conn.pgconn.finish()
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
