"""The API simulator's access log, written into the Kubernetes simulator's pod logs.

Each request the API answers becomes one JSON line (method, path, status, latency; a 429 says
`rate limit exceeded`, the line the runbook greps for) in the log of the pod that "served" it:
the running, ready pods of the deployment take requests in turn, as a Service would spread them.
"""

from __future__ import annotations

import itertools
import threading
import time
from typing import Any

from cockpit.lab.kubesim.logs import request_line
from cockpit.sources.kube.logtext import items, obj

PODS_REFRESH_SECONDS = 1.0


class PodAccessLog:
    """A request sink (`ApiSimulator.set_request_log`) that writes into a KubeSim's pod logs."""

    def __init__(self, kube: Any, deployment: str) -> None:
        self.kube, self.deployment = kube, deployment
        self._lock = threading.Lock()
        self._pods: list[str] = []
        self._read_at = 0.0
        self._turn = itertools.count()

    def _serving(self) -> list[str]:
        now = time.monotonic()
        with self._lock:
            if now - self._read_at > PODS_REFRESH_SECONDS:
                self._read_at = now
                self._pods = [
                    p["metadata"]["name"] for p in self.kube.pods(self.deployment) if _ready(p)
                ]
            return self._pods

    def __call__(self, method: str, path: str, status: int, seconds: float) -> None:
        """Record one answered request in the log of the pod whose turn it is."""
        pods = self._serving()
        if pods:
            pod = pods[next(self._turn) % len(pods)]
            self.kube.logs.write(
                self.kube.namespace, pod, request_line(method, path, status, seconds)
            )


def _ready(pod: dict[str, Any]) -> bool:
    """Whether the pod's Ready condition is True (it takes requests)."""
    status = obj(pod.get("status"))
    return any(
        obj(c).get("type") == "Ready" and obj(c).get("status") == "True"
        for c in items(status.get("conditions"))
    )
