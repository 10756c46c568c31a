"""The Kubernetes source with the real `kubernetes` client against the Kubernetes simulator."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest
from kubernetes import client, config

from cockpit.config import KubernetesConfig, RefreshConfig
from cockpit.lab.kubesim.sim import KubeSim
from cockpit.models import KubeSnapshot, SourceFailure
from cockpit.sources.kube.source import KubeSource
from cockpit.sources.kube.watch import WatchTiming

NS, APP = "predictiq", "predictiq-api"
# Read timeout well above the simulator's 0.2 s bookmarks; short backoff so recovery is quick.
FAST = WatchTiming(
    connect_timeout=2.0, read_timeout=1.0, server_timeout=30, backoff_initial=0.05, backoff_max=0.5
)

# the scale subresource denied: scale and contain (which scales to 0) are; whatever patches the
# deployment itself (restart, set env, resources, roll back, pause/resume) is not
DENIED_SCALE = {
    "scale": False,
    "restart": True,
    "set_env": True,
    "resources": True,
    "rollback": True,
    "contain": False,
    "pause_rollout": True,
    "resume_rollout": True,
}


@pytest.fixture(scope="module")
def sim():
    """One simulator for the module, with fast controller steps and frequent bookmarks."""
    with KubeSim(
        namespace=NS, deployment=APP, replicas=3, delay=0.05, bookmark_interval=0.2, seed=11
    ) as running:
        yield running


@pytest.fixture(autouse=True)
def clean_sim(sim):
    """Every test starts and ends with a healthy, running simulator at 3 replicas."""
    if not sim.running:
        sim.start()
    yield
    if not sim.running:
        sim.start()
    sim.clear_faults()
    sim.allow("patch", "deployments", "scale")
    sim.scale_to(3)


@pytest.fixture(scope="module")
def kubeconfig(sim, tmp_path_factory):
    return sim.write_kubeconfig(tmp_path_factory.mktemp("kube") / "config", context="lab")


def make_source(kubeconfig, metrics_interval: float = 0.2, **cfg) -> KubeSource:
    kube = KubernetesConfig(
        kubeconfig=str(kubeconfig),
        namespace=cfg.pop("namespace", NS),
        deployment=APP,
        selector=f"app={APP}",
        request_timeout_seconds=2.0,
        **cfg,
    )
    return KubeSource(
        kube,
        RefreshConfig(interval_seconds=0.2, timeout_seconds=3.0),
        metrics_interval=metrics_interval,
        watch_timing=FAST,
    )


@pytest.fixture
async def source(kubeconfig):
    src = make_source(kubeconfig)
    yield src
    await src.aclose()


async def until(
    src: KubeSource,
    predicate: Callable[[KubeSnapshot | SourceFailure], object],
    timeout: float = 5.0,
) -> KubeSnapshot | SourceFailure:
    """Collect until `predicate(result)` holds; fail with the last result at the deadline."""
    deadline = time.monotonic() + timeout
    result = await src.collect()
    while not predicate(result):
        assert time.monotonic() < deadline, f"condition not met; last result: {result!r:.3000}"
        await asyncio.sleep(0.02)
        result = await src.collect()
    return result


def ok(pred: Callable[[KubeSnapshot], object]) -> Callable[[object], object]:
    return lambda r: isinstance(r, KubeSnapshot) and pred(r)


def running(snap: KubeSnapshot) -> list:
    return [p for p in snap.pods if p.phase == "Running" and not p.deleting]


def scale_with_client(kubeconfig, replicas: int) -> None:
    api = config.new_client_from_config(config_file=str(kubeconfig), context="lab")
    try:
        client.AppsV1Api(api).patch_namespaced_deployment_scale(
            APP, NS, {"spec": {"replicas": replicas}}, _request_timeout=5
        )
    finally:
        api.close()


async def test_pods_deployment_hpa_usage_and_names(sim, source):
    snap = await until(
        source,
        ok(
            lambda s: s.deployment and s.deployment.hpa and all(p.cpu_m is not None for p in s.pods)
        ),
    )
    assert (snap.context, snap.cluster, snap.namespace) == ("lab", "kubesim", NS)
    assert {p.name for p in snap.pods} == {p["metadata"]["name"] for p in sim.pods()}
    pod = snap.pods[0]
    assert (pod.phase, pod.ready, pod.total, pod.restarts, pod.reason) == ("Running", 1, 1, 0, "")
    assert pod.node.startswith("kubesim-worker-")
    assert (pod.cpu_request_m, pod.cpu_limit_m) == (500.0, 1000.0)
    assert (pod.memory_request, pod.memory_limit) == (512 * 2**20, 2**30)
    assert pod.containers[0].name == "api" and pod.containers[0].state == "running"
    dep = snap.deployment
    assert (dep.desired, dep.updated, dep.ready, dep.available) == (3, 3, 3, 3)
    assert (dep.rollout, dep.paused) == ("complete", False)
    assert (dep.hpa.min_replicas, dep.hpa.max_replicas, dep.hpa.current_replicas) == (2, 10, 3)
    assert {n.name for n in snap.nodes} == {p.node for p in snap.pods}

    hot = sim.cpu_spike(APP, fraction=1.05)
    full = sim.memory_near_limit(APP, fraction=0.97)
    snap = await until(
        source,
        ok(lambda s: any(p.name == hot and (p.cpu_percent_of_limit or 0) > 100 for p in s.pods)),
    )
    assert next(p for p in snap.pods if p.name == full).memory_percent_of_limit == pytest.approx(
        97, abs=1
    )


async def test_crashloop_pending_evicted_and_disk_pressure(sim, source):
    await until(source, ok(lambda s: len(s.pods) == 3))
    crashing = sim.oom_crashloop(APP)
    snap = await until(
        source,
        ok(lambda s: any(p.name == crashing and p.reason == "CrashLoopBackOff" for p in s.pods)),
    )
    pod = next(p for p in snap.pods if p.name == crashing)
    assert pod.restarts >= 1 and pod.ready == 0
    assert (
        pod.containers[0].last_state_reason == "OOMKilled"
        and pod.containers[0].last_exit_code == 137
    )
    snap = await until(source, ok(lambda s: any(e.object_name == crashing for e in s.events)))
    assert all(e.type == "Warning" for e in snap.events)
    sim.clear_oom_crashloop()

    sim.pending_pods(1)
    snap = await until(source, ok(lambda s: any(p.reason == "Unschedulable" for p in s.pods)))
    assert next(p for p in snap.pods if p.reason == "Unschedulable").phase == "Pending"
    sim.clear_pending_pods()

    evicted = sim.evict(APP)
    snap = await until(
        source, ok(lambda s: any(p.name == evicted and p.reason == "Evicted" for p in s.pods))
    )
    assert next(p for p in snap.pods if p.name == evicted).phase == "Failed"
    await until(
        source,
        ok(lambda s: any(e.reason == "Evicted" and e.object_name == evicted for e in s.events)),
    )

    node = next(p.node for p in running(snap))
    sim.disk_pressure(node)
    await until(source, ok(lambda s: any(n.name == node and n.disk_pressure for n in s.nodes)))


async def test_scaled_pods_arrive_through_the_watch_without_a_new_list(sim, source, kubeconfig):
    await until(source, ok(lambda s: len(running(s)) == 3))
    lists = sim.counts("list", "pods")
    scale_with_client(kubeconfig, 6)
    snap = await until(source, ok(lambda s: len(running(s)) == 6 and s.deployment.desired == 6))
    assert {p.name for p in running(snap)} <= {p["metadata"]["name"] for p in sim.pods()}
    assert sim.counts("list", "pods") == lists  # only watch events, no relist


async def test_410_during_a_watch_relists_exactly_once(sim, source):
    await until(source, ok(lambda s: len(running(s)) == 3))
    lists = sim.counts("list", "pods")
    # Hold the watch silent so it misses a change, then compact history past it: its resume
    # from the last version it saw gets 410 Gone.
    sim.silent_watches()
    sim.scale_to(4)
    sim.expire_resource_versions()
    sim.clear_silent_watches()
    await until(source, ok(lambda s: len(running(s)) == 4))
    assert sim.counts("list", "pods") == lists + 1
    sim.scale_to(5)  # and the watch from the relist's version carries on
    await until(source, ok(lambda s: len(running(s)) == 5))
    assert sim.counts("list", "pods") == lists + 1


async def test_simulator_restart_reports_failure_then_recovers(sim, source):
    await until(source, ok(lambda s: len(running(s)) == 3))
    sim.stop()
    # The freshness probe (GET /version) is refused at once, the cut watches as they reconnect.
    failure = await until(source, lambda r: isinstance(r, SourceFailure) and "refused" in r.reason)
    assert failure.source == "kubernetes" and failure.what == "GET /version"
    assert failure.reason == "connection refused" and "Errno 111" in failure.detail
    sim.scale_to(4)  # changed while we were away: the resumed watch must deliver it
    sim.start()
    await until(source, ok(lambda s: len(running(s)) == 4), timeout=8)


async def test_silent_watch_does_not_hang_the_source(sim, source):
    await until(source, ok(lambda s: len(running(s)) == 3))
    watches = sim.counts("watch", "pods")
    sim.silent_watches()
    deadline = time.monotonic() + 6
    collected = 0
    while sim.counts("watch", "pods") < watches + 1:  # the read timeout makes it reconnect
        assert time.monotonic() < deadline, "the source never gave up on the silent watch"
        result = await source.collect()
        assert isinstance(result, KubeSnapshot | SourceFailure)
        collected += 1
        await asyncio.sleep(0.02)
    # a collect() that waited on the silent watch would return once, when the read timeout cut
    # it; one that reads the cache returns again and again while the watch is silent
    assert collected >= 3, f"only {collected} collections while the watch was silent"
    sim.clear_silent_watches()
    sim.scale_to(4)
    await until(source, ok(lambda s: len(running(s)) == 4), timeout=8)


WATCHABLE = ("pods", "deployments", "events", "nodes", "horizontalpodautoscalers")


def requests_since(sim, before) -> dict[tuple[str, str], int]:
    return {key: n for key, n in (sim.request_counts - before).items() if n}


async def test_steady_state_lists_nothing_watchable_and_polls_metrics_on_its_cadence(
    sim, kubeconfig
):
    assert make_source(kubeconfig, metrics_interval=None).metrics_interval == 10.0  # the default
    src = make_source(kubeconfig, metrics_interval=0.3)
    try:
        snap = await until(
            src,
            ok(
                lambda s: (
                    len(running(s)) == 3
                    and s.deployment.hpa
                    and s.nodes
                    and all(p.cpu_m is not None for p in running(s))
                )
            ),
        )
        before = sim.request_counts
        polls = before[("list", "pods.metrics.k8s.io")]
        # Nodes and the HPA change during the window: both must arrive through their watches.
        node = running(snap)[0].node
        sim.disk_pressure(node)
        sim.scale_to(4)
        await until(
            src,
            ok(
                lambda s: (
                    any(n.name == node and n.disk_pressure for n in s.nodes)
                    and s.deployment.hpa.current_replicas == 4
                )
            ),
        )
        assert sim.wait_for(lambda: sim.counts("list", "pods.metrics.k8s.io") >= polls + 3)
        seen = requests_since(sim, before)
        assert {res: seen.get(("list", res), 0) for res in WATCHABLE} == dict.fromkeys(WATCHABLE, 0)
        assert seen.get(("get", "nodes"), 0) == 0
        # no gets but the freshness probe (GET /version, one per collect), no SSAR
        assert {key for key in seen if key[0] not in ("list", "watch")} <= {("get", "discovery")}, (
            seen
        )
        assert {res for verb, res in seen if verb == "list"} == {"pods.metrics.k8s.io"}
        assert all(w.lists == 1 for w in src.watches.values())
    finally:
        await src.aclose()


async def test_metrics_unavailable_is_a_metrics_error_then_recovers(sim, source):
    await until(source, ok(lambda s: running(s) and all(p.cpu_m is not None for p in running(s))))
    sim.metrics_unavailable()
    snap = await until(source, ok(lambda s: s.metrics_error))
    assert "503" in snap.metrics_error and "metrics-server" in snap.metrics_error
    assert len(running(snap)) == 3 and snap.deployment.desired == 3  # the rest is unaffected
    sim.clear_metrics_unavailable()
    polls = sim.counts("list", "pods.metrics.k8s.io")
    snap = await until(source, ok(lambda s: s.metrics_error is None))
    assert sim.counts("list", "pods.metrics.k8s.io") > polls
    assert all(p.cpu_m is not None for p in running(snap))


async def test_rbac_denial_shows_in_permissions(sim, kubeconfig):
    sim.deny("patch", "deployments", "scale")
    src = make_source(kubeconfig)
    try:
        snap = await until(src, ok(lambda s: s.permissions))
        assert snap.permissions == DENIED_SCALE
        assert "scale" in snap.permission_reasons
    finally:
        await src.aclose()


async def test_context_and_namespace_as_kubectl(sim, tmp_path):
    path = tmp_path / "two-contexts"
    path.write_text(f"""apiVersion: v1
kind: Config
clusters:
- name: cluster-a
  cluster: {{server: "{sim.url}"}}
- name: cluster-b
  cluster: {{server: "{sim.url}"}}
users:
- name: u
  user: {{token: {sim.token}}}
contexts:
- name: elsewhere
  context: {{cluster: cluster-a, user: u, namespace: default}}
- name: lab
  context: {{cluster: cluster-b, user: u, namespace: {NS}}}
current-context: elsewhere
""")
    cases = [  # (context, namespace override) -> (context, cluster, namespace, pods)
        (("lab", ""), ("lab", "cluster-b", NS, 3)),
        (("", ""), ("elsewhere", "cluster-a", "default", 0)),
        (("lab", "default"), ("lab", "cluster-b", "default", 0)),
    ]
    for (context, namespace), expected in cases:
        src = make_source(path, context=context, namespace=namespace)
        try:
            snap = await until(src, ok(lambda s: True))
            assert (snap.context, snap.cluster, snap.namespace, len(running(snap))) == expected
        finally:
            await src.aclose()
    bad = make_source(path, context="nope")
    result = await bad.collect()
    await bad.aclose()
    assert isinstance(result, SourceFailure) and "nope" in result.reason


async def test_aclose_is_prompt_and_idempotent(sim, kubeconfig):
    src = make_source(kubeconfig)
    await until(src, ok(lambda s: s.pods))
    started = time.monotonic()
    await src.aclose()
    await src.aclose()
    assert time.monotonic() - started < 2.5
    assert all(w.join(0) for w in src.watches.values())
    assert sim.wait_for(lambda: sim.open_watches == 0, timeout=3)


async def test_pods_list_in_pages_then_watch(sim, kubeconfig):
    # Pages of 2 (500 in production): every pod arrives, then changes come through the watch.
    kube = KubernetesConfig(
        kubeconfig=str(kubeconfig),
        namespace=NS,
        deployment=APP,
        selector=f"app={APP}",
        request_timeout_seconds=2.0,
    )
    src = KubeSource(
        kube,
        RefreshConfig(interval_seconds=0.2, timeout_seconds=3.0),
        metrics_interval=0.2,
        watch_timing=FAST,
        list_page_size=2,
    )
    before = sim.request_counts
    try:
        # every live pod of the deployment (evicted ones of earlier tests may be listed too)
        await until(
            src,
            ok(
                lambda s: (
                    {p["metadata"]["name"] for p in sim.pods(include_terminating=True)}
                    <= {p.name for p in s.pods}
                )
            ),
        )
        pages = requests_since(sim, before)[("list", "pods")]
        assert pages >= 2  # at least 3 pods
        assert src.watches["pods"].lists == 1
        sim.scale_to(5)
        await until(src, ok(lambda s: len(running(s)) == 5), timeout=8)
        assert requests_since(sim, before)[("list", "pods")] == pages
    finally:
        await src.aclose()
