"""PostgreSQL activity: connections, idle sessions, long queries, lock waits, top statements.

One read-only session (application_name `predictiq-cockpit`, a short statement_timeout) is kept
open between collections and replaced when the server drops it (restart, failover, network).
Each collection costs three short queries (see pg_queries); the database size is measured on its
own slow cadence because pg_database_size walks every file of the database.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import Counter
from typing import Any

import psycopg
from psycopg import errors as pg_errors
from psycopg.conninfo import conninfo_to_dict
from psycopg.rows import dict_row

from cockpit.config import DatabaseConfig, ThresholdsConfig
from cockpit.models import DbActivity, DbConnection, SourceFailure, StatementStat, utcnow
from cockpit.sources.base import describe_error, error_detail, guarded
from cockpit.sources.postgres import queries as pg_queries

APPLICATION_NAME = "predictiq-cockpit"
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
        self._conn: psycopg.AsyncConnection[dict[str, Any]] | None = None
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

    async def _read_within(self, conn: psycopg.AsyncConnection[dict[str, Any]],
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

    async def _connect(self) -> psycopg.AsyncConnection[dict[str, Any]]:
        existing = conninfo_to_dict(self.cfg.url).get("options") or ""
        options = (f"{existing} -c statement_timeout={int(self.cfg.statement_timeout_ms)}"
                   " -c default_transaction_read_only=on").strip()
        return await psycopg.AsyncConnection.connect(
            self.cfg.url,
            application_name=APPLICATION_NAME,
            options=options,
            # libpq takes whole seconds and raises anything under 2 to 2
            connect_timeout=max(2, math.ceil(self.cfg.connect_timeout_seconds)),
            autocommit=True,
            row_factory=dict_row,
        )

    async def _read(self, conn: psycopg.AsyncConnection[dict[str, Any]]) -> DbActivity:
        version_num = conn.info.server_version
        facts = await (await conn.execute(pg_queries.server_facts_sql(version_num))).fetchone()
        if facts is None:
            raise psycopg.InterfaceError("the server facts query returned no row")
        rows = await (await conn.execute(pg_queries.activity_sql(version_num))).fetchall()
        top_mean, top_total, note = await self._statements(
            conn, version_num, facts["pg_stat_statements_version"])
        await self._measure_size(conn)
        return self._build(facts, rows, top_mean, top_total, note)

    async def _measure_size(self, conn: psycopg.AsyncConnection[dict[str, Any]]) -> None:
        now = time.monotonic()
        if (self._size_measured_at is not None
                and now - self._size_measured_at < self.cfg.size_interval_seconds):
            return
        self._size_measured_at = now
        try:
            row = await (await conn.execute(pg_queries.database_size_sql())).fetchone()
        except pg_errors.QueryCanceled:
            return  # statement_timeout on a huge database: keep the last size, retry later
        self._size = int(row["size"]) if row and row["size"] is not None else None

    async def _statements(
        self, conn: psycopg.AsyncConnection[dict[str, Any]], version_num: int,
        extension_version: str | None,
    ) -> tuple[tuple[StatementStat, ...], tuple[StatementStat, ...], str | None]:
        if extension_version is None:
            return (), (), NOT_INSTALLED
        if time.monotonic() < self._statements_retry_at:
            return (), (), self._statements_note
        sql = pg_queries.top_statements_sql(version_num, extension_version, self.top_statements)
        try:
            rows = await (await conn.execute(sql)).fetchall()
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
            by_kind[row["kind"]].append(StatementStat(
                queryid=row["queryid"], query=row["query"] or "", calls=int(row["calls"]),
                total_ms=float(row["total_ms"]), mean_ms=float(row["mean_ms"]),
                rows=int(row["rows"])))
        return tuple(by_kind["mean"]), tuple(by_kind["total"]), None

    def _back_off(self, note: str) -> str:
        self._statements_retry_at = time.monotonic() + STATEMENTS_BACKOFF_SECONDS
        self._statements_note = " ".join(note.split())
        return self._statements_note

    def _build(self, facts: dict[str, Any], rows: list[dict[str, Any]],
               top_mean: tuple[StatementStat, ...], top_total: tuple[StatementStat, ...],
               note: str | None) -> DbActivity:
        connections = tuple(_connection(row) for row in rows)
        threshold = float(self.thresholds.idle_connection_seconds)
        idle_over = sorted((c for c in connections
                            if c.idle_seconds is not None and c.idle_seconds > threshold),
                           key=lambda c: c.idle_seconds or 0.0, reverse=True)
        running = sorted((c for c in connections if c.query_seconds is not None),
                         key=lambda c: c.query_seconds or 0.0, reverse=True)
        waiting = [c for c in running if c.blocked_by] + [
            c for c in connections if c.blocked_by and c.query_seconds is None]
        return DbActivity(
            collected_at=utcnow(),
            database=facts["database"],
            # "15.20 (Debian 15.20-0+deb12u1)" -> "15.20"
            server_version=str(facts["server_version"]).split(" ")[0],
            server_version_num=int(facts["server_version_num"]),
            uptime_seconds=float(facts["uptime_seconds"]),
            max_connections=int(facts["max_connections"]),
            reserved_connections=int(facts["reserved_connections"]),
            total=len(connections),
            by_state=dict(Counter(c.state or "unknown" for c in connections)),
            by_user=dict(Counter(c.user for c in connections)),
            by_application=dict(Counter(c.application for c in connections)),
            by_client=dict(Counter(c.client_addr or "local" for c in connections)),
            connections=connections,
            idle_threshold_seconds=threshold,
            idle_over_threshold=tuple(idle_over),
            longest_queries=tuple(running[:LONGEST_QUERIES]),
            lock_waits=tuple(waiting),
            top_by_mean=top_mean,
            top_by_total=top_total,
            statements_note=note,
            database_size_bytes=self._size,
        )


def _connection(row: dict[str, Any]) -> DbConnection:
    state = row["state"]
    idle = state.startswith("idle")
    # only a running statement has a meaningful duration; 'disabled' means track_activities off
    running = bool(state) and not idle and state != "disabled"
    return DbConnection(
        pid=int(row["pid"]),
        user=row["usename"],
        application=row["application_name"],
        client_addr=row["client_addr"],
        database=row["datname"],
        state=state,
        query=row["query"],
        backend_start=row["backend_start"],
        query_start=row["query_start"],
        state_change=row["state_change"],
        query_seconds=row["query_seconds"] if running else None,
        idle_seconds=row["state_seconds"] if idle else None,
        wait_event_type=row["wait_event_type"],
        wait_event=row["wait_event"],
        blocked_by=tuple(row["blocked_by"] or ()),
    )


async def _abandon(conn: psycopg.AsyncConnection[Any], task: asyncio.Future[Any]) -> None:
    """Cut the session under a query that will not finish in time, then end its task (which,
    with the session gone, has nothing left to cancel politely and ends at once)."""
    conn.pgconn.finish()
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
