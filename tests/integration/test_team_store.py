"""The team store on a real PostgreSQL: the schema, the roles' rights, the upload after the local
fsync and the listener that brings other cockpits' entries."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg
import pytest

from cockpit.audit.log import AuditLog, read_entries
from cockpit.paging.claim import PageClaim
from cockpit.team.link import TeamPageClaim, team_line
from cockpit.team.schema import LATEST, migrate
from tests.conftest import PgHandle
from tests.integration.team_helpers import TeamStore, cockpit_sync, team_store
from tests.waiting import wait_for


@pytest.fixture(scope="module")
def store(pg: PgHandle) -> Iterator[TeamStore]:
    with team_store(pg) as s:
        yield s


def _count(store: TeamStore, where: str = "true") -> int:
    return int(str(store.query(f"SELECT count(*) FROM cockpit.entries WHERE {where}")[0][0]))


def test_init_is_idempotent_and_versioned(store: TeamStore) -> None:
    with psycopg.connect(store.owner_url, autocommit=True, connect_timeout=5) as conn:
        again = migrate(conn)
    assert again.before == again.after == LATEST and again.applied == ()
    assert store.query("SELECT max(version) FROM cockpit.schema_version") == [(LATEST,)]


def test_every_entry_is_uploaded_once_after_the_local_fsync(store: TeamStore, tmp_path: Path):
    log = tmp_path / "audit.jsonl"
    with cockpit_sync(store.live_url, log) as sync:
        for i in range(5):
            sync.audit.record("incident.note", incident_id="INC-20260101-0001", text=f"n{i}")
        session = sync.session
        wait_for(lambda: _count(store, f"session = '{session}'") == 5, what="5 entries stored")
        assert sync.status().online
    # a second run over the same log (a restart) uploads nothing twice
    with cockpit_sync(store.live_url, log) as sync:
        sync.audit.record("incident.note", incident_id="INC-20260101-0001", text="after restart")
        wait_for(lambda: _count(store, f"log_id = '{sync.log_id}'") == 6, what="6 entries")
    local = read_entries(log)
    stored = store.query(
        "SELECT session, seq, hash FROM cockpit.entries WHERE log_id = %s ORDER BY seq",
        (sync.log_id,),
    )
    assert stored == [(e["session"], e["seq"], e["hash"]) for e in local]


def test_a_cockpit_receives_what_another_one_writes(store: TeamStore, tmp_path: Path) -> None:
    with (
        cockpit_sync(store.live_url, tmp_path / "a.jsonl", operator="alice") as alice,
        cockpit_sync(store.live_url, tmp_path / "b.jsonl", operator="bob") as bob,
    ):
        wait_for(lambda: alice.status().online and bob.status().online, what="both online")
        alice.audit.record("incident.ack", incident_id="INC-X", acknowledged_by="alice")
        got: list[dict] = []
        wait_for(lambda: got.extend(bob.drain()) or any(e["event"] == "incident.ack" for e in got))
        assert not [e for e in alice.drain() if e.get("session") == alice.session]
        wait_for(lambda: {p.operator for p in bob.status().others} >= {"alice"}, what="presence")


def test_the_read_only_role_is_refused_every_write(store: TeamStore) -> None:
    writes = [
        "INSERT INTO cockpit.entries (log_id, session, seq, event, operator, time, prev, hash,"
        " body) VALUES ('l', 's', 1, 'e', 'o', now(), '', '', '{}')",
        "UPDATE cockpit.entries SET event = 'x'",
        "DELETE FROM cockpit.entries",
        "INSERT INTO cockpit.presence (session, operator, host, context, mode)"
        " VALUES ('s', 'o', 'h', 'c', 'live')",
        "INSERT INTO cockpit.leases (target, session, operator, action, expires_at)"
        " VALUES ('t', 's', 'o', 'a', now())",
        "INSERT INTO cockpit.pages (incident_id, event_action, session, operator)"
        " VALUES ('i', 'trigger', 's', 'o')",
        "SELECT * FROM cockpit.claim_incident('r', 'k', '20260101', 'o')",
        "SELECT cockpit.next_incident_number('20260101')",
        "UPDATE cockpit.incidents SET closed_at = now()",
        "DELETE FROM cockpit.presence",
        "CREATE TABLE cockpit.sneaky (x int)",
    ]
    with psycopg.connect(store.wall_url, autocommit=True, connect_timeout=5) as conn:
        for statement in writes:
            with pytest.raises(
                (psycopg.errors.InsufficientPrivilege, psycopg.errors.ReadOnlySqlTransaction)
            ):
                conn.execute(statement.encode())
        assert conn.execute("SELECT count(*) FROM cockpit.entries").fetchone() is not None


def test_the_live_role_may_not_rewrite_or_delete_entries(store: TeamStore, tmp_path: Path) -> None:
    AuditLog(tmp_path / "x.jsonl")  # nothing needed locally: the rights are the store's
    with psycopg.connect(store.live_url, autocommit=True, connect_timeout=5) as conn:
        for statement in ("UPDATE cockpit.entries SET event = 'x'", "DELETE FROM cockpit.entries"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(statement.encode())
    with psycopg.connect(store.owner_url, autocommit=True, connect_timeout=5) as conn:
        conn.execute(
            "INSERT INTO cockpit.entries (log_id, session, seq, event, operator, time, prev,"
            " hash, body) VALUES ('l', 'owner-test', 1, 'e', 'o', now(), '', '', '{}')"
        )
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
            conn.execute("UPDATE cockpit.entries SET event = 'x' WHERE session = 'owner-test'")


def test_a_wall_screen_writes_nothing_and_still_sees_who_is_on(store: TeamStore, tmp_path: Path):
    before = store.query("SELECT count(*) FROM cockpit.entries")
    with (
        cockpit_sync(store.live_url, tmp_path / "live.jsonl", operator="alice") as live,
        cockpit_sync(store.wall_url, tmp_path / "wall.jsonl", read_only=True) as wall,
    ):
        wait_for(lambda: live.status().online and wall.status().online, what="both online")
        live.audit.record("incident.ack", incident_id="INC-W", acknowledged_by="alice")
        got: list[dict] = []
        wait_for(lambda: got.extend(wall.drain()) or got, what="the wall screen hears it")
        wait_for(lambda: {p.operator for p in wall.status().others} == {"alice"}, timeout=15)
        rows = store.query("SELECT session FROM cockpit.presence")
        assert (wall.session,) not in rows and (live.session,) in rows
    after = store.query("SELECT count(*) FROM cockpit.entries")
    assert int(str(after[0][0])) == int(str(before[0][0])) + 1  # alice's ack, nothing of the wall
    assert not (tmp_path / "wall.jsonl.team").exists()


def test_exactly_one_cockpit_sends_each_page(store: TeamStore, tmp_path: Path) -> None:
    with (
        cockpit_sync(store.live_url, tmp_path / "a.jsonl", operator="a") as a,
        cockpit_sync(store.live_url, tmp_path / "b.jsonl", operator="b") as b,
        cockpit_sync(store.live_url, tmp_path / "c.jsonl", operator="c") as c,
    ):
        wait_for(lambda: all(s.status().online for s in (a, b, c)), what="all online")
        claims: list[PageClaim] = [TeamPageClaim(s) for s in (a, b, c)]
        with ThreadPoolExecutor(6) as pool:
            for event in ("trigger", "acknowledge", "resolve"):
                answers = list(
                    pool.map(lambda cl, ev=event: cl.claim("INC-20260101-0042", ev), claims * 2)
                )
                assert answers.count(True) == 1, (event, answers)
        assert not TeamPageClaim(a).claim("INC-20260101-0042", "trigger")
        assert TeamPageClaim(b).claim("INC-20260101-0043", "trigger")


def test_a_page_claim_with_the_store_away_raises(tmp_path: Path, closed_port: int) -> None:
    url = f"postgresql://nobody@127.0.0.1:{closed_port}/cockpit"
    with cockpit_sync(url, tmp_path / "a.jsonl") as a:
        wait_for(lambda: a.status().offline_since is not None, what="offline")
        status = a.status()
        assert status.offline_since is not None
        assert team_line(status, status.offline_since).startswith("team: offline since ")
        with pytest.raises(RuntimeError, match="team store offline"):
            TeamPageClaim(a).claim("INC-20260101-0001", "trigger")
