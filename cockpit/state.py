"""The cockpit's state: the latest good snapshot and the current failure of each source, plus a
short ring-buffer history of the numbers whose trend matters.

Updated only from the event loop (the app, `cockpit snapshot`, the tests), read by the incident
engine and the panes. No I/O here.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TypeVar

from cockpit.models import (
    ApiStatus,
    CacheStats,
    CertificatesSnapshot,
    DbActivity,
    KubeSnapshot,
    PodInfo,
    Snapshot,
    SourceFailure,
)


def _deployment_percent(
    s: Snapshot, pick: Callable[[PodInfo], tuple[float | None, float | None]]
) -> float | None:
    """Use over limit across the deployment's pods, %: only pods with both (used, limit)."""
    if not isinstance(s, KubeSnapshot):
        return None
    counted = [
        (used, limit)
        for used, limit in map(pick, s.pods)
        if used is not None and limit is not None and limit > 0
    ]
    limits = sum(limit for _, limit in counted)
    return 100.0 * sum(used for used, _ in counted) / limits if counted and limits > 0 else None


def _deployment_cpu_percent(s: Snapshot) -> float | None:
    return _deployment_percent(s, lambda p: (p.cpu_m, p.cpu_limit_m))


def _deployment_memory_percent(s: Snapshot) -> float | None:
    return _deployment_percent(s, lambda p: (p.memory_bytes, p.memory_limit))


def _pct(v: float | None) -> float | None:
    return None if v is None else 100.0 * v


def _db(pick: Callable[[DbActivity], float | None]) -> Callable[[Snapshot], float | None]:
    return lambda s: pick(s) if isinstance(s, DbActivity) else None


def _cache(pick: Callable[[CacheStats], float | None]) -> Callable[[Snapshot], float | None]:
    return lambda s: pick(s) if isinstance(s, CacheStats) else None


def _api(pick: Callable[[ApiStatus], float | None]) -> Callable[[Snapshot], float | None]:
    return lambda s: pick(s) if isinstance(s, ApiStatus) else None


# trend name -> (source, extractor). The names are what panes ask `trend()` for.
TRENDS: dict[str, tuple[str, Callable[[Snapshot], float | None]]] = {
    "db.connections": ("database", _db(lambda s: float(s.total))),
    "db.usage_percent": ("database", _db(lambda s: s.usage_percent)),
    "cache.hit_rate": ("cache", _cache(lambda s: _pct(s.hit_rate_interval))),
    "cache.ops_per_sec": ("cache", _cache(lambda s: s.ops_per_sec)),
    "kube.cpu_percent": ("kubernetes", _deployment_cpu_percent),
    "kube.memory_percent": ("kubernetes", _deployment_memory_percent),
    "api.request_rate": ("api", _api(lambda s: s.request_rate)),
    "api.error_ratio": ("api", _api(lambda s: _pct(s.error_ratio))),
    "api.rate_429": ("api", _api(lambda s: s.rate_429)),
    "api.latency_ms": ("api", _api(lambda s: s.health_latency_ms)),
}


class Trend(list[float]):
    """A trend's values, oldest first, with the time of each (`times`, seconds since the epoch)
    and the length of the window they come from (`window_seconds`, 0 when unknown): what a
    sparkline needs to give each bar a fixed span of time, so that its bars stay where they are
    from one sample to the next instead of shifting on every refresh."""

    def __init__(
        self, points: Iterable[tuple[datetime, float]] = (), window_seconds: float = 0.0
    ) -> None:
        kept = list(points)
        super().__init__(v for _, v in kept)
        self.times = [t.timestamp() for t, _ in kept]
        self.window_seconds = window_seconds


@dataclass(frozen=True)
class SourceView:
    """What a pane needs to say about one source: data with its age, stale with a reason, or
    nothing."""

    name: str
    snapshot: Snapshot | None  # the last good one (kept while stale)
    failure: SourceFailure | None  # set while the source is failing
    updated_at: datetime | None  # when the last good snapshot arrived

    @property
    def stale(self) -> bool:
        """True while failing: the pane shows the last good data marked stale."""
        return self.failure is not None


_Kept = TypeVar("_Kept")


class CockpitState:
    """Latest snapshot and failure per source, and the trend history."""

    def __init__(self, history_minutes: int = 15, interval_seconds: float = 2.0) -> None:
        self._snapshots: dict[str, Snapshot] = {}
        self._updated: dict[str, datetime] = {}
        self._failures: dict[str, SourceFailure] = {}
        self.samples: dict[str, int] = {}  # how many results (good or failed) each source delivered
        size = max(int(history_minutes * 60 / max(interval_seconds, 0.1)), 10)
        self._window_seconds = history_minutes * 60.0
        self._history: dict[str, deque[tuple[datetime, float]]] = {
            name: deque(maxlen=size) for name in TRENDS
        }
        self._derived: dict[type, object] = {}

    def derived(self, kind: type[_Kept]) -> _Kept:
        """The one `kind` this state keeps for its readers (built with no arguments on first
        use): what they compute from the snapshots and reuse from one to the next (the rules'
        PodIndexer). The state never imports its readers; they name what they keep."""
        found = self._derived.get(kind)
        if not isinstance(found, kind):
            found = kind()
            self._derived[kind] = found
        return found

    def update(self, source: str, result: Snapshot | SourceFailure) -> SourceFailure | None:
        """Record one collection. A failure keeps the first-failure time across retries.

        Returns the failure as stored (with `since` filled) or None for a good snapshot.
        """
        self.samples[source] = self.samples.get(source, 0) + 1
        if isinstance(result, SourceFailure):
            previous = self._failures.get(source)
            since = previous.first_seen if previous else result.first_seen
            stored = replace(result, since=since)
            self._failures[source] = stored
            return stored
        self._failures.pop(source, None)
        self._snapshots[source] = result
        at = result.collected_at
        self._updated[source] = at
        # [prometheus] back-fill: the API source's Prometheus has the API's history and, from
        # cAdvisor and kube-state-metrics, the pods' CPU and memory: older points go first
        for name, points in getattr(result, "trend_history", {}).items():
            if name in self._history:
                trend = self._history[name]
                kept = [p for p in points if not trend or p[0] < trend[0][0]]
                room = (trend.maxlen or len(kept)) - len(trend) - 1  # keep room for this sample
                trend.extendleft(reversed(kept[-room:] if room > 0 else []))
        for name, (src, extract) in TRENDS.items():
            if src == source:
                value = extract(result)
                if value is not None and math.isfinite(value):  # a NaN would break every sparkline
                    self._history[name].append((at, float(value)))
        return None

    def latest(self, source: str) -> Snapshot | None:
        """The last good snapshot of a source (even while it is failing)."""
        return self._snapshots.get(source)

    def failure(self, source: str) -> SourceFailure | None:
        """The current failure of a source, None when its last collection succeeded."""
        return self._failures.get(source)

    def view(self, source: str) -> SourceView:
        """Everything a pane shows about one source."""
        return SourceView(
            source,
            self._snapshots.get(source),
            self._failures.get(source),
            self._updated.get(source),
        )

    def trend(self, name: str, since: datetime | None = None) -> Trend:
        """Values of a trend (oldest first), optionally only those after `since`."""
        points = self._history[name]
        return Trend((p for p in points if since is None or p[0] >= since), self._window_seconds)

    @property
    def kube(self) -> KubeSnapshot | None:
        """Shortcut for the Kubernetes snapshot."""
        found = self._snapshots.get("kubernetes")
        return found if isinstance(found, KubeSnapshot) else None

    @property
    def database(self) -> DbActivity | None:
        """Shortcut for the PostgreSQL snapshot."""
        found = self._snapshots.get("database")
        return found if isinstance(found, DbActivity) else None

    @property
    def cache(self) -> CacheStats | None:
        """Shortcut for the Redis snapshot."""
        found = self._snapshots.get("cache")
        return found if isinstance(found, CacheStats) else None

    @property
    def certificates(self) -> CertificatesSnapshot | None:
        """Shortcut for the certificates snapshot."""
        found = self._snapshots.get("certificates")
        return found if isinstance(found, CertificatesSnapshot) else None

    @property
    def api(self) -> ApiStatus | None:
        """Shortcut for the API snapshot."""
        found = self._snapshots.get("api")
        return found if isinstance(found, ApiStatus) else None
