"""The issue's done-criterion per drill: inject it into a lab, see the incident with its expected
severity within two refresh intervals through the real sources and the incident engine, apply the
runbook's fix through the executor where the cockpit has one (else clear the drill), and see the
incident close.

Rounds are paced at the lab's refresh interval, as the scheduler paces them: rates (hit rate,
429/s) are measured between samples, so the interval is part of what is tested.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from actions import executor
from actions.base import ActionContext
from actions.clients import Clients
from actions.registry import ACTIONS
from cockpit.audit.log import AuditLog
from cockpit.incidents.engine import IncidentEngine
from cockpit.lab.drills import DRILLS, DRILLS_BY_NAME
from cockpit.lab.lab import Lab
from cockpit.sources.kube.client import resolve_target
from cockpit.sources.registry import build_sources
from cockpit.state import CockpitState
from tests.integration.lab_helpers import lab_config, started_lab

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]
REFRESH = 1.0
SLACK = 3.0  # collection time of the rounds themselves (TLS handshakes, kube lists)


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    with started_lab(tmp_path_factory.mktemp("incidents"), refresh_seconds=REFRESH) as running:
        yield running


class Cockpit:
    """The cockpit's loop without a screen: sources -> state -> incident engine."""

    def __init__(self, lab: Lab, audit_path: Path) -> None:
        self.cfg = lab_config(lab)
        self.sources, failures = build_sources(self.cfg)
        assert not failures, failures
        self.state = CockpitState(interval_seconds=REFRESH)
        self.audit = AuditLog(audit_path, "drill-test")
        self.engine = IncidentEngine(self.cfg, audit=self.audit)

    async def round(self) -> list[Any]:
        results = await asyncio.gather(*(s.collect() for s in self.sources.values()))
        for name, result in zip(self.sources, results, strict=True):
            self.state.update(name, result)
        return self.engine.evaluate(self.state)

    async def until(self, predicate, timeout: float) -> tuple[list[Any], float]:
        started = time.monotonic()
        while True:
            tick = time.monotonic()
            incidents = await self.round()
            if predicate(incidents):
                return incidents, time.monotonic() - started
            assert time.monotonic() - started < timeout, f"not within {timeout:.0f} s: {incidents}"
            await asyncio.sleep(max(0.0, REFRESH - (time.monotonic() - tick)))  # the cadence

    def context(self, incident_id: str) -> ActionContext:
        return ActionContext(
            cfg=self.cfg,
            state=self.state,
            audit=self.audit,
            clients=Clients(self.cfg),
            target=resolve_target(self.cfg.kubernetes),
            incident_id=incident_id,
        )

    async def aclose(self) -> None:
        for source in self.sources.values():
            await source.aclose()


def _selection(cockpit: Cockpit, drill: str) -> dict[str, Any] | None:
    if drill == "slow-query":
        db = cockpit.state.latest("database")
        return {"pid": db.longest_queries[0].pid}
    if drill == "cpu-spike":
        return {"replicas": 8}
    if drill == "rate-limit-storm":  # the storm is twice the limit: raise it well above
        return {"set": {"RATE_LIMIT_GLOBAL": "200"}}
    return None  # oom-crashloop: Resources proposes the next memory step up


FIXES = {
    "connection-exhaustion": "kill_idle",
    "slow-query": "cancel_query",
    "cache-miss-storm": "warm_cache",
    "cpu-spike": "scale",
    "oom-crashloop": "resources",  # a restart alone would crash-loop again: it needs memory
    "rate-limit-storm": "set_env",
}


async def _restore_rate_limit(cockpit: Cockpit, lab: Lab) -> None:
    ctx = cockpit.context("")
    ctx.incident_id = None
    selection = {"set": {"RATE_LIMIT_GLOBAL": f"{lab.rate_limit_rps:g}"}}
    plan = await ACTIONS["set_env"].plan(ctx, selection)
    if not plan.nothing_to_do:
        assert (await executor.execute(ctx, ACTIONS["set_env"], plan)).ok


@pytest.mark.parametrize("name", [d.name for d in DRILLS])
async def test_drill_is_detected_fixed_and_recovers(lab: Lab, name: str, tmp_path: Path) -> None:
    drill = DRILLS_BY_NAME[name]
    cockpit = Cockpit(lab, tmp_path / "audit.jsonl")
    try:
        await cockpit.until(lambda incs: not [i for i in incs if i.rule == drill.rule], 20)
        lab.drills.inject(name)
        try:
            incidents, took = await cockpit.until(
                lambda incs: [i for i in incs if i.rule == drill.rule], 2 * REFRESH + SLACK + 6
            )
            found = next(i for i in incidents if i.rule == drill.rule)
            assert took <= 2 * REFRESH + SLACK, f"{name} took {took:.1f} s to open an incident"
            assert found.severity == drill.severity, (
                found.severity,
                getattr(found, "evidence", None),
            )
            if name == "pod-5xx":  # the lab scrapes every pod: the finding names the bad one
                assert found.evidence["pods_with_most_5xx"][0] == lab.api.pod_metrics.error_pod
            if name == "connection-exhaustion":  # kill-idle ends only connections idle long enough
                # the count over every backend (full rows come for the table's window only)
                await cockpit.until(
                    lambda _: cockpit.state.latest("database").idle_over_count >= 40, 15
                )
            if name in FIXES:
                action = ACTIONS[FIXES[name]]
                ctx = cockpit.context(found.id)
                plan = await action.plan(ctx, _selection(cockpit, name))
                outcome = await executor.execute(ctx, action, plan)
                assert outcome.status == "ok", outcome
            else:
                lab.drills.clear(name)
            await cockpit.until(lambda incs: not [i for i in incs if i.rule == drill.rule], 40)
        finally:
            lab.drills.clear(name)
            if name == "cpu-spike":
                lab.kube.scale_to(lab.replicas)
            if name == "rate-limit-storm":  # the next tests run against the lab's own limit
                await _restore_rate_limit(cockpit, lab)
    finally:
        await cockpit.aclose()


async def test_volume_filling_opens_p3_then_p2_before_disk_pressure_and_recovers(
    lab: Lab, tmp_path: Path
) -> None:
    """The lab reads kubelet summaries every refresh (disk_seconds = the refresh): the P3 is
    there within two refreshes of the volume passing 85 % (plus the samples the engine waits
    for), the P2 within two of it passing 95 %, and clearing the drill (old logs cleaned)
    closes the incident."""
    from cockpit.lab.diskdrill import FILL_STEPS

    cockpit = Cockpit(lab, tmp_path / "audit.jsonl")
    assert cockpit.cfg.refresh.disk_seconds == REFRESH
    rounds = 2 + cockpit.cfg.incidents.open_after_samples + 1  # two disk refreshes, then the
    # engine's samples, and one round of slack for a refresh under way

    async def disk_incident_within(n: int, severity: str) -> Any:
        found = None
        for _ in range(n):
            tick = time.monotonic()
            incidents = await cockpit.round()
            found = next((i for i in incidents if i.rule == "disk"), None)
            if found is not None and found.severity == severity:
                return found
            await asyncio.sleep(max(0.0, REFRESH - (time.monotonic() - tick)))  # the cadence
        kube = cockpit.state.latest("kubernetes")
        raise AssertionError(f"no {severity} disk incident within {n} rounds: {found}; {kube}")

    def filled() -> float:
        return max(lab.kube.disk.fills.values(), default=0.0)

    try:
        await cockpit.until(lambda incs: not [i for i in incs if i.rule == "disk"], 20)
        lab.drills.inject("volume-filling")
        assert filled() == FILL_STEPS[0] > 0.85
        p3 = await disk_incident_within(rounds, "P3")
        assert "nodes" not in p3.evidence and p3.evidence["worst_volume"] == "data"
        pod = p3.evidence["worst_pod"]
        assert lab.kube.disk.fills[(lab.kube.namespace, pod, "data")] >= 0.85
        await cockpit.until(lambda _: filled() >= 0.95, 30)
        p2 = await disk_incident_within(rounds, "P2")
        assert p2.id == p3.id and p2.evidence["worst_pod"] == pod  # escalated, not a second one
        assert p2.evidence["worst_percent"] >= 95
        lab.drills.clear("volume-filling")
        assert filled() == 0.0
        await cockpit.until(lambda incs: not [i for i in incs if i.rule == "disk"], 40)
    finally:
        lab.drills.clear("volume-filling")
        await cockpit.aclose()
