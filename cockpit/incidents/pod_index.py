"""What the Kubernetes rules need from a snapshot's pods, gathered in one pass (PodIndex).

With 5,000 pods the rules used to scan every pod (and its containers) once each per evaluation;
the index is built once per snapshot and the rules read only the few pods that matter. Under
churn every refresh brings a new snapshot, yet almost every PodInfo in it is the same object as
in the last one: each pod's facts are kept by uid and recomputed only for a changed PodInfo.
That memory belongs to a PodIndexer, which the CockpitState owns (`state.derived`), not to the
module.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from cockpit.models import ContainerInfo, KubeSnapshot, PodInfo


@dataclass(frozen=True)
class PodIndex:
    """The pods of one snapshot, as the rules read them."""

    crashing: tuple[str, ...]  # pod names in CrashLoopBackOff (pod or container reason)
    oom_candidates: tuple[PodInfo, ...]  # pods with an OOMKilled container state or reason
    by_memory: tuple[tuple[str, float], ...]  # (name, % of limit), highest first
    cpu_used_m: float  # sums over the pods reporting both usage and limit
    cpu_limit_m: float
    hottest: PodInfo | None  # highest CPU % of limit
    restarts: int
    nodes: frozenset[str]


class _Facts(NamedTuple):
    pod: PodInfo  # the PodInfo these facts were computed from (compared by identity)
    crashing: bool
    oom: bool
    memory_percent: float | None
    cpu_used_m: float  # 0 unless both usage and limit are known
    cpu_limit_m: float
    cpu_percent: float | None


def _oom_container(c: ContainerInfo) -> bool:
    return c.reason == "OOMKilled" or c.last_state_reason == "OOMKilled"


def _facts(pod: PodInfo) -> _Facts:
    counted = pod.cpu_m is not None and bool(pod.cpu_limit_m)
    return _Facts(
        pod,
        pod.reason == "CrashLoopBackOff"
        or any(c.reason == "CrashLoopBackOff" for c in pod.containers),
        (
            any(_oom_container(c) for c in pod.containers)
            if pod.containers
            else pod.reason == "OOMKilled"
        ),
        pod.memory_percent_of_limit,
        (pod.cpu_m or 0.0) if counted else 0.0,
        (pod.cpu_limit_m or 0.0) if counted else 0.0,
        pod.cpu_percent_of_limit,
    )


class PodIndexer:
    """Builds the PodIndex of each snapshot it is given, and keeps what makes that cheap: each
    pod's facts by uid (reused while the PodInfo is the same object) and the last snapshot's
    index (the rules read one snapshot several times per evaluation). One per CockpitState
    (`state.derived(PodIndexer)`), so two cockpits' states never share it."""

    def __init__(self) -> None:
        self._known: dict[str, _Facts] = {}  # uid -> facts of the last snapshot's PodInfo
        self._last: tuple[KubeSnapshot, PodIndex] | None = None

    def index(self, kube: KubeSnapshot) -> PodIndex:
        """The PodIndex of `kube`, built once per snapshot object."""
        if self._last is None or self._last[0] is not kube:
            self._last = (kube, self._build(kube))
        return self._last[1]

    def _build(self, kube: KubeSnapshot) -> PodIndex:
        crashing: list[str] = []
        candidates: list[PodInfo] = []
        memory: list[tuple[str, float]] = []
        used = limit = 0.0
        hottest: PodInfo | None = None
        hottest_pct = 0.0
        restarts = 0
        known, fresh = self._known, dict[str, _Facts]()
        for pod in kube.pods:
            facts = known.get(pod.uid)
            if facts is None or facts.pod is not pod:
                facts = _facts(pod)
            fresh[pod.uid] = facts
            restarts += pod.restarts
            if facts.crashing:
                crashing.append(pod.name)
            if facts.oom:
                candidates.append(pod)
            if facts.memory_percent is not None:
                memory.append((pod.name, facts.memory_percent))
            used += facts.cpu_used_m
            limit += facts.cpu_limit_m
            pct = facts.cpu_percent
            if pct is not None and (hottest is None or pct > hottest_pct):
                hottest, hottest_pct = pod, pct
        self._known = fresh
        memory.sort(key=lambda item: -item[1])
        return PodIndex(
            tuple(crashing),
            tuple(candidates),
            tuple(memory),
            used,
            limit,
            hottest,
            restarts,
            frozenset(p.node for p in kube.pods if p.node),
        )


def pod_index(kube: KubeSnapshot) -> PodIndex:
    """The PodIndex of one snapshot, built afresh (a caller with a state reads
    `state.derived(PodIndexer).index(kube)`, which reuses the last snapshot's work)."""
    return PodIndexer().index(kube)
