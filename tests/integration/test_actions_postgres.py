"""Kill idle connections and cancel/terminate a query against a real PostgreSQL: the effect is
checked in pg_stat_activity, and so are the audit entries and read-only mode."""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg.conninfo import make_conninfo

from actions import executor
from actions.clients import ReadOnlyError
from actions.registry import ACTIONS
from cockpit.audit.log import read_entries, verify
from tests.integration.actions_helpers import CountingConnect, make_config, make_context
from tests.waiting import wait_for

IDLE_SECONDS = 1  # the smallest threshold the config accepts


def wait_until(
    condition: Callable[[], object], timeout: float = 10.0, what: str = "condition"
) -> object:
    """tests.waiting.wait_for, polling every 50 ms."""
    return wait_for(condition, timeout=timeout, interval=0.05, what=what)


class Role:
    """A login role of the test's own, and connections opened as it."""

    def __init__(self, pg) -> None:  # the conftest PgHandle
        self.pg = pg
        self.name = f"cockpit_victim_{secrets.token_hex(3)}"
        self.conns: list[psycopg.Connection] = []
        with psycopg.connect(pg.admin_url, autocommit=True, connect_timeout=5) as admin:
            admin.execute(f"CREATE ROLE {self.name} LOGIN")
            admin.execute(f'GRANT CONNECT ON DATABASE "{pg.dbname}" TO {self.name}')

    def connect(self, application: str) -> psycopg.Connection:
        conn = psycopg.connect(
            make_conninfo(self.pg.url, user=self.name, application_name=application),
            autocommit=True,
            connect_timeout=5,
        )
        conn.execute("SELECT 1")
        self.conns.append(conn)
        return conn

    def drop(self) -> None:
        for conn in self.conns:
            conn.close()
        with psycopg.connect(self.pg.admin_url, autocommit=True, connect_timeout=5) as admin:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s",
                [self.name],
            )
            wait_until(
                lambda: (
                    not admin.execute(
                        "SELECT 1 FROM pg_stat_activity WHERE usename = %s", [self.name]
                    ).fetchall()
                ),
                what="role sessions gone",
            )
            admin.execute(f'REVOKE CONNECT ON DATABASE "{self.pg.dbname}" FROM {self.name}')
            admin.execute(f"DROP ROLE {self.name}")


@pytest.fixture
def role(pg) -> Iterator[Role]:
    r = Role(pg)
    try:
        yield r
    finally:
        r.drop()


def _alive(pg, pids: list[int]) -> set[int]:
    with psycopg.connect(pg.admin_url, autocommit=True, connect_timeout=5) as admin:
        rows = admin.execute(
            "SELECT pid FROM pg_stat_activity WHERE pid = ANY(%s)", [pids]
        ).fetchall()
    return {r[0] for r in rows}


def _cfg(pg, role_name: str, read_only: bool = False, url: str | None = None):
    return make_config(
        read_only=read_only,
        database={"url": url or pg.url, "app_user": role_name, "app_database": pg.dbname},
        thresholds={"idle_connection_seconds": IDLE_SECONDS},
    )


def _idle_over_threshold(pg, pids: list[int]) -> bool:
    with psycopg.connect(pg.admin_url, autocommit=True, connect_timeout=5) as admin:
        rows = admin.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE pid = ANY(%s) AND state = 'idle'"
            " AND now() - state_change > make_interval(secs => %s)",
            [pids, IDLE_SECONDS],
        ).fetchone()
    return rows[0] == len(pids)


async def test_kill_idle_terminates_exactly_the_planned_idle_connections(
    pg, role: Role, tmp_path: Path
) -> None:
    victims = [role.connect("leaky-pool") for _ in range(3)]
    in_tx = role.connect("batch")
    in_tx.execute("BEGIN")  # idle in transaction: not targeted (it would roll back work)
    in_tx.execute("SELECT 1")
    other_user = pg.connect()  # idle, but another role
    victim_pids = [c.info.backend_pid for c in victims]
    keep = [in_tx.info.backend_pid, other_user.info.backend_pid]
    wait_until(
        lambda: _idle_over_threshold(pg, victim_pids), what="victims idle over the threshold"
    )

    connect = CountingConnect()
    ctx = make_context(_cfg(pg, role.name), tmp_path / "audit.jsonl", connect=connect)
    plan = await ACTIONS["kill_idle"].plan(ctx, None)
    assert sorted(plan.params["pids"]) == sorted(victim_pids)
    assert plan.effect[0].startswith(f"terminate 3 idle connections (idle > 1s, user {role.name}")
    assert plan.expected_after["connections"] == plan.before["connections"] - 3
    assert all(any(f"pid {p} " in line for line in plan.effect) for p in victim_pids)
    assert "pg_terminate_backend" in plan.command and "password" not in plan.command

    victims[0].execute("SELECT 1")  # active again since the plan: its idle time restarts
    outcome = await executor.execute(ctx, ACTIONS["kill_idle"], plan)
    assert outcome.ok, outcome.message
    assert outcome.after["terminated"] == sorted(victim_pids[1:])
    assert outcome.after["skipped"] == [victim_pids[0]]
    assert outcome.message.startswith("terminated 2 of 3")
    wait_until(lambda: not (_alive(pg, victim_pids[1:])), what="terminated backends gone")
    assert _alive(pg, [victim_pids[0], *keep]) == {victim_pids[0], *keep}
    assert connect.calls == ["predictiq-cockpit-plan", "predictiq-cockpit-action"]

    entries = read_entries(tmp_path / "audit.jsonl")
    assert [e["event"] for e in entries] == ["intent", "result"]
    assert entries[0]["params"]["pids"] == plan.params["pids"]
    assert entries[1]["outcome"] == "ok" and entries[1]["after"]["count"] == 2
    assert verify(tmp_path / "audit.jsonl")[0]


async def test_kill_idle_with_a_gone_pid_is_not_an_error(pg, role: Role, tmp_path: Path) -> None:
    conn = role.connect("short-lived")
    pid = conn.info.backend_pid
    wait_until(lambda: _idle_over_threshold(pg, [pid]), what="idle over the threshold")
    ctx = make_context(_cfg(pg, role.name), tmp_path / "audit.jsonl")
    plan = await ACTIONS["kill_idle"].plan(ctx, None)
    assert plan.params["pids"] == [pid]
    conn.close()
    wait_until(lambda: not _alive(pg, [pid]), what="connection closed")
    outcome = await executor.execute(ctx, ACTIONS["kill_idle"], plan)
    assert outcome.ok and outcome.after["terminated"] == [] and outcome.after["skipped"] == [pid]


async def test_read_only_never_creates_a_write_capable_session(
    pg, role: Role, tmp_path: Path
) -> None:
    victims = [role.connect("leaky-pool") for _ in range(2)]
    pids = [c.info.backend_pid for c in victims]
    wait_until(lambda: _idle_over_threshold(pg, pids), what="idle over the threshold")
    connect = CountingConnect()
    ctx = make_context(
        _cfg(pg, role.name, read_only=True), tmp_path / "audit.jsonl", connect=connect
    )
    plan = await ACTIONS["kill_idle"].plan(ctx, None)  # reading is allowed: a read-only session
    assert sorted(plan.params["pids"]) == sorted(pids)
    for action_id, selection in (
        ("kill_idle", None),
        ("cancel_query", {"pid": pids[0]}),
        ("terminate_query", {"pid": pids[0]}),
    ):
        plan = await ACTIONS[action_id].plan(ctx, selection)
        outcome = await executor.execute(ctx, ACTIONS[action_id], plan)
        assert outcome.status == "denied", action_id
    with pytest.raises(ReadOnlyError):
        await ctx.clients.pg_action()
    assert "predictiq-cockpit-action" not in connect.calls
    assert set(connect.calls) == {"predictiq-cockpit-plan"}
    assert _alive(pg, pids) == set(pids)
    assert [e["event"] for e in read_entries(tmp_path / "audit.jsonl")] == ["denied"] * 3


async def test_a_dsn_password_never_reaches_the_log(pg, role: Role, tmp_path: Path) -> None:
    url = make_conninfo(pg.url, password="hunter2-very-secret")  # trust auth ignores it
    ctx = make_context(_cfg(pg, role.name, url=url), tmp_path / "audit.jsonl")
    plan = await ACTIONS["kill_idle"].plan(ctx, None)
    assert "hunter2" not in plan.command + plan.target
    await executor.execute(ctx, ACTIONS["kill_idle"], plan)
    executor.record_cancelled(ctx, plan)
    ctx.audit.record(
        "intent", context={"dsn": url, "url": "postgresql://u:hunter2-very-secret@h/db"}
    )
    text = (tmp_path / "audit.jsonl").read_text()
    assert "hunter2" not in text and len(read_entries(tmp_path / "audit.jsonl")) == 4


def _sleeper(conn: psycopg.Connection, errors: list[BaseException]) -> threading.Thread:
    def run() -> None:
        try:
            conn.execute("SELECT pg_sleep(60)")
        except psycopg.Error as exc:
            errors.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def _is_running_sleep(pg, pid: int) -> bool:
    with psycopg.connect(pg.admin_url, autocommit=True, connect_timeout=5) as admin:
        row = admin.execute(
            "SELECT state, query FROM pg_stat_activity WHERE pid = %s", [pid]
        ).fetchone()
    return bool(row) and row[0] == "active" and "pg_sleep" in row[1]


async def test_cancel_query_stops_the_statement_and_keeps_the_session(
    pg, role: Role, tmp_path: Path
) -> None:
    conn = role.connect("report")
    pid = conn.info.backend_pid
    errors: list[BaseException] = []
    thread = _sleeper(conn, errors)
    wait_until(lambda: _is_running_sleep(pg, pid), what="pg_sleep running")
    ctx = make_context(_cfg(pg, role.name), tmp_path / "audit.jsonl")
    plan = await ACTIONS["cancel_query"].plan(ctx, {"pid": pid})
    assert "pg_sleep" in plan.effect[1] and plan.command.endswith(
        f'-c "SELECT pg_cancel_backend({pid})"'
    )
    outcome = await executor.execute(ctx, ACTIONS["cancel_query"], plan)
    assert outcome.ok and outcome.after["signalled"] is True
    thread.join(timeout=10)
    assert isinstance(errors[0], psycopg.errors.QueryCanceled)
    assert _alive(pg, [pid]) == {pid}  # the session survives a cancel


async def test_terminate_query_ends_the_session(pg, role: Role, tmp_path: Path) -> None:
    conn = role.connect("report")
    pid = conn.info.backend_pid
    errors: list[BaseException] = []
    thread = _sleeper(conn, errors)
    wait_until(lambda: _is_running_sleep(pg, pid), what="pg_sleep running")
    ctx = make_context(_cfg(pg, role.name), tmp_path / "audit.jsonl")
    plan = await ACTIONS["terminate_query"].plan(ctx, {"pid": pid})
    outcome = await executor.execute(ctx, ACTIONS["terminate_query"], plan)
    assert outcome.ok
    thread.join(timeout=10)
    assert errors and isinstance(errors[0], psycopg.OperationalError)
    wait_until(lambda: not _alive(pg, [pid]), what="backend gone")
    # the same pid again: gone is not an error
    again = await executor.execute(ctx, ACTIONS["terminate_query"], plan)
    assert again.ok and again.after["signalled"] is False
    assert [e.get("outcome") for e in read_entries(tmp_path / "audit.jsonl")] == [
        None,
        "ok",
        None,
        "ok",
    ]


async def test_the_cockpits_own_and_non_client_backends_cannot_be_signalled(
    pg, role: Role, tmp_path: Path
) -> None:
    from actions.base import ActionError

    ctx = make_context(_cfg(pg, role.name), tmp_path / "audit.jsonl")
    with psycopg.connect(pg.admin_url, autocommit=True, connect_timeout=5) as admin:
        walwriter = admin.execute(
            "SELECT pid FROM pg_stat_activity WHERE backend_type <> 'client backend' LIMIT 1"
        ).fetchone()[0]
    own = psycopg.connect(
        make_conninfo(pg.url, application_name="predictiq-cockpit"), connect_timeout=5
    )
    try:
        for pid in (walwriter, own.info.backend_pid):
            with pytest.raises(ActionError, match="not a client backend"):
                await ACTIONS["terminate_query"].plan(ctx, {"pid": pid})
    finally:
        own.close()
