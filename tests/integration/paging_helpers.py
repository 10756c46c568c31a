"""An incident engine with a pager, against the local Events v2 server: the clock injected,
backoff waits recorded instead of slept, every outcome collected."""

from __future__ import annotations

import dataclasses
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from cockpit.audit.log import AuditLog, read_entries
from cockpit.config import Config, IncidentsConfig, KubernetesConfig, PagingConfig
from cockpit.incidents.engine import IncidentEngine
from cockpit.incidents.model import Incident
from cockpit.paging.claim import PageClaim
from cockpit.paging.delivery import Backoff
from cockpit.paging.pager import Pager
from cockpit.paging.report import PageReport
from cockpit.paging.wiring import pager_for
from cockpit.state import CockpitState
from tests.integration.pager_server import PagerServer
from tests.unit.incident_data import T0, api
from tests.waiting import wait_for

ROUTING_KEY = "R0UT1NGKEY0123456789abcdefABCDEF"  # 32 characters, as PagerDuty's are
SOURCE = "lab-staging/predictiq-lab"


@dataclass
class Waits:
    """The backoff waits the pager asked for (returned at once: no test sleeps)."""

    seconds: list[float] = field(default_factory=list)

    async def __call__(self, seconds: float) -> None:
        self.seconds.append(seconds)


@dataclass
class Paging:
    """An engine fed like the app feeds it, its pager, the reports and the waits."""

    engine: IncidentEngine
    pager: Pager
    audit: AuditLog
    now: list[datetime]
    waits: Waits
    reports: list[PageReport]
    state: CockpitState = field(default_factory=CockpitState)

    def at(self, moment: datetime) -> None:
        """Let time pass to `moment` (the app's clock tick)."""
        self.now[0] = moment
        self.engine.tick(moment)

    def api_down(self, times: int = 2) -> Incident:
        """The API answers 503 `times` samples in a row: a P1 opens (open_after_samples=2)."""
        for _ in range(times):
            self.state.update("api", api(ok=False))
            self.engine.evaluate(self.state, self.now[0])
        (incident,) = self.engine.active()
        return incident

    def settled(self) -> None:
        """Wait until every page decided so far has been sent (or given up)."""
        wait_for(lambda: self.pager.idle, timeout=15, what="the pager to finish")

    def audit_pages(self) -> list[dict]:
        return [e for e in read_entries(self.audit.path) if str(e["event"]).startswith("page.")]


def paging_config(server: PagerServer | None, **paging: object) -> Config:
    """A live config whose [paging] points at the local server."""
    options: dict[str, object] = {"after_minutes": 5.0, "max_attempts": 4, "timeout_seconds": 2}
    if server is not None:
        options.update(events_url=server.url, routing_key=ROUTING_KEY)
    options.update(paging)
    return Config(
        kubernetes=KubernetesConfig(namespace="predictiq"),
        incidents=IncidentsConfig(open_after_samples=2, close_after_samples=2),
        paging=PagingConfig(**options),
    )


def make_paging(
    tmp_path: Path,
    cfg: Config,
    *,
    claim: PageClaim | None = None,
    audit: AuditLog | None = None,
    start: datetime = T0,
) -> Paging:
    """Engine + started pager; stop it with `pager.close()` (the fixture does)."""
    now = [start]
    audit = audit or AuditLog(tmp_path / "state" / "audit.jsonl")
    reports: list[PageReport] = []
    lock = threading.Lock()

    def report(r: PageReport) -> None:
        with lock:
            reports.append(r)

    waits = Waits()
    pager = pager_for(
        cfg,
        audit=audit,
        report=report,
        source=lambda: SOURCE,
        claim=claim,
        clock=lambda: now[0],
        backoff=Backoff(first=1.0, cap=30.0),
        sleep=waits,
    )
    assert pager is not None
    engine = IncidentEngine(cfg, audit=audit, clock=lambda: now[0], watches=[pager])
    pager.start()
    return Paging(engine, pager, audit, now, waits, reports)


def minutes(n: float) -> timedelta:
    return timedelta(minutes=n)


def with_paging(cfg: Config, **changes: object) -> Config:
    """`cfg` with some [paging] keys changed."""
    assert cfg.paging is not None
    return dataclasses.replace(cfg, paging=dataclasses.replace(cfg.paging, **changes))
