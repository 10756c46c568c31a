"""Init containers, read from the Kubernetes simulator through the real client: a migration
that crash-loops in an init container reads `Init:CrashLoopBackOff` with its restarts (not
`PodInitializing`, 0 restarts), a pod half-way through reads `Init:1/2`, the pod detail lists
the init containers with their last state, and the OOM/crash rule fires for them."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC

import pytest

from cockpit.incidents.engine import evaluate_once
from cockpit.lab.kubesim.sim import KubeSim
from cockpit.lab.kubesim.store import now_rfc3339
from cockpit.models import KubeSnapshot
from cockpit.state import CockpitState
from tests.integration.test_source_kube import APP, NS, make_source, ok, until
from tests.ui.fixtures import fixed_sources, frozen_clock, make_config, wait_until
from widgets.app import CockpitApp
from widgets.screens.detail import DetailScreen

APP_CONTAINER = {
    "name": "api",
    "image": "registry.example/api:1.14.2",
    "resources": {"limits": {"cpu": "1", "memory": "1Gi"}},
}
WAIT_FOR_DB = {"name": "wait-for-db", "image": "busybox:1.36"}
MIGRATE = {
    "name": "migrate",
    "image": "registry.example/api:1.14.2",
    "resources": {"limits": {"memory": "256Mi"}},
}


def _pod(name: str, init_statuses: list[dict]) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": NS, "labels": {"app": APP}},
        "spec": {
            "nodeName": "kubesim-worker-1",
            "initContainers": [WAIT_FOR_DB, MIGRATE],
            "containers": [APP_CONTAINER],
        },
        "status": {
            "phase": "Pending",
            "conditions": [
                {"type": "Initialized", "status": "False", "reason": "ContainersNotInitialized"}
            ],
            "initContainerStatuses": init_statuses,
            "containerStatuses": [
                {
                    "name": "api",
                    "ready": False,
                    "restartCount": 0,
                    "state": {"waiting": {"reason": "PodInitializing"}},
                }
            ],
        },
    }


def _done(name: str) -> dict:
    return {
        "name": name,
        "ready": True,
        "restartCount": 0,
        "state": {
            "terminated": {"exitCode": 0, "reason": "Completed", "finishedAt": now_rfc3339()}
        },
    }


def crashing_migration(name: str) -> dict:
    """The second init container (the migration) failed with exit 1 four times: backing off."""
    return _pod(
        name,
        [
            _done("wait-for-db"),
            {
                "name": "migrate",
                "ready": False,
                "restartCount": 4,
                "state": {
                    "waiting": {
                        "reason": "CrashLoopBackOff",
                        "message": "back-off 1m20s restarting failed container=migrate",
                    }
                },
                "lastState": {
                    "terminated": {"exitCode": 1, "reason": "Error", "finishedAt": now_rfc3339()}
                },
            },
        ],
    )


def oom_killed_migration(name: str) -> dict:
    """The migration ran out of memory once and is running again."""
    return _pod(
        name,
        [
            _done("wait-for-db"),
            {
                "name": "migrate",
                "ready": False,
                "restartCount": 1,
                "state": {"running": {"startedAt": now_rfc3339()}},
                "lastState": {
                    "terminated": {
                        "exitCode": 137,
                        "reason": "OOMKilled",
                        "finishedAt": now_rfc3339(),
                    }
                },
            },
        ],
    )


@pytest.fixture(scope="module")
def sim() -> Iterator[KubeSim]:
    with KubeSim(
        namespace=NS, deployment=APP, replicas=1, delay=0.05, bookmark_interval=0.2, seed=5
    ) as running:
        yield running


@pytest.fixture
async def source(sim, tmp_path):
    src = make_source(sim.write_kubeconfig(tmp_path / "config", context="lab"))
    yield src
    await src.aclose()


async def test_a_crash_looping_init_container_is_named_counted_and_detailed(sim, source):
    sim.store.put("pods", crashing_migration("predictiq-migrate-crash"))
    sim.store.put("pods", oom_killed_migration("predictiq-migrate-oom"))
    try:
        snap = await until(source, ok(lambda s: len(s.pods) == 3))
        assert isinstance(snap, KubeSnapshot)
        pods = {p.name: p for p in snap.pods}
        crash, oom = pods["predictiq-migrate-crash"], pods["predictiq-migrate-oom"]
        assert (crash.reason, crash.restarts, crash.ready, crash.total) == (
            "Init:CrashLoopBackOff",
            4,
            0,
            1,
        )
        assert (oom.reason, oom.restarts) == ("Init:1/2", 1)
        migrate = next(c for c in crash.containers if c.name == "migrate")
        assert migrate.init and (migrate.last_state_reason, migrate.last_exit_code) == ("Error", 1)
        assert [c.name for c in crash.containers] == ["wait-for-db", "migrate", "api"]
        assert crash.memory_limit == 2**30  # the app container's, not the migration's

        state = CockpitState()
        state.update("kubernetes", snap)
        findings = {f.rule: f for f in evaluate_once(make_config(), state)}
        assert "predictiq-migrate-crash" in findings["oom"].evidence["crash_looping"]
        assert "predictiq-migrate-oom" in findings["oom"].evidence["oom_killed"]

        app = CockpitApp(
            make_config(), sources=fixed_sources(kubernetes=snap), clock=frozen_clock, local_tz=UTC
        )
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_until(pilot, lambda: len(app.state.samples) == len(app.sources))
            await pilot.press("1", "slash", *"migrate-crash", "enter", "enter")
            await wait_until(pilot, lambda: isinstance(app.screen, DetailScreen))
            text = app.screen.body
        assert "status Init:CrashLoopBackOff" in text and "restarts 4" in text
        init_part = text[text.index("Init containers:") : text.index("Containers:")]
        assert "migrate: waiting (CrashLoopBackOff), ready=no, restarts 4" in init_part
        assert "last state: terminated (Error), exit code 1" in init_part
    finally:
        for name in ("predictiq-migrate-crash", "predictiq-migrate-oom"):
            sim.store.delete("pods", NS, name)
