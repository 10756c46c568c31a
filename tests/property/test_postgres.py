"""pg_stat_activity and pg_stat_statements rows the cockpit has never seen, through the row
parser, the state, the rules and the database pane: NULL state, query, usename, client_addr and
query_start (another role's backend seen without pg_read_all_stats), '<insufficient
privilege>', and pg_stat_statements rows of every supported version (12 to 18)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from cockpit.models import DbActivity
from cockpit.sources.postgres import queries
from cockpit.sources.postgres.source import (
    HIDDEN_STATE,
    build_activity,
    connection_from_row,
    statement_from_row,
)
from tests.property.harness import PANE_EXAMPLES, PROPERTY, show_in_pane, through_state_and_rules

NOW = datetime(2025, 3, 14, 10, 42, 13, tzinfo=UTC)
TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=60)
STATES = st.sampled_from(
    [
        "active",
        "idle",
        "idle in transaction",
        "idle in transaction (aborted)",
        "fastpath function call",
        "disabled",
        "",
    ]
)
MOMENTS = st.none() | st.integers(0, 10**6).map(lambda s: NOW - timedelta(seconds=s))
SECONDS = st.none() | st.floats(-5, 10**6, allow_nan=False) | st.just(float("nan"))


def nullable(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.none() | strategy


def activity_row(pid: int) -> st.SearchStrategy[dict[str, Any]]:
    """A row of the activity query as psycopg's dict_row gives it, any column NULL."""
    return st.fixed_dictionaries(
        {
            "pid": st.just(pid),
            "usename": nullable(st.sampled_from(["predictiq", "postgres", "reporting"]) | TEXT),
            "application_name": nullable(st.sampled_from(["predictiq-api", "psql", ""]) | TEXT),
            "client_addr": nullable(st.sampled_from(["10.0.0.7", "::1", "", "192.168.1.20"])),
            "datname": nullable(st.sampled_from(["predictiq", "postgres"])),
            "state": nullable(STATES),
            "query": nullable(
                st.sampled_from([queries.INSUFFICIENT_PRIVILEGE, "SELECT 1", ""]) | TEXT
            ),
            "backend_start": MOMENTS,
            "query_start": MOMENTS,
            "state_change": MOMENTS,
            "query_seconds": SECONDS,
            "state_seconds": SECONDS,
            "wait_event_type": nullable(st.sampled_from(["Lock", "Client", "IO"])),
            "wait_event": nullable(
                st.sampled_from(["transactionid", "ClientRead", "DataFileRead"])
            ),
            "blocked_by": nullable(st.lists(st.integers(1, 99999), max_size=3)),
            "hidden": nullable(st.booleans()),
        }
    )


def hidden_row(pid: int) -> st.SearchStrategy[dict[str, Any]]:
    """Another role's backend as a role without pg_read_all_stats sees it (the real shape)."""
    return st.builds(
        lambda user, app: {
            "pid": pid,
            "usename": user,
            "application_name": app,
            "client_addr": None,
            "datname": "predictiq",
            "state": None,
            "query": queries.INSUFFICIENT_PRIVILEGE,
            "backend_start": None,
            "query_start": None,
            "state_change": None,
            "query_seconds": None,
            "state_seconds": None,
            "wait_event_type": None,
            "wait_event": None,
            "blocked_by": None,
            "hidden": True,
        },
        st.sampled_from(["predictiq", "postgres"]),
        st.sampled_from(["predictiq-api", ""]),
    )


FACTS = st.fixed_dictionaries(
    {
        "server_version": nullable(
            st.sampled_from(["12.22", "15.20 (Debian 15.20-0+deb12u1)", "18.1", "17devel"])
        ),
        "server_version_num": nullable(st.integers(120000, 189999)),
        "uptime_seconds": nullable(st.floats(0, 10**8, allow_nan=False)),
        "max_connections": nullable(st.integers(1, 10000)),
        "reserved_connections": nullable(st.integers(0, 100)),
        "database": nullable(st.just("predictiq")),
        "pg_stat_statements_version": nullable(st.sampled_from(["1.7", "1.8", "1.10", "1.12"])),
    }
)


@st.composite
def activity(draw: st.DrawFn) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    pids = draw(st.lists(st.integers(1, 4_000_000), max_size=12, unique=True))
    rows = [draw(hidden_row(pid) if draw(st.booleans()) else activity_row(pid)) for pid in pids]
    return draw(FACTS), rows


# pg_stat_statements' columns by PostgreSQL version (the extension version it ships).
_BLOCKS = [
    "shared_blks_hit",
    "shared_blks_read",
    "shared_blks_dirtied",
    "shared_blks_written",
    "local_blks_hit",
    "local_blks_read",
    "local_blks_dirtied",
    "local_blks_written",
    "temp_blks_read",
    "temp_blks_written",
]
_PLAN = [
    "plans",
    "total_plan_time",
    "min_plan_time",
    "max_plan_time",
    "mean_plan_time",
    "stddev_plan_time",
]
_EXEC = [
    "calls",
    "total_exec_time",
    "min_exec_time",
    "max_exec_time",
    "mean_exec_time",
    "stddev_exec_time",
    "rows",
]
_JIT = [
    "jit_functions",
    "jit_generation_time",
    "jit_inlining_count",
    "jit_inlining_time",
    "jit_optimization_count",
    "jit_optimization_time",
    "jit_emission_count",
    "jit_emission_time",
]
STATEMENT_COLUMNS: dict[int, tuple[str, list[str]]] = {
    12: (
        "1.7",
        [
            "userid",
            "dbid",
            "queryid",
            "query",
            "calls",
            "total_time",
            "min_time",
            "max_time",
            "mean_time",
            "stddev_time",
            "rows",
            *_BLOCKS,
            "blk_read_time",
            "blk_write_time",
        ],
    ),
    13: (
        "1.8",
        [
            "userid",
            "dbid",
            "queryid",
            "query",
            *_PLAN,
            *_EXEC,
            *_BLOCKS,
            "blk_read_time",
            "blk_write_time",
            "wal_records",
            "wal_fpi",
            "wal_bytes",
        ],
    ),
    14: (
        "1.9",
        [
            "userid",
            "dbid",
            "toplevel",
            "queryid",
            "query",
            *_PLAN,
            *_EXEC,
            *_BLOCKS,
            "blk_read_time",
            "blk_write_time",
            "wal_records",
            "wal_fpi",
            "wal_bytes",
        ],
    ),
    15: (
        "1.10",
        [
            "userid",
            "dbid",
            "toplevel",
            "queryid",
            "query",
            *_PLAN,
            *_EXEC,
            *_BLOCKS,
            "blk_read_time",
            "blk_write_time",
            "temp_blk_read_time",
            "temp_blk_write_time",
            "wal_records",
            "wal_fpi",
            "wal_bytes",
            *_JIT,
        ],
    ),
    16: (
        "1.10",
        [
            "userid",
            "dbid",
            "toplevel",
            "queryid",
            "query",
            *_PLAN,
            *_EXEC,
            *_BLOCKS,
            "blk_read_time",
            "blk_write_time",
            "temp_blk_read_time",
            "temp_blk_write_time",
            "wal_records",
            "wal_fpi",
            "wal_bytes",
            *_JIT,
        ],
    ),
    17: (
        "1.11",
        [
            "userid",
            "dbid",
            "toplevel",
            "queryid",
            "query",
            *_PLAN,
            *_EXEC,
            *_BLOCKS,
            "shared_blk_read_time",
            "shared_blk_write_time",
            "local_blk_read_time",
            "local_blk_write_time",
            "temp_blk_read_time",
            "temp_blk_write_time",
            "wal_records",
            "wal_fpi",
            "wal_bytes",
            *_JIT,
            "jit_deform_count",
            "jit_deform_time",
            "stats_since",
            "minmax_stats_since",
        ],
    ),
    18: (
        "1.12",
        [
            "userid",
            "dbid",
            "toplevel",
            "queryid",
            "query",
            *_PLAN,
            *_EXEC,
            *_BLOCKS,
            "shared_blk_read_time",
            "shared_blk_write_time",
            "local_blk_read_time",
            "local_blk_write_time",
            "temp_blk_read_time",
            "temp_blk_write_time",
            "wal_records",
            "wal_fpi",
            "wal_bytes",
            "wal_buffers_full",
            *_JIT,
            "jit_deform_count",
            "jit_deform_time",
            "parallel_workers_to_launch",
            "parallel_workers_launched",
            "generic_plan_calls",
            "custom_plan_calls",
            "stats_since",
            "minmax_stats_since",
        ],
    ),
}


def _value(column: str) -> st.SearchStrategy[Any]:
    if column == "query":
        return nullable(st.just(queries.INSUFFICIENT_PRIVILEGE) | TEXT)
    if column in ("queryid", "userid", "dbid"):
        return nullable(st.integers(-(2**63), 2**63 - 1))
    if column == "toplevel":
        return st.booleans()
    if column.endswith("_since"):
        return MOMENTS
    if column.endswith("_time"):
        return nullable(st.floats(0, 1e9, allow_nan=False))
    return nullable(st.integers(0, 2**40))


@st.composite
def statement_rows(draw: st.DrawFn) -> tuple[int, str, list[dict[str, Any]]]:
    major = draw(st.sampled_from(sorted(STATEMENT_COLUMNS)))
    extension, columns = STATEMENT_COLUMNS[major]
    rows = draw(st.lists(st.fixed_dictionaries({c: _value(c) for c in columns}), max_size=5))
    return major * 10000 + draw(st.integers(0, 25)), extension, rows


@given(activity())
@PROPERTY
def test_rows_with_nulls_parse_and_go_through_state_and_rules(
    data: tuple[dict[str, Any], list[dict[str, Any]]],
) -> None:
    facts, rows = data
    snap = build_activity(facts, rows, 600.0)
    assert snap.total == len(rows) == len(snap.connections)  # hidden ones counted too
    hidden = [c for c in snap.connections if c.hidden]
    assert snap.hidden == len(hidden)
    assert all(c.state == HIDDEN_STATE and c.query == "" for c in hidden)
    for c in snap.connections:
        assert all(
            isinstance(v, str)
            for v in (c.user, c.application, c.client_addr, c.database, c.state, c.query)
        )
    assert sum(snap.by_state.values()) == snap.total
    through_state_and_rules("database", snap)


@given(activity())
@PANE_EXAMPLES
def test_the_database_pane_shows_every_backend_and_its_summary(
    data: tuple[dict[str, Any], list[dict[str, Any]]],
) -> None:
    facts, rows = data
    snap: DbActivity = build_activity(facts, rows, 600.0)
    report = show_in_pane("database", snap)
    assert report.item_keys == {str(c.pid) for c in snap.connections}
    assert f"{snap.total + 1}/{snap.max_connections} conns" in report.summary
    if snap.hidden:
        assert "role lacks pg_read_all_stats" in report.summary
    for c in snap.connections:
        assert f"PID {c.pid}" in report.details[str(c.pid)]


@given(statement_rows())
@PROPERTY
def test_pg_stat_statements_rows_of_every_version(
    data: tuple[int, str, list[dict[str, Any]]],
) -> None:
    version_num, extension, rows = data
    total, mean = queries.statements_columns(version_num, extension)
    stats = [statement_from_row(row, total, mean) for row in rows]
    for row, stat in zip(rows, stats, strict=True):
        assert isinstance(stat.query, str) and isinstance(stat.calls, int)
        assert stat.total_ms == (row[total] or 0.0) and stat.mean_ms == (row[mean] or 0.0)


def test_a_row_seen_without_pg_read_all_stats_is_hidden_even_without_the_flag() -> None:
    row = {"pid": 7, "usename": "postgres", "state": None, "query": queries.INSUFFICIENT_PRIVILEGE}
    c = connection_from_row(row)
    assert (c.hidden, c.state, c.query, c.client_addr, c.query_seconds) == (
        True,
        HIDDEN_STATE,
        "",
        "",
        None,
    )
