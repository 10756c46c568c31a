"""metrics.k8s.io for the simulator: per-pod CPU and memory use that drifts plausibly.

Usage is a bounded random walk advanced lazily, only when metrics are read, by an amount that
grows with the time since the last read (so there is no background tick, even at 5,000 pods).
Faults pin a pod's CPU or memory near a fraction of its limit.
"""

from __future__ import annotations

import math
import random
import threading
import time

from kubernetes.utils.quantity import parse_quantity

from cockpit.lab.kubesim.jsontypes import JSON, member
from cockpit.lab.kubesim.store import now_rfc3339

_MI = 1024 * 1024


def container_limits(pod: JSON) -> tuple[float, float]:
    """(cpu cores, memory bytes) limits of the pod's first container, with sane defaults."""
    resources = member(pod["spec"]["containers"][0], "resources")
    limits = member(resources, "limits") or member(resources, "requests")
    cpu = float(parse_quantity(limits.get("cpu", "1")))
    memory = float(parse_quantity(limits.get("memory", "1Gi")))
    return cpu, memory


class UsageModel:
    """Per-pod usage, keyed by pod uid, plus the fault overrides (pod name -> fraction of limit)."""

    def __init__(self, seed: int | None = None) -> None:
        self._lock = threading.Lock()
        self._random = random.Random(seed)
        self._usage: dict[str, tuple[float, float, float]] = {}  # uid -> (cores, bytes, at)
        self.cpu_overrides: dict[tuple[str, str], float] = {}
        self.memory_overrides: dict[tuple[str, str], float] = {}

    def usage(self, pod: JSON) -> tuple[float, float]:
        """Current (cpu cores, memory bytes) of a running pod, advanced to now."""
        meta = pod["metadata"]
        key = (meta["namespace"], meta["name"])
        cpu_limit, memory_limit = container_limits(pod)
        now = time.monotonic()
        with self._lock:
            previous = self._usage.get(meta["uid"])
            if previous is None:
                cores = cpu_limit * self._random.uniform(0.15, 0.45)
                memory = memory_limit * self._random.uniform(0.25, 0.45)
            else:
                cores, memory, at = previous
                scale = math.sqrt(min(max(now - at, 0.0), 60.0))
                cores *= math.exp(self._random.gauss(0, 0.06 * scale))
                memory += self._random.gauss(0, 4 * _MI * scale)
                cores = min(max(cores, 0.02 * cpu_limit), 0.8 * cpu_limit)
                memory = min(max(memory, 0.15 * memory_limit), 0.8 * memory_limit)
            self._usage[meta["uid"]] = (cores, memory, now)
            if key in self.cpu_overrides:
                cores = cpu_limit * self.cpu_overrides[key] * self._random.uniform(0.98, 1.02)
            if key in self.memory_overrides:
                memory = (
                    memory_limit * self.memory_overrides[key] * self._random.uniform(0.995, 1.0)
                )
        return cores, memory

    def pod_metrics(self, pod: JSON) -> JSON:
        """A PodMetrics object in metrics-server units ("912345678n", "308224Ki")."""
        cores, memory = self.usage(pod)
        meta = pod["metadata"]
        now = now_rfc3339()
        return {
            "kind": "PodMetrics",
            "apiVersion": "metrics.k8s.io/v1beta1",
            "metadata": {
                "name": meta["name"],
                "namespace": meta["namespace"],
                "creationTimestamp": now,
                "labels": meta.get("labels", {}),
            },
            "timestamp": now,
            "window": "15.045s",
            "containers": [
                {
                    "name": pod["spec"]["containers"][0]["name"],
                    "usage": {"cpu": f"{int(cores * 1e9)}n", "memory": f"{int(memory) // 1024}Ki"},
                }
            ],
        }

    def node_metrics(self, node: JSON, pods: list[JSON]) -> JSON:
        """A NodeMetrics object: system overhead plus the usage of the node's running pods."""
        name = node["metadata"]["name"]
        cores, memory = 0.35, 1.6 * 1024 * _MI
        for pod in pods:
            if pod["spec"].get("nodeName") == name and pod["status"].get("phase") == "Running":
                pod_cores, pod_memory = self.usage(pod)
                cores += pod_cores
                memory += pod_memory
        now = now_rfc3339()
        return {
            "kind": "NodeMetrics",
            "apiVersion": "metrics.k8s.io/v1beta1",
            "metadata": {
                "name": name,
                "creationTimestamp": now,
                "labels": node["metadata"].get("labels", {}),
            },
            "timestamp": now,
            "window": "20.033s",
            "usage": {"cpu": f"{int(cores * 1e9)}n", "memory": f"{int(memory) // 1024}Ki"},
        }

    def forget(self, uid: str) -> None:
        """Drop a deleted pod's state."""
        with self._lock:
            self._usage.pop(uid, None)
