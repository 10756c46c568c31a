"""Kubernetes objects the cockpit has never seen, through the parser, the watch cache, the
state, the rules and the pods pane: no exception, every pod shown, the summary line present."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from kubernetes.utils import parse_quantity

from cockpit.models import KubeSnapshot
from cockpit.sources.kube import parse
from cockpit.sources.kube.cache import KubeCache
from tests.property import kube_strategies as ks
from tests.property.harness import PANE_EXAMPLES, PROPERTY, show_in_pane, through_state_and_rules

NODES = ["node-a", "node-b"]


@st.composite
def cluster(draw: st.DrawFn) -> dict[str, Any]:
    """Everything the source's watches and polls could hold at one moment."""
    pods = draw(ks.pod_lists(NODES))
    names = [p["metadata"]["name"] for p in pods]
    return {
        "pods": pods,
        "deployment": draw(st.lists(ks.DEPLOYMENTS, max_size=1)),
        "hpas": draw(st.lists(ks.HPAS, max_size=2)),
        "events": draw(ks.events(names)),
        "nodes": draw(ks.node_objects(NODES)),
        "metrics": draw(ks.pod_metrics(names)),
    }


def cache_snapshot(objects: dict[str, Any]) -> KubeSnapshot:
    cache = KubeCache(ks.DEPLOYMENT)
    cache.pods_listed(objects["pods"])
    cache.deployment_listed(objects["deployment"])
    cache.hpas_listed(objects["hpas"])
    cache.events_listed(objects["events"])
    cache.nodes_listed(objects["nodes"])
    cache.set_usage(parse.parse_pod_metrics(objects["metrics"]), None)
    for pod in objects["pods"][:2]:  # a watch event for a pod already listed changes nothing
        cache.pod_event("MODIFIED", pod)
    return cache.snapshot("kind-prod-eu", "kind-prod-eu", "predictiq", f"app={ks.DEPLOYMENT}", None)


def assert_well_typed(snap: KubeSnapshot) -> None:
    for pod in snap.pods:
        assert all(
            isinstance(v, str)
            for v in (pod.uid, pod.name, pod.namespace, pod.phase, pod.reason, pod.node)
        )
        assert all(isinstance(v, int) and v >= 0 for v in (pod.ready, pod.total, pod.restarts))
        assert pod.ready <= pod.total
        for c in pod.containers:
            assert isinstance(c.name, str) and isinstance(c.reason, str)
            assert isinstance(c.restart_count, int) and isinstance(c.ready, bool)
    for event in snap.events:
        assert isinstance(event.message, str) and isinstance(event.count, int)


@given(cluster())
@PROPERTY
def test_parse_cache_state_and_rules_take_anything_the_api_sends(objects: dict[str, Any]) -> None:
    snap = cache_snapshot(objects)
    assert len(snap.pods) == len(objects["pods"])  # every pod, however odd
    assert_well_typed(snap)
    state = through_state_and_rules("kubernetes", snap)
    assert state.kube is snap


@given(cluster(), st.data())
@PROPERTY
def test_watch_events_add_change_and_delete_exactly_their_pod(
    objects: dict[str, Any], data: st.DataObject
) -> None:
    cache = KubeCache(ks.DEPLOYMENT)
    cache.pods_listed([])
    gone = data.draw(
        st.sets(st.sampled_from(range(len(objects["pods"]))))
        if objects["pods"]
        else st.just(set[int]())
    )
    for pod in objects["pods"]:
        cache.pod_event("ADDED", pod)
        cache.pod_event("MODIFIED", pod)
    for i in gone:
        # a DELETED event carries the object's last state: it may be as sparse as any other
        cache.pod_event("DELETED", {"metadata": objects["pods"][i]["metadata"]})
    snap = cache.snapshot("ctx", "cluster", "predictiq", "", None)
    kept = {parse.object_key(p) for i, p in enumerate(objects["pods"]) if i not in gone}
    assert {p.uid for p in snap.pods} == kept
    assert [p.name for p in snap.pods] == sorted(p.name for p in snap.pods)


@given(cluster())
@PANE_EXAMPLES
def test_the_pods_pane_shows_every_pod_and_its_summary(objects: dict[str, Any]) -> None:
    snap = cache_snapshot(objects)
    report = show_in_pane("kubernetes", snap)
    assert report.item_keys == {p.uid for p in snap.pods}
    assert report.rows_in_view == len(snap.pods)
    assert f"/{len(snap.pods)} ready" in report.summary
    for pod in snap.pods:
        assert pod.name in report.details[pod.uid] or pod.name == ""


@given(ks.QUANTITIES)
@PROPERTY
def test_every_quantity_unit_reads_as_kubernetes_reads_it(quantity: object) -> None:
    expected = parse_quantity(quantity)
    assert parse.memory_bytes(quantity) == int(expected)
    millicores = parse.cpu_millicores(quantity)
    assert millicores is not None and abs(millicores - float(expected * 1000)) <= 1e-6 * max(
        1.0, float(expected * 1000)
    )


def test_the_units_the_issue_names() -> None:
    assert [parse.cpu_millicores(q) for q in ("100m", "1.5", "2Gi", "1e3", "512Ki", "0")] == [
        100.0,
        1500.0,
        2 * 2**30 * 1000.0,
        1e6,
        512 * 1024 * 1000.0,
        0.0,
    ]
    assert [parse.memory_bytes(q) for q in ("100m", "1.5", "2Gi", "1e3", "512Ki", "0")] == [
        0,
        1,
        2 * 2**30,
        1000,
        512 * 1024,
        0,
    ]
