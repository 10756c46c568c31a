"""Two and three cockpits (headless engines) on one team store: one incident for one finding,
and each one's acknowledgement, note, severity and declared incident seen by the others."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest

from cockpit.audit.log import AuditLog
from cockpit.config import Config, IncidentsConfig, KubernetesConfig
from cockpit.incidents.engine import IncidentEngine
from cockpit.incidents.model import Incident
from cockpit.state import CockpitState
from cockpit.team.link import TeamLink
from tests.conftest import PgHandle
from tests.integration.team_helpers import TeamStore, team_config, team_store
from tests.unit.incident_data import T0, api
from tests.waiting import wait_for

CFG = Config(
    kubernetes=KubernetesConfig(namespace="predictiq"),
    incidents=IncidentsConfig(open_after_samples=2, close_after_samples=3),
)


@dataclass
class Cockpit:
    """One headless cockpit: an engine fed like the app feeds it, linked to the team store."""

    name: str
    engine: IncidentEngine
    link: TeamLink
    state: CockpitState
    now: list

    def feed_api(self, ok: bool) -> list[Incident]:
        self.now[0] += timedelta(seconds=2)
        self.state.update("api", api(ok=ok))
        self.link.apply(self.engine)
        return self.engine.evaluate(self.state, self.now[0])

    def pump(self) -> list[Incident]:
        """Apply what the others did (what the app does on each wake-up)."""
        self.link.apply(self.engine)
        return self.engine.active()


def make_cockpit(
    stack: ExitStack, url: str, tmp_path: Path, name: str, *, read_only: bool = False
) -> Cockpit:
    cfg = dataclasses.replace(CFG, read_only=read_only)
    audit = AuditLog(tmp_path / f"{name}.jsonl")
    link = TeamLink(team_config(url), cfg, audit, operator=name)
    now = [T0]
    engine = IncidentEngine(cfg, audit=audit, clock=lambda: now[0], ids=link.ids)
    link.start(T0.strftime("%Y%m%d"))
    stack.callback(link.stop)
    wait_for(lambda: link.status().online, what=f"{name} online")
    return Cockpit(name, engine, link, CockpitState(), now)


@pytest.fixture
def store(pg: PgHandle) -> Iterator[TeamStore]:
    with team_store(pg) as s:
        yield s


def _only(cockpit: Cockpit) -> Incident | None:
    active = cockpit.pump()
    return active[0] if len(active) == 1 else None


def test_three_cockpits_share_one_incident_and_see_each_others_steps(
    store: TeamStore, tmp_path: Path
) -> None:
    with ExitStack() as stack:
        alice, bob, carol = (
            make_cockpit(stack, store.live_url, tmp_path, n) for n in ("alice", "bob", "carol")
        )
        # the API goes down: every cockpit detects it; the first opens the incident
        wait_for(lambda: alice.feed_api(ok=False), what="alice opens the incident")
        first = alice.engine.active()[0]
        wait_for(lambda: bob.feed_api(ok=False), what="bob attaches")
        wait_for(lambda: carol.feed_api(ok=False), what="carol attaches")
        assert {c.engine.active()[0].id for c in (alice, bob, carol)} == {first.id}
        rows = store.query(
            "SELECT id FROM cockpit.incidents WHERE rule = 'api_down' AND closed_at IS NULL"
        )
        assert rows == [(first.id,)]

        alice.engine.acknowledge(first.id, "alice")
        for other in (bob, carol):
            wait_for(
                lambda o=other: (i := _only(o)) is not None and i.acknowledged_by == "alice",
                what=f"{other.name} sees alice's acknowledgement",
            )
        bob.engine.add_note(first.id, "rolling back 1.4.2", operator="bob")
        bob.engine.set_status(first.id, "Identified", operator="bob")
        carol.engine.set_severity(first.id, "P2", operator="carol")
        for other in (alice, carol):
            wait_for(
                lambda o=other: (
                    (i := _only(o)) is not None
                    and [(n.author, n.text) for n in i.notes] == [("bob", "rolling back 1.4.2")]
                    and i.status == "Identified"
                ),
                what=f"{other.name} sees bob's note and status",
            )
        for other in (alice, bob):
            wait_for(
                lambda o=other: (i := _only(o)) is not None and i.severity == "P2",
                what=f"{other.name} sees carol's severity",
            )

        declared = carol.engine.declare("checkout fails for EU users", "P2", operator="carol")
        assert declared.id != first.id
        for other in (alice, bob):
            wait_for(
                lambda o=other: declared.id in {i.id for i in o.pump()},
                what=f"{other.name} sees the declared incident",
            )
            assert o_title(other, declared.id) == "checkout fails for EU users"

        # resolved on one, resolved on all (the store's row is closed too)
        alice.engine.resolve(first.id, "alice")
        for other in (bob, carol):
            wait_for(
                lambda o=other: first.id not in {i.id for i in o.pump()},
                what=f"{other.name} sees the resolution",
            )
        wait_for(
            lambda: (
                store.query(
                    "SELECT closed_at IS NOT NULL FROM cockpit.incidents WHERE id = %s", (first.id,)
                )
                == [(True,)]
            ),
            what="the store's incident closed",
        )


def o_title(cockpit: Cockpit, incident_id: str) -> str:
    return cockpit.engine.get(incident_id).title


def test_two_cockpits_detecting_at_once_open_one_incident(store: TeamStore, tmp_path: Path):
    with ExitStack() as stack:
        a, b = (make_cockpit(stack, store.live_url, tmp_path, n) for n in ("dora", "erik"))
        for _ in range(2):  # both reach the threshold before either has heard of the other
            a.feed_api(ok=False)
            b.feed_api(ok=False)
        wait_for(lambda: a.feed_api(ok=False) and b.feed_api(ok=False), what="both open it")
        assert a.engine.active()[0].id == b.engine.active()[0].id
        assert len(store.query("SELECT id FROM cockpit.incidents WHERE rule = 'api_down'")) == 1


def test_automatic_severity_changes_stay_with_the_cockpit_that_saw_them(
    store: TeamStore, tmp_path: Path
) -> None:
    with ExitStack() as stack:
        a, b = (make_cockpit(stack, store.live_url, tmp_path, n) for n in ("fay", "gus"))
        declared = a.engine.declare("latency", "P3", operator="fay")
        wait_for(lambda: declared.id in {i.id for i in b.pump()}, what="gus has it")
        assert a.engine.audit is not None  # an automatic change, as the engine records one
        a.engine.audit.record(
            "incident.severity", incident_id=declared.id, auto=True, before="P3", after="P2"
        )
        a.engine.set_severity(declared.id, "P1", operator="fay")
        wait_for(lambda: b.pump() is not None and b.engine.get(declared.id).severity == "P1")
        lines = [t.text for t in b.engine.get(declared.id).timeline if t.event == "severity"]
        assert lines == ["P3 -> P1 (fay)"]


def test_a_restarted_cockpit_keeps_its_acknowledgement_of_anothers_incident(
    store: TeamStore, tmp_path: Path
) -> None:
    with ExitStack() as stack:
        opener, acker = (make_cockpit(stack, store.live_url, tmp_path, n) for n in ("hal", "ivy"))
        declared = opener.engine.declare("queue backlog", "P2", operator="hal")
        wait_for(lambda: declared.id in {i.id for i in acker.pump()}, what="ivy has it")
        acker.engine.acknowledge(declared.id, "ivy")
        acker.engine.add_note(declared.id, "draining by hand", operator="ivy")
        wait_for(lambda: not acker.link.status().pending_upload, what="ivy's steps uploaded")
        acker.link.stop()
        # ivy's cockpit starts again: its trail has its own steps, not the incident's opening
        again = make_cockpit(stack, store.live_url, tmp_path, "ivy")
        wait_for(lambda: declared.id in {i.id for i in again.pump()}, what="restored")
        inc = again.engine.get(declared.id)
        assert inc.acknowledged_by == "ivy"
        assert [n.text for n in inc.notes] == ["draining by hand"]
        assert [t.event for t in inc.timeline].count("ack") == 1


def test_a_wall_screen_shows_the_live_cockpits_incident_not_one_of_its_own(
    store: TeamStore, tmp_path: Path
) -> None:
    with ExitStack() as stack:
        live = make_cockpit(stack, store.live_url, tmp_path, "jo")
        wall = make_cockpit(stack, store.wall_url, tmp_path, "wall", read_only=True)
        wait_for(lambda: any(p.mode == "live" for p in wall.link.status().others), timeout=15)
        for _ in range(3):  # the wall sees the finding first: it waits for the live cockpit's
            wall.feed_api(ok=False)
        assert wall.engine.active() == []
        wait_for(lambda: live.feed_api(ok=False), what="jo opens it")
        wait_for(lambda: wall.feed_api(ok=False), what="the wall shows it")
        assert [i.id for i in wall.engine.active()] == [live.engine.active()[0].id]
