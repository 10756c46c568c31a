"""Slow query to fix, on a real PostgreSQL: the statements' interval means, EXPLAIN of a running
query and of a parameterised statement, EXPLAIN ANALYZE rolled back, the findings of a seq scan
on a 200,000-row table and of a disk sort, CREATE INDEX CONCURRENTLY with progress (and a
cancelled build's invalid index found and dropped), the blocking tree with two blockers and its
root terminated, and a dump written and verified.

Runs on the harness's PostgreSQL 18 and, in CI, on the machine's PostgreSQL 15 (.ci/run), so
both GENERIC_PLAN (16+) and the prepared-statement fallback are exercised.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from actions import executor
from actions.registry import get
from cockpit.audit.log import read_entries
from cockpit.config import DatabaseConfig, ThresholdsConfig
from cockpit.models import DbActivity
from cockpit.sources.postgres.explain import first_seq_scan
from cockpit.sources.postgres.locks import lock_tree
from cockpit.sources.postgres.plans import explain, explain_analyze
from cockpit.sources.postgres.source import PostgresSource
from tests.integration.actions_helpers import make_config, make_context
from tests.waiting import wait_for

ROWS = 200_000


@pytest.fixture(scope="module")
def orders(pg) -> Iterator[str]:  # the conftest PgHandle
    """A 200,000-row table of this module's own, analysed, without an index on customer_id."""
    name = f"orders_{secrets.token_hex(3)}"
    with psycopg.connect(pg.url, autocommit=True, connect_timeout=5) as conn:
        conn.execute(f"CREATE TABLE {name} (id int PRIMARY KEY, customer_id int, note text)")
        conn.execute(
            f"INSERT INTO {name} SELECT g, g % 1000, md5(g::text) FROM generate_series(1, {ROWS}) g"
        )
        conn.execute(f"ANALYZE {name}")
    try:
        yield name
    finally:
        with psycopg.connect(pg.url, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f"DROP TABLE IF EXISTS {name}")


def _cfg(pg, tmp_path: Path, read_only: bool = False, **database: Any):
    return make_config(
        read_only=read_only,
        database={"url": pg.url, "app_user": "postgres", "app_database": pg.dbname, **database},
        backup={"directory": str(tmp_path)},
    )


async def _connect(pg) -> psycopg.AsyncConnection:
    return await psycopg.AsyncConnection.connect(pg.url, autocommit=True, connect_timeout=5)


async def _run(ctx, action_id: str, selection: dict | None):
    action = get(action_id)
    plan = await action.plan(ctx, selection)
    return plan, await executor.execute(ctx, action, plan)


# -- statements -------------------------------------------------------------------------------


async def test_statement_view_shows_the_mean_of_the_last_interval_not_the_all_time_mean(pg):
    if not pg.has_pg_stat_statements:
        pytest.skip("pg_stat_statements is not preloaded on this server")
    table = f"interval_{secrets.token_hex(3)}"
    now = [0.0]
    source = PostgresSource(
        DatabaseConfig(url=pg.url, statements_seconds=30),
        ThresholdsConfig(),
        top_statements=50,
        clock=lambda: now[0],
    )
    worker = await _connect(pg)
    try:
        await worker.execute(f"CREATE TABLE {table} (x int)")
        await worker.execute(f"INSERT INTO {table} VALUES (1)")
        for _ in range(20):
            await worker.execute(f"SELECT pg_sleep(%s) FROM {table}", [0.001])
        first = await source.collect()
        assert isinstance(first, DbActivity), first
        stat = next(s for s in first.top_by_total if table in s.query)
        assert (
            stat.interval_mean_ms is None and stat.mean_trend == ()
        )  # one sample: no interval yet
        for _ in range(2):
            await worker.execute(f"SELECT pg_sleep(%s) FROM {table}", [0.25])
        now[0] += 10.0  # before the cadence: the statements are not read again
        assert (
            next(s for s in (await source.collect()).top_by_total if table in s.query).calls == 20
        )
        now[0] += 30.0
        second = await source.collect()
        assert isinstance(second, DbActivity)
        stat = next(s for s in second.top_by_mean + second.top_by_total if table in s.query)
        assert stat.calls == 22
        assert (
            stat.interval_mean_ms is not None and stat.interval_mean_ms >= 240
        )  # the two slow calls
        assert stat.mean_ms < 60  # the all-time mean hides them
        assert stat.mean_trend == (stat.interval_mean_ms,)
        assert stat.share_of_total is not None and 0 < stat.share_of_total <= 1
    finally:
        await worker.execute(f"DROP TABLE IF EXISTS {table}")
        await worker.close()
        await source.aclose()


# -- explain ----------------------------------------------------------------------------------


async def test_explain_of_a_running_query_finds_the_seq_scan_on_200000_rows(pg, orders):
    sql = f"SELECT pg_sleep(30), (SELECT count(*) FROM {orders} WHERE customer_id = 42)"
    runner = await _connect(pg)
    task = asyncio.create_task(runner.execute(sql))
    source = PostgresSource(DatabaseConfig(url=pg.url), ThresholdsConfig())
    try:
        pid = runner.info.backend_pid

        async def running() -> str:
            while True:
                snap = await source.collect()
                row = next(
                    (
                        c
                        for c in getattr(snap, "connections", ())
                        if c.pid == pid and c.state == "active"
                    ),
                    None,
                )
                if row is not None:
                    return row.query
                await asyncio.sleep(0.05)

        query = await asyncio.wait_for(running(), 10)
        assert query == sql
        conn = await _connect(pg)
        try:
            explained = await explain(conn, query)
        finally:
            await conn.close()
        assert explained.how == "EXPLAIN" and not explained.plan.analyzed
        finding = first_seq_scan(explained.plan)
        assert (
            finding is not None
            and finding.relation == orders
            and finding.columns == ("customer_id",)
        )
        assert f"{ROWS:,} rows" in finding.text
    finally:
        await runner.cancel_safe(timeout=5)
        with pytest.raises(psycopg.errors.QueryCanceled):
            await task
        await runner.close()
        await source.aclose()


async def test_explain_of_a_parameterised_statement_gives_its_generic_plan(pg, orders):
    conn = await _connect(pg)
    try:
        explained = await explain(
            conn, f"SELECT * FROM {orders} WHERE customer_id = $1 AND note <> $2"
        )
        if pg.server_version_num >= 160000:
            assert explained.how == "EXPLAIN (GENERIC_PLAN)"
        else:
            assert explained.how.startswith("generic plan (PREPARE")
        scan = explained.plan.scans_of(orders)[0]
        assert "$1" in (scan.filter or "")
        assert first_seq_scan(explained.plan) is not None
        # the fallback leaves nothing behind in the session
        rows = await (
            await conn.execute(
                "SELECT count(*) FROM pg_prepared_statements"
                " WHERE name = 'predictiq_cockpit_explain'"
            )
        ).fetchone()
        assert rows == (0,)
        assert (await (await conn.execute("SHOW plan_cache_mode")).fetchone()) == ("auto",)
        with pytest.raises(Exception, match="several statements"):
            await explain(conn, f"SELECT 1; DROP TABLE {orders}")
    finally:
        await conn.close()


async def test_a_delete_explained_with_analyze_deletes_nothing(pg, orders, tmp_path):
    ctx = make_context(_cfg(pg, tmp_path), tmp_path / "audit.jsonl")
    sql = f"DELETE FROM {orders} WHERE id <= 1000"
    plan, outcome = await _run(ctx, "explain_analyze", {"query": sql})
    assert plan.requires_typed_name == "DELETE" and plan.danger == "high"
    assert outcome.ok, outcome
    assert outcome.after["rolled_back"] is True and outcome.after["execution_ms"] > 0
    assert any("Delete on" in line for line in outcome.after["lines"])
    with psycopg.connect(pg.url, connect_timeout=5) as check:
        assert check.execute(f"SELECT count(*) FROM {orders}").fetchone() == (ROWS,)
    select = await get("explain_analyze").plan(ctx, {"query": f"SELECT count(*) FROM {orders}"})
    assert select.requires_typed_name is None  # a single SELECT on a non-production target
    entries = [
        e for e in read_entries(tmp_path / "audit.jsonl") if e.get("action") == "explain_analyze"
    ]
    assert [e["event"] for e in entries] == ["intent", "result"]


async def test_explain_analyze_is_refused_in_read_only_mode(pg, orders, tmp_path):
    ctx = make_context(_cfg(pg, tmp_path, read_only=True), tmp_path / "audit.jsonl")
    plan = await get("explain_analyze").plan(ctx, {"query": f"SELECT count(*) FROM {orders}"})
    outcome = await executor.execute(ctx, get("explain_analyze"), plan)
    assert outcome.status == "denied" and "read-only" in outcome.message


async def test_analyze_findings_for_a_seq_scan_and_a_sort_spilling_to_disk(pg, orders):
    conn = await _connect(pg)
    try:
        scan = await explain_analyze(conn, f"SELECT * FROM {orders} WHERE customer_id = 7", 10_000)
        finding = first_seq_scan(scan.plan)
        assert finding is not None and finding.columns == ("customer_id",)
        node = scan.plan.nodes[finding.node]
        assert node.rows_read == ROWS and node.actual_rows == 200
        await conn.execute("SET work_mem = '64kB'")
        spill = await explain_analyze(conn, f"SELECT * FROM {orders} ORDER BY note", 20_000)
        assert "disk_sort" in [f.kind for f in spill.plan.findings]
        assert conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE  # rolled back
    finally:
        await conn.close()


# -- create index -----------------------------------------------------------------------------


async def test_concurrent_index_is_built_with_progress_and_the_plan_changes(pg, orders, tmp_path):
    ctx = make_context(_cfg(pg, tmp_path), tmp_path / "audit.jsonl")
    query = f"SELECT * FROM {orders} WHERE customer_id = 42"
    lines: list[str] = []
    ctx.progress = lines.append
    plan = await get("create_index").plan(ctx, {"query": query})
    assert plan.params["columns"] == ["customer_id"]
    assert any("MB" in line and "build ≈" in line for line in plan.effect)
    # an open writer makes the build wait for it: the progress shows that phase first
    writer = pg.connect(autocommit=False)
    writer.execute(f"UPDATE {orders} SET note = note WHERE id = 1")
    build = asyncio.create_task(executor.execute(ctx, get("create_index"), plan))
    try:
        await asyncio.wait_for(_until(lambda: any("waiting" in line for line in lines)), 10)
        writer.commit()
        outcome = await asyncio.wait_for(build, 60)
    finally:
        writer.rollback()
    assert outcome.ok, outcome
    assert lines[0].startswith("[") and "%]" in lines[0]
    conn = await _connect(pg)
    try:
        after = await explain(conn, query)
    finally:
        await conn.close()
    assert first_seq_scan(after.plan) is None
    assert any(n.index_name == plan.params["index"].split(".")[-1] for n in after.plan.nodes)
    with psycopg.connect(pg.url, autocommit=True, connect_timeout=5) as conn:
        conn.execute(f"DROP INDEX {plan.params['index']}")


async def test_a_cancelled_build_leaves_an_invalid_index_that_is_found_and_dropped(
    pg, orders, tmp_path
):
    ctx = make_context(_cfg(pg, tmp_path), tmp_path / "audit.jsonl")
    lines: list[str] = []
    ctx.progress = lines.append
    ctx.cancel = asyncio.Event()
    plan = await get("create_index").plan(ctx, {"table": orders, "columns": ["note"]})
    writer = pg.connect(autocommit=False)
    writer.execute(f"UPDATE {orders} SET note = note WHERE id = 2")
    build = asyncio.create_task(executor.execute(ctx, get("create_index"), plan))
    try:
        await asyncio.wait_for(_until(lambda: any("waiting" in line for line in lines)), 10)
        ctx.cancel.set()
        outcome = await asyncio.wait_for(build, 30)
    finally:
        writer.rollback()
    assert outcome.status == "failed" and "cancelled" in outcome.message
    assert outcome.after["invalid_index"] == plan.params["index"]
    with pytest.raises(Exception, match="invalid index"):
        await get("create_index").plan(ctx, {"table": orders, "columns": ["note"]})
    drop, dropped = await _run(ctx, "drop_invalid_index", {"table": orders})
    assert drop.params["index"] == plan.params["index"]
    assert dropped.ok, dropped
    with psycopg.connect(pg.url, connect_timeout=5) as conn:
        assert conn.execute("SELECT to_regclass(%s)", [plan.params["index"]]).fetchone() == (None,)


async def _until(condition: Any) -> None:
    while not condition():
        await asyncio.sleep(0.02)


# -- locks ------------------------------------------------------------------------------------


async def test_three_level_lock_tree_with_two_blockers_and_the_root_terminated(pg, tmp_path):
    t1, t2 = f"lock_a_{secrets.token_hex(3)}", f"lock_b_{secrets.token_hex(3)}"
    root = pg.connect()
    root.execute(f"CREATE TABLE {t1} (x int); CREATE TABLE {t2} (x int)")
    root.execute("BEGIN")
    root.execute(f"LOCK TABLE {t1} IN SHARE MODE")
    root.execute(f"LOCK TABLE {t2} IN SHARE MODE")
    sessions = [await _connect(pg) for _ in range(3)]
    for s in sessions:
        await s.execute("SET lock_timeout = '30s'")
    second, third, fourth = sessions
    tasks = [
        asyncio.create_task(
            second.execute(
                f"DO $$BEGIN LOCK TABLE {t2} IN SHARE MODE; "
                f"LOCK TABLE {t1} IN EXCLUSIVE MODE; END$$"
            )
        )
    ]
    source = PostgresSource(DatabaseConfig(url=pg.url, locks_seconds=1), ThresholdsConfig())
    ctx = make_context(_cfg(pg, tmp_path), tmp_path / "audit.jsonl")
    pids = [root.info.backend_pid, *(s.info.backend_pid for s in sessions)]
    try:
        await _until_waiting(pg, pids[1], 1)
        tasks.append(asyncio.create_task(third.execute(f"ALTER TABLE {t2} ADD COLUMN y int")))
        await _until_waiting(pg, pids[2], 2)
        tasks.append(asyncio.create_task(fourth.execute(f"SELECT count(*) FROM {t2}")))
        await _until_waiting(pg, pids[3], 1)

        async def sampled() -> DbActivity:
            while True:
                source.sample_locks_now()
                snap = await source.collect()
                if (
                    isinstance(snap, DbActivity)
                    and len([c for c in snap.lock_sessions if c.pid in pids]) == 4
                ):
                    return snap
                await asyncio.sleep(0.05)

        snap = await asyncio.wait_for(sampled(), 10)
        blocked = {c.pid: set(c.blocked_by) for c in snap.lock_sessions}
        assert blocked[pids[1]] == {pids[0]}
        assert blocked[pids[2]] == {pids[0], pids[1]}  # two blockers
        assert blocked[pids[3]] == {pids[2]}
        trees = [t for t in lock_tree(snap.lock_sessions) if t.pid == pids[0]]
        assert len(trees) == 1
        tree = trees[0]
        assert tree.session.state == "idle in transaction"
        assert tree.behind == 3 and tree.frees == 3
        under_root = {n.pid: n for n in tree.waiters}
        assert set(under_root) == {pids[1], pids[2]}  # the third waits for both, shown under both
        assert under_root[pids[2]].also_waits_for == (pids[1],)
        assert under_root[pids[1]].waiters[0].pid == pids[2]
        assert under_root[pids[2]].waiters[0].pid == pids[3]  # three levels below the root

        plan, outcome = await _run(ctx, "terminate_blocker", {"pid": pids[0]})
        assert any("3 sessions wait behind it; terminating it releases 3" in e for e in plan.effect)
        assert outcome.ok and outcome.after["signalled"] is True
        await asyncio.wait_for(asyncio.gather(*tasks), 15)  # every waiter went on
        wait_for(lambda: root.closed or root.broken or _gone(pg, pids[0]), what="root terminated")
        with pytest.raises(Exception, match="blocks no session"):
            await get("terminate_blocker").plan(ctx, {"pid": pids[1]})
    finally:
        for task in tasks:
            if not task.done():
                task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for s in sessions:
            await s.close()
        root.close()
        with psycopg.connect(pg.url, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f"DROP TABLE IF EXISTS {t1}, {t2}")
        await source.aclose()


def _gone(pg, pid: int) -> bool:
    with psycopg.connect(pg.admin_url, autocommit=True, connect_timeout=5) as conn:
        return conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE pid = %s", [pid]
        ).fetchone() == (0,)


async def _until_waiting(pg, pid: int, blockers: int) -> None:
    conn = await psycopg.AsyncConnection.connect(pg.admin_url, autocommit=True, connect_timeout=5)
    try:

        async def go() -> None:
            while True:
                row = await (
                    await conn.execute("SELECT cardinality(pg_blocking_pids(%s))", [pid])
                ).fetchone()
                if row and row[0] >= blockers:
                    return
                await asyncio.sleep(0.02)

        await asyncio.wait_for(go(), 10)
    finally:
        await conn.close()


# -- backup -----------------------------------------------------------------------------------


async def test_a_dump_is_written_verified_and_audited_with_its_sha256(pg, orders, tmp_path):
    backups = tmp_path / "backups"
    backups.mkdir()
    ctx = make_context(_cfg(pg, backups), tmp_path / "audit.jsonl")
    progress: list[str] = []
    ctx.progress = progress.append
    plan, outcome = await _run(ctx, "backup_database", {})
    assert outcome.ok, outcome
    path = Path(outcome.after["path"])
    assert path.parent == backups and path.name.endswith(".dump")
    assert outcome.after["size"] == path.stat().st_size > 0
    assert outcome.after["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert "every data block" in outcome.after["verification"]
    assert any("bytes written" in line for line in progress)
    assert "PGPASSWORD" not in plan.command and "--format=custom" in plan.command
    result = [e for e in read_entries(tmp_path / "audit.jsonl") if e.get("event") == "result"][-1]
    assert result["after"]["sha256"] == outcome.after["sha256"] and result["after"]["path"] == str(
        path
    )


async def test_a_pg_dump_older_than_the_server_is_refused_with_the_reason(pg, tmp_path):
    old = Path("/usr/lib/postgresql/15/bin/pg_dump")
    if pg.server_version_num < 160000 or not old.exists():
        pytest.skip("needs a pg_dump older than the server")
    ctx = make_context(
        make_config(
            database={"url": pg.url, "app_user": "postgres", "app_database": pg.dbname},
            backup={"directory": str(tmp_path), "pg_dump": str(old)},
        ),
        tmp_path / "audit.jsonl",
    )
    with pytest.raises(Exception, match="older than the server"):
        await get("backup_database").plan(ctx, {})
