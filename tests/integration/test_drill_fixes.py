"""The runbook's template fixes end their drills for real, in a running lab, through the
executor: raising RATE_LIMIT_GLOBAL (Set environment) ends the 429 storm because the API
simulator enforces the limit its pods were started with; raising the memory limit (Resources)
ends the OOM crash loop, which a restart alone does not."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from actions import executor
from actions.base import ActionContext, Outcome
from actions.clients import Clients
from actions.registry import ACTIONS
from actions.restart import follow_rollout
from cockpit.audit.log import AuditLog, read_entries
from cockpit.lab.lab import Lab
from cockpit.sources.kube.client import resolve_target
from cockpit.state import CockpitState
from tests.integration.lab_helpers import lab_config, started_lab, wait_for
from tests.integration.test_drills import api_metric, injected

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    with started_lab(tmp_path_factory.mktemp("fixes")) as running:
        yield running


def _context(lab: Lab, audit: Path) -> ActionContext:
    cfg = lab_config(lab)
    assert cfg.kubernetes is not None
    return ActionContext(
        cfg=cfg,
        state=CockpitState(),
        audit=AuditLog(audit, "drill-fix-test"),
        clients=Clients(cfg),
        target=resolve_target(cfg.kubernetes),
    )


def _apply(ctx: ActionContext, action_id: str, selection: dict[str, Any] | None) -> Outcome:
    async def run() -> Outcome:
        action = ACTIONS[action_id]
        plan = await action.plan(ctx, selection)
        outcome = await executor.execute(ctx, action, plan)
        if outcome.ok and action_id != "restart":
            done, last = await follow_rollout(ctx, lambda _line: None, poll_seconds=0.2)
            assert done, last
        return outcome

    return asyncio.run(run())


def _rejections_stopped(lab: Lab) -> None:
    last = [api_metric(lab, "rate_limit_rejections_total")]

    def steady() -> bool:
        now = api_metric(lab, "rate_limit_rejections_total")
        same, last[0] = now == last[0], now
        return same

    wait_for(steady, timeout=30, interval=1.0, what="no new 429s")


def test_raising_rate_limit_global_ends_the_429_storm(lab: Lab, tmp_path: Path) -> None:
    ctx = _context(lab, tmp_path / "audit.jsonl")
    assert lab.api is not None
    try:
        with injected(lab, "rate-limit-storm"):
            before = api_metric(lab, "rate_limit_rejections_total")
            wait_for(
                lambda: api_metric(lab, "rate_limit_rejections_total") - before >= 20,
                what="the storm's 429s",
            )
            assert lab.api.faults().rate_limit_rps == lab.rate_limit_rps
            outcome = _apply(ctx, "set_env", {"set": {"RATE_LIMIT_GLOBAL": "200"}})
            assert outcome.ok, outcome.message
            # the pods run with the new env, and the API enforces what they were started with
            wait_for(lambda: lab.api.faults().rate_limit_rps == 200, what="the limit at 200")
            _rejections_stopped(lab)  # the storm goes on, the 429s do not
            assert lab.api.faults().traffic_rps == 2 * lab.rate_limit_rps
        events = [(e["event"], e.get("action")) for e in read_entries(tmp_path / "audit.jsonl")]
        assert events == [("intent", "set_env"), ("result", "set_env")]
    finally:
        _apply(ctx, "set_env", {"set": {"RATE_LIMIT_GLOBAL": f"{lab.rate_limit_rps:g}"}})
    wait_for(lambda: lab.api.faults().rate_limit_rps == lab.rate_limit_rps, what="limit restored")


def _crash_looping(lab: Lab) -> list[str]:
    assert lab.kube is not None
    out = []
    for pod in lab.kube.pods():
        for status in pod["status"].get("containerStatuses", []):
            waiting = status.get("state", {}).get("waiting", {})
            if waiting.get("reason") == "CrashLoopBackOff":
                out.append(pod["metadata"]["name"])
    return out


def _memory_limit(pod: dict[str, Any]) -> str:
    return pod["spec"]["containers"][0]["resources"]["limits"]["memory"]


def test_raising_the_memory_limit_ends_the_oom_crash_loop_a_restart_does_not(
    lab: Lab, tmp_path: Path
) -> None:
    ctx = _context(lab, tmp_path / "audit.jsonl")
    assert lab.kube is not None
    kube = lab.kube
    with injected(lab, "oom-crashloop"):
        first = wait_for(lambda: _crash_looping(lab), what="a crash-looping pod")
        assert _apply(ctx, "restart", None).ok
        # the restart's first new pod has the same limit: it is OOM-killed too, the rollout stalls
        wait_for(
            lambda: [p for p in _crash_looping(lab) if p not in first],
            timeout=20,
            what="a restarted pod crash-looping again",
        )
        outcome = _apply(ctx, "resources", None)  # the proposal: 1Gi → 2Gi
        assert outcome.ok, outcome.message
        assert outcome.after["resources"]["limits"] == {"memory": "2Gi"}
        wait_for(
            lambda: (
                not _crash_looping(lab)
                and all(_memory_limit(p) == "2Gi" for p in kube.pods())
                and len(kube.pods()) == lab.replicas
            ),
            timeout=30,
            what="every pod at 2Gi and none crash-looping",
        )
