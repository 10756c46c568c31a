"""Kubelet summaries (`/stats/summary` through the node proxy) the cockpit has never seen, through
the parser, the watch cache, the state, the disk rule and the pods pane: no exception, every pod
of the namespace read, each percentage within 0..100 or unknown.

What the kubelet may legally send: every figure is an optional uint64 (`omitempty` pointers:
absent until measured), `pvcRef` only for claims, `podRef` possibly partial; a proxy in between
may hand on JSON nulls; and a little more (negative or fractional sizes, strings)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from cockpit.models import DiskStatus
from cockpit.sources.kube.cache import KubeCache
from cockpit.sources.kube.summary import parse_summary
from tests.property import kube_strategies as ks
from tests.property.harness import PANE_EXAMPLES, PROPERTY, show_in_pane, through_state_and_rules

NS = "predictiq"
NODE = "node-a"
READ_AT = datetime(2026, 11, 27, 11, 50, tzinfo=UTC)
U64 = 2**64 - 1
BYTES = (
    st.integers(0, U64)
    | st.integers(0, 10 * 2**40)
    | st.sampled_from([0, 1, 4096, 10 * 2**30])
    | st.integers(-(2**40), -1)  # not legal: must not become a size
    | st.floats(0, 1e15, allow_nan=False)
    | st.sampled_from(["1024", "", "n/a"])
)
FS = ks.obj(
    time=ks.TIMES,
    usedBytes=BYTES,
    capacityBytes=BYTES,
    availableBytes=BYTES,
    inodes=BYTES,
    inodesFree=BYTES,
    inodesUsed=BYTES,
)
PVC_REF = ks.obj(name=ks.TEXT, namespace=st.just(NS))
VOLUME = st.builds(
    lambda fs, extra: {**fs, **extra},
    FS,
    ks.obj(name=ks.TEXT | st.just("data") | ks.NON_ASCII, pvcRef=PVC_REF),
)


@st.composite
def summary_pod(draw: st.DrawFn, name: str) -> dict[str, Any]:
    namespace = draw(st.sampled_from([NS, NS, "kube-system"]))
    pod = draw(
        ks.obj(
            {
                "podRef": ks.obj(
                    {"name": st.just(name), "namespace": st.just(namespace)}, uid=ks.TEXT
                )
            },
            volume=st.lists(VOLUME, max_size=4),
            startTime=ks.TIMES,
        )
    )
    if draw(st.booleans()):
        pod["ephemeral-storage"] = draw(ks.nullable(FS))
    return pod


@st.composite
def summaries(draw: st.DrawFn) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(the node's summary, the pods the watch holds: the summary's own and maybe others)."""
    pods = draw(ks.pod_lists([NODE]))
    names = [p["metadata"]["name"] for p in pods]
    listed = draw(st.lists(st.sampled_from(names), unique=True)) if names else []
    body = {
        "node": draw(ks.obj(nodeName=st.just(NODE), fs=FS)),
        "pods": [draw(summary_pod(n)) for n in listed]
        + draw(st.lists(ks.nullable(st.just({"podRef": None})), max_size=2)),
    }
    return body, pods


def _snapshot(body: dict[str, Any], pods: list[dict[str, Any]]):
    disk = parse_summary(body, NODE, NS, READ_AT)
    cache = KubeCache(ks.DEPLOYMENT)
    cache.pods_listed(pods)
    cache.set_disk(disk, DiskStatus(read_at=READ_AT, nodes_read=(NODE,)))
    return disk, cache.snapshot("kind-prod-eu", "kind-prod-eu", NS, f"app={ks.DEPLOYMENT}", None)


@given(summaries())
@PROPERTY
def test_any_summary_parses_to_sizes_or_nothing_and_the_rule_takes_it(sample) -> None:
    body, pods = sample
    disk, snap = _snapshot(body, pods)
    refs = [p.get("podRef") for p in body["pods"] if p]
    # the summary's pods of the namespace (a null or partial podRef is skipped)
    own = {r["name"] for r in refs if r and r.get("namespace") == NS and r.get("name")}
    assert set(disk) == own
    for found in disk.values():
        assert found.node == NODE and found.read_at == READ_AT
        for volume in found.volumes:
            assert isinstance(volume.name, str) and isinstance(volume.pvc, str)
            for figure in (volume.used_bytes, volume.capacity_bytes, volume.available_bytes):
                assert figure is None or (isinstance(figure, int) and figure >= 0)
            assert volume.percent is None or 0.0 <= volume.percent <= 100.0
        assert found.percent is None or 0.0 <= found.percent <= 100.0
    for pod in snap.pods:
        assert pod.disk is disk.get(pod.name)
    state = through_state_and_rules("kubernetes", snap)
    assert state.kube is snap


@given(summaries())
@PANE_EXAMPLES
def test_the_pods_pane_shows_every_pod_with_its_disk_breakdown(sample) -> None:
    body, pods = sample
    _disk, snap = _snapshot(body, pods)
    report = show_in_pane("kubernetes", snap)
    assert report.item_keys == {p.uid for p in snap.pods}
    for pod in snap.pods:
        detail = report.details[pod.uid]
        assert ("Disk (kubelet summary of node-a" in detail) == (pod.disk is not None), detail
