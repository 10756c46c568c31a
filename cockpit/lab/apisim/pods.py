"""Per-pod metrics for the API simulator: the one simulated process split into the deployment's
pods, each with its own counters and its share of the traffic, as N replicas behind a Service.

Every request the simulator finishes is counted once more, in one pod's private registry: round
robin over the pods that are ready now (the Kubernetes simulator's, see `connect`; a Service
sends traffic to ready endpoints only), so the pods' counters add up to the simulator's own
`/metrics`. `observe` says which pod that was, and the simulator writes the request into that
pod's log (apisim/podlog.py): counters and logs tell the same story. A drill can send most of the
5xx to one pod. Each pod's registry is served through the Kubernetes simulator's pod proxy on
port 8080.
"""

from __future__ import annotations

import itertools
import random
import threading
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from cockpit.lab.apisim.support import ApiMetrics
from cockpit.lab.kubesim.proxy import PodReply
from cockpit.sources import fields

if TYPE_CHECKING:
    from cockpit.lab.kubesim.sim import KubeSim

POD_PORT = 8080  # the container port named "http" in the simulated deployment
_REFRESH_SECONDS = 0.2  # how long the list of running pods is reused between requests


class PodMetrics:
    """The pods' registries, the traffic split, and the per-pod faults (all thread-safe)."""

    def __init__(self, seed: int | None = None) -> None:
        self._lock = threading.Lock()
        self._registries: dict[str, ApiMetrics] = {}
        self._provider: Callable[[], Iterable[str]] = lambda: ()
        self._pods: list[str] = []
        self._pods_at = 0.0
        self._turn = itertools.count()
        self._rng = random.Random(seed)
        self._failing: set[str] = set()
        self._error_pod: str | None = None
        self._error_share = 0.0
        self._owed = 0  # 5xx sent to the error pod out of turn: its next turns go to the others

    def set_pods(self, provider: Callable[[], Iterable[str]]) -> None:
        """Where the names of the pods that receive traffic come from (called a few times a
        second)."""
        with self._lock:
            self._provider, self._pods_at = provider, 0.0

    def _current(self) -> list[str]:
        now = time.monotonic()
        if now - self._pods_at > _REFRESH_SECONDS:
            self._pods, self._pods_at = sorted(self._provider()), now
        return self._pods

    def observe(self, method: str, path: str, status: int, seconds: float) -> str | None:
        """Count one finished request in one pod (the error pod takes its share of the 5xx, and
        gives as many of its turns to the others, so every pod still serves an even share, as
        behind a Service); returns that pod, the one that served it (None: no pod is ready)."""
        with self._lock:
            pods = self._current()
            if not pods:
                return None
            if status >= 500 and self._error_pod in pods and self._rng.random() < self._error_share:
                pod = self._error_pod
                self._owed += 1
            else:
                pod = pods[next(self._turn) % len(pods)]
                if pod == self._error_pod and self._owed and len(pods) > 1 and status < 500:
                    self._owed -= 1
                    pod = pods[next(self._turn) % len(pods)]
            metrics = self._registries.setdefault(pod, ApiMetrics())
        metrics.observe(method, path, status, seconds)
        if status == 429:
            metrics.rate_limited.inc()
        return pod

    def serve(self, pod: str, port: int, path: str) -> PodReply | None:
        """What `pod` answers on `port` (None: connection refused, as a failing pod's scrape)."""
        with self._lock:
            if port != POD_PORT or pod in self._failing:
                return None
            metrics = self._registries.setdefault(pod, ApiMetrics())
        if path != "/metrics":
            return PodReply(404, b'{"error": "not found"}', "application/json")
        return PodReply(200, generate_latest(metrics.registry), CONTENT_TYPE_LATEST)

    def requests(self, pod: str) -> float:
        """How many requests `pod` has counted (all routes and statuses)."""
        with self._lock:
            metrics = self._registries.get(pod)
        if metrics is None:
            return 0.0
        return sum(
            s.value
            for family in metrics.registry.collect()
            if family.name == "http_requests"
            for s in family.samples
            if s.name == "http_requests_total"
        )

    def fail(self, pod: str) -> None:
        """`pod`'s metrics port refuses connections (its scrape fails)."""
        with self._lock:
            self._failing.add(pod)

    def recover(self, pod: str) -> None:
        """Undo `fail`."""
        with self._lock:
            self._failing.discard(pod)

    def concentrate_errors(self, pod: str | None, share: float = 0.9) -> None:
        """Send this share of the 5xx to `pod` (None: spread them evenly again)."""
        with self._lock:
            self._error_pod, self._error_share, self._owed = pod, share, 0

    @property
    def error_pod(self) -> str | None:
        """The pod `concentrate_errors` sends the 5xx to, if any."""
        with self._lock:
            return self._error_pod

    def clear_faults(self) -> None:
        """Every pod answers and the 5xx are spread evenly."""
        with self._lock:
            self._failing.clear()
            self._error_pod, self._error_share, self._owed = None, 0.0, 0


def running_pods(kube: KubeSim) -> list[str]:
    """The deployment's pods a Service would send traffic to: ready, with an IP, not being
    deleted."""
    pods: list[object] = list(kube.pods())
    return [
        fields.text(fields.mapping(p, "metadata"), "name")
        for p in pods
        if fields.text(fields.mapping(p, "status"), "podIP")
        and not fields.text(fields.mapping(p, "metadata"), "deletionTimestamp")
        and _ready(p)
    ]


def _ready(pod: object) -> bool:
    """Whether the pod's Ready condition is True."""
    return any(
        fields.text(c, "type") == "Ready" and fields.text(c, "status") == "True"
        for c in fields.items(fields.mapping(pod, "status"), "conditions")
    )


RATE_LIMIT_VARIABLE = "RATE_LIMIT_GLOBAL"


def env_rate_limit(kube: KubeSim, variable: str = RATE_LIMIT_VARIABLE) -> float | None:
    """The rate limit the running pods enforce, from the env each was started with: the mean of
    their `variable` values (each pod takes its share of the traffic, so mid-rollout the limit
    moves pod by pod); None when no running pod has a numeric value."""
    values: list[float] = []
    for pod in kube.pods():
        meta, status = fields.mapping(pod, "metadata"), fields.mapping(pod, "status")
        if not fields.text(status, "podIP") or fields.text(meta, "deletionTimestamp"):
            continue
        containers = fields.items(fields.mapping(pod, "spec"), "containers")
        env = fields.items(containers[0], "env") if containers else []
        found = next((e for e in env if fields.text(e, "name") == variable), None)
        if found is None:
            continue
        try:
            values.append(float(fields.text(found, "value")))
        except ValueError:
            continue  # not a number: that pod runs without a usable limit
    return sum(values) / len(values) if values else None


def connect(pod_metrics: PodMetrics, kube: KubeSim) -> None:
    """Split the API simulator's traffic (its `pod_metrics`) over `kube`'s running pods and
    serve each pod's metrics through `kube`'s pod proxy."""
    from cockpit.lab.kubesim import proxy

    pod_metrics.set_pods(lambda: running_pods(kube))
    proxy.attach(kube, pod_metrics.serve)
