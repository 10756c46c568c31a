"""The API simulator's access log, written into the Kubernetes simulator's pod logs.

Each request the API answers becomes one JSON line (method, path, status, latency; a 429 says
`rate limit exceeded`, the line the runbook greps for) in the log of the pod that served it. Which
pod that is, the simulator's per-pod counters decide (`PodMetrics.observe`, round robin over the
ready pods as a Service spreads requests): a pod's log lines and its counters agree.
"""

from __future__ import annotations

from typing import Any

from cockpit.lab.kubesim.logs import request_line


class PodAccessLog:
    """A request sink (`ApiSimulator.set_request_log`) that writes into a KubeSim's pod logs."""

    def __init__(self, kube: Any) -> None:
        self.kube = kube

    def __call__(self, pod: str, method: str, path: str, status: int, seconds: float) -> None:
        """Record one answered request in the log of the pod that served it."""
        self.kube.logs.write(self.kube.namespace, pod, request_line(method, path, status, seconds))
