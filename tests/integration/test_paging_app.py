"""The cockpit app pages through the local Events v2 server when `[paging]` is configured, shows
"paged PagerDuty 10:42:13" in the incident's timeline, and a read-only cockpit (a wall screen)
never pages."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC

import pytest

from cockpit.audit.log import AuditLog, read_entries
from cockpit.config import PagingConfig
from tests.integration.pager_server import PagerServer
from tests.integration.paging_helpers import ROUTING_KEY
from tests.ui.fixtures import api_snapshot, fixed_sources, frozen_clock, snapshot_config, wait_until
from widgets.app import CockpitApp

API_DOWN = replace(
    api_snapshot(),
    health_ok=False,
    health_status_code=503,
    health_error="HTTP 503",
    health_summary="database: down",
)


@pytest.fixture
def server() -> Iterator[PagerServer]:
    with PagerServer(ROUTING_KEY) as s:
        yield s


def _app(server: PagerServer, tmp_path, *, read_only: bool) -> CockpitApp:
    paging = PagingConfig(events_url=server.url, routing_key=ROUTING_KEY, after_minutes=0.0)
    cfg = replace(snapshot_config(read_only=read_only), paging=paging)
    return CockpitApp(
        cfg,
        sources=fixed_sources(api=API_DOWN),
        clock=frozen_clock,
        audit=AuditLog(tmp_path / "audit.jsonl"),
        local_tz=UTC,
    )


def _api_down(app: CockpitApp):
    return next((i for i in app.incidents if i.rule == "api_down"), None)


async def test_the_app_pages_a_p1_and_its_timeline_says_so(tmp_path, server):
    app = _app(server, tmp_path, read_only=False)
    async with app.run_test(size=(120, 36)) as pilot:
        await wait_until(pilot, lambda: _api_down(app) is not None)
        incident = _api_down(app)
        assert incident is not None and incident.severity == "P1"
        await wait_until(
            pilot,
            lambda: any(b["dedup_key"] == incident.id for b in server.accepted()),
            timeout=15,
        )
        await wait_until(
            pilot,
            lambda: any(t.event == "page" for t in app.engine.get(incident.id).timeline),
            timeout=15,
        )
        lines = [t.text for t in app.engine.get(incident.id).timeline if t.event == "page"]
        assert lines == ["paged PagerDuty 10:42:13"]
    trigger = next(b for b in server.accepted() if b["dedup_key"] == incident.id)
    assert trigger["payload"]["severity"] == "critical"
    assert trigger["payload"]["source"].startswith("kind-prod-eu")
    pages = [e for e in read_entries(tmp_path / "audit.jsonl") if e["event"] == "page.trigger"]
    assert incident.id in {e["incident_id"] for e in pages}


async def test_a_read_only_cockpit_never_pages(tmp_path, server):
    app = _app(server, tmp_path, read_only=True)
    async with app.run_test(size=(120, 36)) as pilot:
        await wait_until(pilot, lambda: _api_down(app) is not None)
        await wait_until(pilot, lambda: app.sources_ready)
        for _ in range(3):  # several evaluations and ticks with the P1 open at 0 minutes
            app.engine.tick(frozen_clock())
            await pilot.pause()
        assert app.pager is None and app.engine.watches == []
    assert server.events() == []
    entries = read_entries(tmp_path / "audit.jsonl")  # (incident.detected is recorded today)
    assert not [e for e in entries if str(e["event"]).startswith("page.")]
