"""The cockpit app in team mode, with another (headless) cockpit on the same team store: who else
is on call, their declared incident and note shown here, this one's acknowledgement shown there,
and the team store going away (through a proxy) and coming back: the banner says offline since
when and why, the app keeps working, and what it did meanwhile reaches the other cockpit."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import UTC
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from textual.widgets import Static

from cockpit.audit.log import AuditLog
from cockpit.config import Config, TeamConfig
from cockpit.incidents.engine import IncidentEngine
from cockpit.models import utcnow
from cockpit.team.link import TeamLink
from tests.conftest import PgHandle
from tests.faultproxy import FaultProxy
from tests.integration.team_helpers import TeamStore, team_config, team_store, with_db_and_user
from tests.ui.fixtures import fixed_sources, frozen_clock, make_config, wait_until
from widgets.app import CockpitApp


@pytest.fixture
def store(pg: PgHandle) -> Iterator[TeamStore]:
    with team_store(pg) as s:
        yield s


@pytest.fixture
def proxy(store: TeamStore) -> Iterator[FaultProxy]:
    parts = urlsplit(store.admin_url)
    with FaultProxy(parts.hostname or "127.0.0.1", parts.port or 5432) as p:
        yield p


def _via(proxy: FaultProxy, store: TeamStore) -> str:
    through = f"postgresql://127.0.0.1:{proxy.port}/x"
    return with_db_and_user(through, store.dbname, store.live_role, store.password)


def _team_line(app: CockpitApp) -> str:
    return str(app.main.query_one("#team-line", Static).render())


def _config(team: TeamConfig) -> Config:
    return dataclasses.replace(make_config(), team=team)


async def test_two_cockpits_and_a_store_that_goes_away(
    store: TeamStore, proxy: FaultProxy, tmp_path: Path
) -> None:
    bob_audit = AuditLog(tmp_path / "bob.jsonl")
    bob = TeamLink(team_config(store.live_url), _config(team_config(store.live_url)), bob_audit,
                   operator="bob")  # fmt: skip
    bob_engine = IncidentEngine(_config(team_config(store.live_url)), audit=bob_audit, ids=bob.ids)
    bob.start(utcnow().strftime("%Y%m%d"))
    team = team_config(_via(proxy, store))
    link = TeamLink(team, _config(team), AuditLog(tmp_path / "alice.jsonl"), operator="alice")
    app = CockpitApp(
        _config(team),
        sources=fixed_sources(),
        clock=frozen_clock,
        local_tz=UTC,
        audit=link.sync.audit,
        team=link,
    )
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_until(pilot, lambda: "on call: bob@" in _team_line(app), timeout=15)

            declared = bob_engine.declare("checkout fails for EU users", "P2", operator="bob")
            await wait_until(
                pilot, lambda: declared.id in {i.id for i in app.engine.active()}, timeout=10
            )
            app.engine.acknowledge(declared.id, "alice")

            def bob_sees_the_ack() -> bool:
                bob.apply(bob_engine)
                return bob_engine.get(declared.id).acknowledged_by == "alice"

            await wait_until(pilot, bob_sees_the_ack, timeout=10)

            proxy.set_mode("down")
            await wait_until(pilot, lambda: "team: offline since" in _team_line(app), timeout=15)
            assert " — " in _team_line(app)
            assert store.password not in _team_line(app)
            app.engine.add_note(declared.id, "failover to eu-west-2", operator="alice")
            bob_engine.add_note(declared.id, "bob was here too", operator="bob")
            proxy.set_mode("pass")
            await wait_until(pilot, lambda: "on call: bob@" in _team_line(app), timeout=20)

            def notes(engine: IncidentEngine) -> list[str]:
                return sorted(n.text for n in engine.get(declared.id).notes)

            def bob_has_both() -> bool:
                bob.apply(bob_engine)
                return notes(bob_engine) == ["bob was here too", "failover to eu-west-2"]

            await wait_until(pilot, bob_has_both, timeout=15)
            await wait_until(
                pilot,
                lambda: notes(app.engine) == ["bob was here too", "failover to eu-west-2"],
                timeout=15,
            )
    finally:
        bob.stop()
    counts = store.query(
        "SELECT count(*), count(DISTINCT (session, seq)) FROM cockpit.entries"
        " WHERE event = 'incident.note'"
    )
    assert counts == [(2, 2)]
