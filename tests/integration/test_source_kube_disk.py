"""Disk use before DiskPressure: the Kubernetes source reads each node's kubelet summary through
the simulator's node proxy with the real `kubernetes` client, and the disk rule opens P3 at
`disk_percent` and P2 at `disk_critical_percent` for a pod's volume."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest

from cockpit.config import Config, KubernetesConfig, RefreshConfig
from cockpit.incidents.engine import IncidentEngine
from cockpit.lab.kubesim.sim import KubeSim
from cockpit.models import KubeSnapshot, PodInfo
from cockpit.sources.kube.source import KubeSource
from cockpit.sources.kube.watch import WatchTiming
from cockpit.state import CockpitState

NS, APP = "predictiq", "predictiq-api"
FAST = WatchTiming(
    connect_timeout=2.0, read_timeout=1.0, server_timeout=30, backoff_initial=0.05, backoff_max=0.5
)
GI = 1024**3


@pytest.fixture(scope="module")
def sim():
    with KubeSim(
        namespace=NS, deployment=APP, replicas=3, delay=0.05, bookmark_interval=0.2, seed=7
    ) as running:
        yield running


@pytest.fixture(autouse=True)
def clean_sim(sim):
    yield
    sim.clear_faults()
    sim.allow("get", "nodes", "proxy")
    sim.scale_to(3)


@pytest.fixture(scope="module")
def kubeconfig(sim, tmp_path_factory):
    return sim.write_kubeconfig(tmp_path_factory.mktemp("kube") / "config", context="lab")


def make_source(kubeconfig, request_timeout: float = 2.0) -> KubeSource:
    kube = KubernetesConfig(
        kubeconfig=str(kubeconfig),
        namespace=NS,
        deployment=APP,
        selector=f"app={APP}",
        request_timeout_seconds=request_timeout,
    )
    return KubeSource(
        kube,
        RefreshConfig(interval_seconds=0.2, timeout_seconds=3.0),
        metrics_interval=0.2,
        disk_interval=0.3,
        watch_timing=FAST,
    )


@pytest.fixture
async def source(kubeconfig):
    src = make_source(kubeconfig)
    yield src
    await src.aclose()


async def until(
    src: KubeSource, predicate: Callable[[KubeSnapshot], object], timeout: float = 8.0
) -> KubeSnapshot:
    """Collect until a snapshot satisfies `predicate`; fail with the last result at the
    deadline."""
    deadline = time.monotonic() + timeout
    while True:
        result = await src.collect()
        if isinstance(result, KubeSnapshot) and predicate(result):
            return result
        assert time.monotonic() < deadline, f"condition not met; last result: {result!r:.3000}"
        await asyncio.sleep(0.05)


def running(snap: KubeSnapshot) -> list[PodInfo]:
    return [p for p in snap.pods if p.phase == "Running" and not p.deleting]


def read(snap: KubeSnapshot) -> bool:
    """Every running pod has figures from a round that finished."""
    pods = running(snap)
    return bool(pods) and all(p.disk is not None and not p.disk.stale for p in pods)


def volume(pod: PodInfo, name: str):
    assert pod.disk is not None
    return next(v for v in pod.disk.volumes if v.name == name)


async def test_each_pod_gets_its_volumes_and_ephemeral_storage_from_its_node(sim, source):
    snap = await until(source, read)
    assert snap.disk is not None and snap.disk.note is None and not snap.disk.nodes_failed
    assert set(snap.disk.nodes_read) == {p.node for p in running(snap)}
    for pod in running(snap):
        assert pod.disk is not None and pod.disk.node == pod.node
        names = [v.name for v in pod.disk.volumes]
        assert names[0] == "ephemeral-storage" and pod.disk.volumes[0].ephemeral
        assert "data" in names and any(n.startswith("kube-api-access-") for n in names)
        data = volume(pod, "data")
        assert data.pvc == f"{pod.name}-data" and data.capacity_bytes == 10 * GI
        stored = sim.get("pods", NS, pod.name)
        assert stored is not None
        expected = 100 * sim.disk.volume_fraction(stored, "data")
        assert data.percent == pytest.approx(expected, abs=0.01)
        assert pod.disk.percent is not None and pod.disk.percent >= data.percent


async def test_only_the_nodes_running_the_pods_are_read(sim, source):
    sim.scale_to(1)
    snap = await until(source, lambda s: len(s.pods) == 1 and read(s))
    snap = await until(source, lambda s: s.disk is not None and len(s.disk.nodes_read) == 1)
    assert snap.disk is not None and snap.disk.nodes_read == (snap.pods[0].node,)


async def test_the_disk_rule_opens_p3_then_p2_for_a_filling_volume_and_closes(sim, source):
    cfg = Config()  # disk_percent 85, disk_critical_percent 95
    state, engine = CockpitState(), IncidentEngine(cfg)
    snap = await until(source, read)
    target = running(snap)[0].name

    async def incident_after(predicate: Callable[[KubeSnapshot], object]):
        found = None
        for _ in range(cfg.incidents.open_after_samples + cfg.incidents.close_after_samples):
            snapshot = await until(source, predicate)
            state.update("kubernetes", snapshot)
            found = next((i for i in engine.evaluate(state) if i.rule == "disk"), None)
        return found

    def at(pct: float) -> Callable[[KubeSnapshot], bool]:
        def check(s: KubeSnapshot) -> bool:
            pod = next((p for p in s.pods if p.name == target), None)
            return (
                pod is not None
                and pod.disk is not None
                and pod.disk.percent == pytest.approx(pct, abs=0.01)
            )

        return check

    sim.fill_volume(target, 0.90)
    incident = await incident_after(at(90))
    assert incident is not None and incident.severity == "P3", incident
    ev = incident.evidence
    assert (ev["worst_pod"], ev["worst_volume"], ev["worst_pvc"]) == (
        target,
        "data",
        f"{target}-data",
    )
    assert ev["volumes_over"][0].startswith(f"{target} data 90 %")
    assert "nodes" not in ev  # no DiskPressure: this is before the node fills

    sim.fill_volume(target, 0.97)
    incident = await incident_after(at(97))
    assert incident is not None and incident.severity == "P2", incident
    assert incident.evidence["worst_percent"] == pytest.approx(97, abs=0.1)

    sim.clear_volume_fill(target)
    assert await incident_after(lambda s: read(s) and not at(97)(s)) is None


async def test_a_403_on_the_node_proxy_says_it_needs_nodes_proxy_and_is_no_failure(sim, source):
    await until(source, read)
    sim.deny("get", "nodes", "proxy")
    snap = await until(source, lambda s: s.disk is not None and s.disk.note is not None)
    assert snap.disk is not None and snap.disk.note == "disk usage needs nodes/proxy"
    assert not snap.disk.nodes_failed  # not a node failure either
    assert all(p.disk is None for p in snap.pods)  # and no stale figures kept
    result = await source.collect()
    assert isinstance(result, KubeSnapshot)  # the source itself is fine
    sim.allow("get", "nodes", "proxy")
    snap = await until(source, read)
    assert snap.disk is not None and snap.disk.note is None


async def test_a_node_that_fails_is_listed_and_the_others_go_on(sim, source):
    snap = await until(source, read)
    down = running(snap)[0].node
    before = {p.name: p.disk.read_at for p in running(snap) if p.disk}
    sim.kubelet_down(down)

    def failed_and_others_fresh(s: KubeSnapshot) -> bool:
        if s.disk is None or down not in s.disk.nodes_failed:
            return False
        others = [p for p in running(s) if p.node != down]
        return bool(others) and all(
            p.disk is not None and not p.disk.stale and p.disk.read_at > before[p.name]
            for p in others
            if p.name in before
        )

    snap = await until(source, failed_and_others_fresh)
    assert snap.disk is not None
    reason = snap.disk.nodes_failed[down]
    assert "503" in reason and "connection refused" in reason, reason
    assert down not in snap.disk.nodes_read
    on_down = [p for p in running(snap) if p.node == down]
    assert on_down and all(p.disk is not None and p.disk.stale for p in on_down)
    sim.clear_kubelet_faults()
    await until(source, lambda s: read(s) and s.disk is not None and not s.disk.nodes_failed)


async def test_a_hung_kubelet_times_out_on_its_own(sim, kubeconfig):
    src = make_source(kubeconfig, request_timeout=0.5)
    try:
        snap = await until(src, read)
        slow = running(snap)[0].node
        sim.kubelet_slow(slow, 30)
        snap = await until(
            src,
            lambda s: s.disk is not None and slow in s.disk.nodes_failed and len(s.disk.nodes_read),
        )
        assert snap.disk is not None
        assert "timed out" in snap.disk.nodes_failed[slow], snap.disk.nodes_failed
        assert set(snap.disk.nodes_read) == {p.node for p in running(snap)} - {slow}
    finally:
        sim.clear_kubelet_faults()
        await src.aclose()
