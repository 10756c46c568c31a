"""The Kubernetes rules read a per-snapshot index of the pods: built once per snapshot, and the
findings at 5,000 pods are the ones a scan of every pod gives."""

from __future__ import annotations

from datetime import timedelta

import pytest

from cockpit.config import Config
from cockpit.incidents import rules
from cockpit.incidents.pod_index import PodIndexer
from cockpit.state import CockpitState
from tests.unit.incident_data import T0, kube, pod

CFG = Config()


def big_snapshot():
    pods = [pod(i, cpu_m=100.0 + i % 50, mem_gib=0.3) for i in range(5000)]
    pods[17] = pod(17, reason="CrashLoopBackOff", ready=False)
    pods[4000] = pod(4000, last_state="OOMKilled", finished_at=T0 - timedelta(seconds=30))
    pods[4001] = pod(4001, last_state="OOMKilled", finished_at=T0 - timedelta(hours=2))  # old
    pods[2500] = pod(2500, mem_gib=0.97)
    pods[10] = pod(10, mem_gib=0.95)
    pods[99] = pod(99, cpu_m=990.0)
    return kube(tuple(pods), desired=5000)


def test_index_is_built_once_per_snapshot() -> None:
    indexer = PodIndexer()
    snap = big_snapshot()
    assert indexer.index(snap) is indexer.index(snap)
    other = kube()
    assert indexer.index(other) is not indexer.index(snap)


def test_the_pods_facts_are_kept_by_the_state_not_the_module() -> None:
    """Two states (two cockpits in one process, or two tests) never share what one remembers."""
    first, second = CockpitState(), CockpitState()
    assert first.derived(PodIndexer) is first.derived(PodIndexer)
    assert first.derived(PodIndexer) is not second.derived(PodIndexer)
    snap = big_snapshot()
    first.update("kubernetes", snap)
    rules.oom(first, CFG, T0)
    assert first.derived(PodIndexer).index(snap) is first.derived(PodIndexer).index(snap)
    assert not vars(second.derived(PodIndexer))["_facts"]  # the other state computed nothing


def test_oom_and_cpu_findings_at_5000_pods() -> None:
    st = CockpitState()
    st.update("kubernetes", big_snapshot())
    [f] = rules.oom(st, CFG, T0)
    assert f.severity == "P2"
    assert f.evidence["crash_looping"] == ["predictiq-api-17"]
    assert f.evidence["oom_killed"] == ["predictiq-api-4000"]  # the old kill does not count
    assert f.evidence["high_memory"] == ["predictiq-api-2500 97.0 %", "predictiq-api-10 95.0 %"]
    assert f.evidence["pods"] == 5000 and f.evidence["restarts"] == 2
    snap = st.kube
    used = sum(p.cpu_m for p in snap.pods)
    assert rules.deployment_cpu_percent(snap) == 100.0 * used / (1000.0 * 5000)
    assert st.derived(PodIndexer).index(snap).hottest.name == "predictiq-api-99"


def test_an_index_brought_up_to_date_by_changed_pods_equals_one_built_from_scratch() -> None:
    """Under churn the index follows the pods that changed; after adds, removals, OOM kills,
    crash loops that start and end, and usage that moves, it says what a full scan says."""
    import random
    from dataclasses import replace

    rng = random.Random(21)
    pods = [pod(i, cpu_m=100.0 + i % 50, mem_gib=0.3 + (i % 7) / 10) for i in range(400)]
    following = PodIndexer()
    following.index(kube(tuple(pods), desired=400))
    for step in range(60):
        for _ in range(8):
            i = rng.randrange(len(pods))
            roll = rng.random()
            if roll < 0.2:
                pods[i] = pod(1000 + step * 10 + i, reason="CrashLoopBackOff", ready=False)
            elif roll < 0.35:
                pods[i] = pod(i, last_state="OOMKilled", finished_at=T0 - timedelta(seconds=30))
            elif roll < 0.5:
                del pods[i]
            elif roll < 0.6:
                pods.insert(i, pod(5000 + step * 10 + i, cpu_m=990.0, mem_gib=0.99))
            else:
                pods[i] = replace(pods[i], restarts=pods[i].restarts + 1, cpu_m=rng.random() * 900)
        snap = kube(tuple(pods), desired=len(pods))
        kept, fresh = following.index(snap), PodIndexer().index(snap)
        # the CPU sums are floats added and taken away in another order: equal to 1e-9
        assert kept.cpu_used_m == pytest.approx(fresh.cpu_used_m, rel=1e-9), step
        assert kept.cpu_limit_m == pytest.approx(fresh.cpu_limit_m, rel=1e-9), step
        same = replace(kept, cpu_used_m=fresh.cpu_used_m, cpu_limit_m=fresh.cpu_limit_m)
        assert same == fresh, step


def test_a_crash_loop_that_ends_clears_the_oom_finding_under_churn() -> None:
    from dataclasses import replace

    st = CockpitState()
    snap = big_snapshot()
    st.update("kubernetes", snap)
    assert rules.oom(st, CFG, T0)[0].evidence["crash_looping"] == ["predictiq-api-17"]
    healed = list(snap.pods)
    healed[17] = pod(17)
    healed[4000] = pod(4000)
    healed[2500] = pod(2500, mem_gib=0.3)
    healed[10] = replace(healed[10], memory_bytes=None)
    st.update("kubernetes", kube(tuple(healed), desired=5000))
    assert rules.oom(st, CFG, T0) == []
