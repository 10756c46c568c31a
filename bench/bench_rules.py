"""One evaluation of the incident rules at 20,000 pods (issue 21: ≤ 20 ms), in CPU time.

The state holds a Kubernetes snapshot of `pods` pods (a few hundred with usage over their
limits, a few OOM-killed and crash-looping, as a busy cluster has) and one snapshot of every
other source. Timed, with `time.process_time` (the load of other processes does not count):

- `first`: the engine's evaluation of a new 20,000-pod snapshot whose pods it has never seen;
- `churn`: a new snapshot in which 100 pods changed (one refresh at 50 events/s), the rest the
  same PodInfo objects, as the watch cache delivers them;
- `other source`: a new sample of another source only (certificates), the pods unchanged.

Run alone: .venv/bin/python bench/bench_rules.py [pods]; run.py calls `run()`.
"""

from __future__ import annotations

import statistics
import sys
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.figures import Figure
from cockpit.config import Config
from cockpit.incidents.engine import IncidentEngine
from cockpit.models import (
    CertificatesSnapshot,
    ContainerInfo,
    DeploymentInfo,
    KubeSnapshot,
    PodInfo,
)
from cockpit.state import CockpitState

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
NS = "predictiq"


def pod(i: int, at: datetime, restarts: int = 0) -> PodInfo:
    """Pod number `i`: mostly healthy, every 97th hot on CPU, every 1,009th OOM-killed and
    crash-looping."""
    oom = i % 1009 == 0
    container = ContainerInfo(
        name="api",
        ready=not oom,
        restart_count=restarts + (5 if oom else 0),
        state="waiting" if oom else "running",
        reason="CrashLoopBackOff" if oom else "",
        last_state_reason="OOMKilled" if oom else "",
        last_finished_at=at - timedelta(seconds=30) if oom else None,
    )
    return PodInfo(
        uid=f"uid-{i}",
        name=f"predictiq-api-7d9f8c-{i:05d}",
        namespace=NS,
        phase="Running",
        ready=0 if oom else 1,
        total=1,
        restarts=container.restart_count,
        reason="CrashLoopBackOff" if oom else "",
        node=f"node-{i % 40}",
        created_at=at - timedelta(hours=3),
        containers=(container,),
        cpu_m=450.0 if i % 97 == 0 else 120.0 + i % 50,
        memory_bytes=200 * 2**20 + i % 1000,
        cpu_limit_m=500.0,
        memory_limit=512 * 2**20,
        cpu_request_m=250.0,
        memory_request=256 * 2**20,
    )


def kube(pods: tuple[PodInfo, ...], at: datetime) -> KubeSnapshot:
    """A snapshot of the deployment with these pods."""
    n = len(pods)
    return KubeSnapshot(
        collected_at=at,
        context="prod",
        cluster="prod",
        namespace=NS,
        selector="app=predictiq-api",
        deployment=DeploymentInfo("predictiq-api", NS, n, n, n, n, False, "complete"),
        pods=pods,
    )


def other(at: datetime) -> CertificatesSnapshot:
    """A sample of another source (no endpoints: only its arrival matters here)."""
    return CertificatesSnapshot(collected_at=at, certificates=())


def cpu_ms(fn: Any) -> float:
    """CPU milliseconds of one call."""
    started = time.process_time()
    fn()
    return 1000 * (time.process_time() - started)


def measure(count: int = 20_000, rounds: int = 20) -> dict[str, Any]:
    """Median CPU ms of each kind of evaluation (see the module doc)."""
    state = CockpitState(15, 2.0)
    engine = IncidentEngine(Config(), clock=lambda: NOW)
    at = NOW
    pods = tuple(pod(i, at) for i in range(count))
    state.update("certificates", other(at))
    firsts: list[float] = []
    churns: list[float] = []
    others: list[float] = []
    for r in range(rounds):
        at = NOW + timedelta(seconds=2 * r)
        fresh = tuple(pod(i + count * (r + 1), at) for i in range(count))  # all new pods
        state.update("kubernetes", kube(fresh, at))
        firsts.append(cpu_ms(lambda at=at: engine.evaluate(state, at)))
        pods = fresh
        changed = list(pods)
        for j in range(100):  # 100 pods changed, the rest the same objects
            k = (r * 997 + j * 193) % count
            changed[k] = replace(changed[k], restarts=changed[k].restarts + 1)
        pods = tuple(changed)
        at2 = at + timedelta(seconds=1)
        state.update("kubernetes", kube(pods, at2))
        churns.append(cpu_ms(lambda at2=at2: engine.evaluate(state, at2)))
        at3 = at2 + timedelta(milliseconds=500)
        state.update("certificates", other(at3))
        others.append(cpu_ms(lambda at3=at3: engine.evaluate(state, at3)))
    active = engine.active()
    return {
        "pods": count,
        "rounds": rounds,
        "first_ms": statistics.median(firsts),
        "churn_ms": statistics.median(churns),
        "other_source_ms": statistics.median(others),
        "max_churn_ms": max(churns),
        "active_incidents": sorted(i.rule for i in active),
    }


def run(quick: bool) -> list[Figure]:
    """The figures for run.py."""
    seen = measure(20_000, 8 if quick else 20)
    return [
        Figure(
            "incident rules, one evaluation at 20,000 pods (100 changed)",
            seen["churn_ms"],
            "ms",
            20.0,
            extra=seen,
        ),
        Figure(
            "incident rules, one evaluation at 20,000 new pods",
            seen["first_ms"],
            "ms",
            None,
        ),
        Figure(
            "incident rules, one evaluation after another source's sample (20,000 pods)",
            seen["other_source_ms"],
            "ms",
            None,
        ),
    ]


if __name__ == "__main__":
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 20_000
    print(measure(count, 10))
