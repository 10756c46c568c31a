"""The team store killed and restarted mid-session (a throwaway PostgreSQL of this test's own):
both cockpits keep writing to their local logs while it is down, and once it is back every
entry is in the store exactly once and every cockpit has received the other's exactly once.
Two operators who acknowledged the same incident while apart both appear in its timeline."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from cockpit.audit.log import AuditLog, read_entries
from cockpit.config import Config, KubernetesConfig
from cockpit.incidents.engine import IncidentEngine
from cockpit.team.link import TeamLink
from tests.conftest import PgHandle
from tests.integration.team_helpers import TeamStore, team_config
from tests.waiting import wait_for

CFG = Config(kubernetes=KubernetesConfig(namespace="predictiq"))


@pytest.fixture
def store(restartable_pg: PgHandle) -> Iterator[TeamStore]:
    s = TeamStore(restartable_pg.admin_url).create()
    try:
        yield s
    finally:
        s.drop()


def _keys(entries: list[dict]) -> list[tuple[str, int]]:
    return [(str(e["session"]), int(e["seq"])) for e in entries]


def test_a_store_restart_loses_and_doubles_nothing(
    restartable_pg: PgHandle, store: TeamStore, tmp_path: Path
) -> None:
    assert restartable_pg.server is not None
    with ExitStack() as stack:
        cockpits: dict[str, tuple[TeamLink, IncidentEngine]] = {}
        for name in ("alice", "bob"):
            audit = AuditLog(tmp_path / f"{name}.jsonl")
            link = TeamLink(team_config(store.live_url), CFG, audit, operator=name)
            engine = IncidentEngine(CFG, audit=audit, ids=link.ids)
            link.start("20260101")
            stack.callback(link.stop)
            cockpits[name] = (link, engine)
        (alice, alice_engine), (bob, bob_engine) = cockpits["alice"], cockpits["bob"]
        received: dict[str, list[dict]] = {"alice": [], "bob": []}

        def pump() -> None:
            for name, (link, engine) in cockpits.items():
                got = link.sync.drain()
                received[name].extend(got)
                engine.apply_remote(got)

        wait_for(lambda: alice.status().online and bob.status().online, what="online")
        declared = alice_engine.declare("payments time out", "P1", operator="alice")
        wait_for(lambda: pump() or declared.id in {i.id for i in bob_engine.active()})
        for i in range(10):
            alice_engine.add_note(declared.id, f"alice before {i}", operator="alice")
            bob_engine.add_note(declared.id, f"bob before {i}", operator="bob")

        restartable_pg.server.stop()
        wait_for(lambda: not alice.status().online and not bob.status().online, timeout=20)
        assert alice.status().offline_since is not None and alice.status().reason
        alice_engine.acknowledge(declared.id, "alice")  # apart: each acknowledges
        bob_engine.acknowledge(declared.id, "bob")
        for i in range(10):
            alice_engine.add_note(declared.id, f"alice offline {i}", operator="alice")
            bob_engine.add_note(declared.id, f"bob offline {i}", operator="bob")
        restartable_pg.server.start()

        wait_for(lambda: alice.status().online and bob.status().online, timeout=30)
        for i in range(10):
            alice_engine.add_note(declared.id, f"alice after {i}", operator="alice")
            bob_engine.add_note(declared.id, f"bob after {i}", operator="bob")

        local = {n: read_entries(tmp_path / f"{n}.jsonl") for n in cockpits}

        def all_there() -> bool:
            pump()
            return all(
                len(received[other]) >= len(local[name])
                for name, other in (("alice", "bob"), ("bob", "alice"))
            )

        wait_for(all_there, timeout=30, what="every entry received by the other cockpit")
        for name, other in (("alice", "bob"), ("bob", "alice")):
            assert _keys(received[other]) == _keys(local[name])  # once each, in order
            stored = store.query(
                "SELECT session, seq FROM cockpit.entries WHERE session = %s ORDER BY seq",
                (local[name][0]["session"],),
            )
            assert [(str(s), int(str(q))) for s, q in stored] == _keys(local[name])

        for engine in (alice_engine, bob_engine):
            inc = engine.get(declared.id)
            acks = [t.text for t in inc.timeline if t.event == "ack"]
            assert sorted(acks) == ["acknowledged by alice", "acknowledged by bob"]
            assert len(inc.notes) == 60
