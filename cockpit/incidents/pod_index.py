"""What the Kubernetes rules need from a snapshot's pods, gathered in one pass (PodIndex).

With 5,000 pods the rules used to scan every pod (and its containers) once each per evaluation;
the index is built once per snapshot and the rules read only the few pods that matter. Under
churn every refresh brings a new snapshot, yet almost every PodInfo in it is the same object as
in the last one: the index keeps each pod's facts and the sums, and brings them up to date
with the pods that changed (`PodIndexer`). Ties rank by pod name (the hottest pod, memory).
That memory belongs to a PodIndexer, which the CockpitState owns (`state.derived`), not to the
module.
"""

from __future__ import annotations

import bisect
import sys
from collections import Counter
from dataclasses import dataclass
from itertools import compress
from typing import NamedTuple

from cockpit.models import ContainerInfo, KubeSnapshot, PodInfo


@dataclass(frozen=True)
class PodIndex:
    """The pods of one snapshot, as the rules read them."""

    crashing: tuple[str, ...]  # pod names in CrashLoopBackOff (pod or container reason)
    oom_candidates: tuple[PodInfo, ...]  # pods with an OOMKilled container state or reason
    # (-% of memory limit, name, key), highest first: see `high_memory`
    memory_ranked: tuple[tuple[float, str, int], ...]
    cpu_used_m: float  # sums over the pods reporting both usage and limit
    cpu_limit_m: float
    hottest: PodInfo | None  # highest CPU % of limit
    restarts: int
    nodes: frozenset[str]
    ready: int = 0  # pods whose every container is ready (KubeSnapshot.ready_pods)

    def high_memory(self, threshold: float) -> list[tuple[str, float]]:
        """(name, % of limit) of the pods at or above `threshold` % of their memory limit,
        highest first (found by bisection: the ranking holds every pod that reports memory)."""
        ranked = self.memory_ranked
        end = bisect.bisect_right(ranked, (-threshold, "\U0010ffff", sys.maxsize))
        return [(name, -minus) for minus, name, _ in ranked[:end]]


class _Facts(NamedTuple):
    pod: PodInfo  # the PodInfo these facts were computed from (compared by identity)
    crashing: bool
    oom: bool
    memory_percent: float | None
    cpu_used_m: float  # 0 unless both usage and limit are known
    cpu_limit_m: float
    cpu_percent: float | None
    ready: bool


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
        bool(pod.total) and pod.ready == pod.total,
    )


class PodIndexer:
    """The facts and sums of the last snapshot's pods, brought to the next snapshot by the pods
    that changed in it (a PodInfo object not in the last one is new or changed; one no longer
    there is gone). At 20,000 pods under churn an evaluation then costs the changed pods plus
    a few passes in C over the snapshot (ids, set differences), not a Python loop over every
    pod. A snapshot with mostly new objects, and every `REBUILD_EVERY`th one (so
    float sums cannot drift), is indexed from scratch. It also keeps the last snapshot's index
    (the rules read one snapshot several times per evaluation). One per CockpitState
    (`state.derived(PodIndexer)`), so two cockpits' states never share it."""

    REBUILD_EVERY = 500

    def __init__(self) -> None:
        self._facts: dict[int, _Facts] = {}  # id(PodInfo) -> its facts; holds the PodInfo alive
        self._ids: set[int] = set()  # the keys of _facts
        self._steps = 0
        self._restarts = self._ready = 0
        self._used = self._limit = 0.0
        self._crashing: dict[int, str] = {}
        self._oom: dict[int, PodInfo] = {}
        self._memory: list[tuple[float, str, int]] = []  # (-% of limit, name, id), sorted
        self._hottest: _Facts | None = None  # highest CPU % of limit (ties: by name)
        self._hottest_gone = False  # it left: find the next one by a scan, once
        self._nodes: Counter[str] = Counter()
        self._last: tuple[KubeSnapshot, PodIndex] | None = None  # a rebuild forgets it too

    def index(self, kube: KubeSnapshot) -> PodIndex:
        """The PodIndex of `kube`, built once per snapshot object."""
        if self._last is not None and self._last[0] is kube:
            return self._last[1]
        built = self._update(kube)
        self._last = (kube, built)
        return built

    def _update(self, kube: KubeSnapshot) -> PodIndex:
        pods = kube.pods
        ids = set(map(id, pods))  # these passes run in C: ~1 ms at 20,000 pods
        new = ids - self._ids
        gone = self._ids - ids
        self._ids = ids
        self._steps += 1
        if len(new) + len(gone) > len(pods) // 2 or self._steps >= self.REBUILD_EVERY:
            self._rebuild(pods)
        else:
            for key in gone:
                self._count(key, self._facts.pop(key), -1)
            for pod in compress(pods, map(new.__contains__, map(id, pods))):
                facts = _facts(pod)
                self._facts[id(pod)] = facts
                self._count(id(pod), facts, 1)
        if self._hottest_gone:
            self._hottest_gone = False
            hot = [f for f in self._facts.values() if f.cpu_percent is not None]
            self._hottest = min(hot, key=_heat) if hot else None
        hottest = self._hottest.pod if self._hottest else None
        return PodIndex(
            tuple(name for _, name in sorted(self._crashing.items(), key=_by_name)),
            tuple(sorted(self._oom.values(), key=lambda p: p.name)),
            tuple(self._memory),
            self._used,
            self._limit,
            hottest,
            self._restarts,
            frozenset(node for node, n in self._nodes.items() if n > 0),
            self._ready,
        )

    def _rebuild(self, pods: tuple[PodInfo, ...]) -> None:
        """Index every pod from scratch (the memory ranking sorted once, not by insertions)."""
        self.__init__()
        self._ids = set(map(id, pods))
        facts = self._facts
        restarts = ready = 0
        used = limit = hot_pct = 0.0
        hottest: _Facts | None = None
        for pod in pods:  # _count's sums, inline: this loop is the whole cost of a rebuild
            key, f = id(pod), _facts(pod)
            facts[key] = f
            restarts += pod.restarts
            ready += f.ready
            used += f.cpu_used_m
            limit += f.cpu_limit_m
            if f.crashing:
                self._crashing[key] = pod.name
            if f.oom:
                self._oom[key] = pod
            pct = f.cpu_percent
            if pct is not None and (
                hottest is None or pct > hot_pct or (pct == hot_pct and pod.name < hottest.pod.name)
            ):
                hottest, hot_pct = f, pct
        self._restarts, self._ready, self._used, self._limit = restarts, ready, used, limit
        self._nodes = Counter(pod.node for pod in pods if pod.node)
        self._hottest = hottest
        self._memory = sorted(
            (-f.memory_percent, f.pod.name, k)
            for k, f in self._facts.items()
            if f.memory_percent is not None
        )

    def _count(self, key: int, f: _Facts, sign: int) -> None:
        """Add (sign 1) or take away (-1) one pod's facts from the sums."""
        pod = f.pod
        self._restarts += sign * pod.restarts
        self._ready += sign * f.ready
        self._used += sign * f.cpu_used_m
        self._limit += sign * f.cpu_limit_m
        if pod.node:
            self._nodes[pod.node] += sign
        if f.crashing:
            if sign > 0:
                self._crashing[key] = pod.name
            else:
                self._crashing.pop(key, None)
        if f.oom:
            if sign > 0:
                self._oom[key] = pod
            else:
                self._oom.pop(key, None)
        if f.cpu_percent is not None:
            if sign < 0:
                self._hottest_gone = self._hottest_gone or self._hottest is f
            elif self._hottest is None or _heat(f) < _heat(self._hottest):
                self._hottest = f
        pct = f.memory_percent
        if pct is None:
            return
        entry = (-pct, pod.name, key)
        if sign > 0:
            bisect.insort(self._memory, entry)
        else:
            at = bisect.bisect_left(self._memory, entry)
            if at < len(self._memory) and self._memory[at] == entry:
                del self._memory[at]


def _heat(f: _Facts) -> tuple[float, str]:
    """The hottest pod sorts first: highest CPU % of limit, then by name."""
    return (-(f.cpu_percent or 0.0), f.pod.name)


def _by_name(item: tuple[int, str]) -> str:
    return item[1]


def pod_index(kube: KubeSnapshot) -> PodIndex:
    """The PodIndex of one snapshot, built afresh (a caller with a state reads
    `state.derived(PodIndexer).index(kube)`, which reuses the last snapshot's work)."""
    return PodIndexer().index(kube)
