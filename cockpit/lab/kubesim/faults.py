"""Fault and scenario injection for KubeSim (mixed into the KubeSim class).

Each fault has a matching `clear_*`. Pod-level faults take a target: a pod name, or a deployment
name meaning that deployment's first running pod; they return the affected pod's name.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cockpit.lab.kubesim import objects, pods
from cockpit.lab.kubesim.jsontypes import JSON, first, member, text

if TYPE_CHECKING:
    from cockpit.lab.kubesim.controller import Controller
    from cockpit.lab.kubesim.http import Faults
    from cockpit.lab.kubesim.metrics import UsageModel
    from cockpit.lab.kubesim.store import ObjectStore
    from cockpit.lab.kubesim.watch import WatchRegistry

DEFAULT_UNSCHEDULABLE = (
    "0/3 nodes are available: 3 Insufficient cpu. preemption: 0/3 nodes are available: "
    "3 No preemption victims found for incoming pod."
)


class FaultsMixin:
    """The fault API; relies on the attributes KubeSim sets up."""

    store: ObjectStore
    controller: Controller
    usage: UsageModel
    faults: Faults
    watches: WatchRegistry
    namespace: str
    default_deployment: str

    def pods(self, deployment: str | None = None) -> list[JSON]:  # provided by KubeSim
        raise NotImplementedError

    def deployment(self, name: str | None = None) -> JSON:  # provided by KubeSim
        raise NotImplementedError

    def _pod_name(self, target: str | None) -> str:
        """Resolve a pod name or deployment name to a pod name."""
        target = target or self.default_deployment
        if self.store.get("pods", self.namespace, target) is not None:
            return target
        running = [p for p in self.pods(target) if p["status"].get("phase") == "Running"]
        candidates = running or self.pods(target)
        if not candidates:
            raise KeyError(f"no pod for {target!r}")
        return candidates[0]["metadata"]["name"]

    # -- pods -----------------------------------------------------------------------------------

    def oom_crashloop(self, target: str | None = None) -> str:
        """OOMKilled then CrashLoopBackOff, restarting again every few steps, plus a BackOff
        event."""
        name = self._pod_name(target)
        self.controller.crashlooping.add((self.namespace, name))
        self.controller.crash(self.namespace, name)
        return name

    def clear_oom_crashloop(self, target: str | None = None) -> None:
        """End the crash loop of one pod (or all): the container runs and gets ready again."""
        keys = [
            k
            for k in list(self.controller.crashlooping)
            if target is None or k[1] == self._pod_name(target)
        ]
        for ns, name in keys:
            self.controller.recover(ns, name)

    def memory_hungry(self, deployment: str | None = None, need: int | None = None) -> int:
        """The deployment's container needs `need` bytes (default: a quarter over its template's
        memory limit): a pod started with a lower limit is OOM-killed over and over, one with
        enough runs. Returns the need."""
        name = deployment or self.default_deployment
        template = self.deployment(name)["spec"]["template"]
        pod: JSON = {"spec": template["spec"]}
        limit = pods.memory_limit(pod)
        wanted = need if need is not None else int(limit * 1.25) if limit != float("inf") else 0
        self.controller.memory_needs[(self.namespace, name)] = wanted
        return wanted

    def clear_memory_hungry(self, deployment: str | None = None) -> None:
        """The container fits its limit again (pods started from now on run)."""
        self.controller.memory_needs.pop(
            (self.namespace, deployment or self.default_deployment), None
        )

    def cpu_spike(self, target: str | None = None, fraction: float = 1.05) -> str:
        """Pin a pod's CPU use near `fraction` of its limit (throttled at >= 1)."""
        name = self._pod_name(target)
        self.usage.cpu_overrides[(self.namespace, name)] = fraction
        return name

    def clear_cpu_spike(self, target: str | None = None) -> None:
        """Let CPU use drift normally again."""
        _clear(self.usage.cpu_overrides, self.namespace, target and self._pod_name(target))

    def memory_near_limit(self, target: str | None = None, fraction: float = 0.97) -> str:
        """Pin a pod's memory use at `fraction` of its limit."""
        name = self._pod_name(target)
        self.usage.memory_overrides[(self.namespace, name)] = fraction
        return name

    def clear_memory_near_limit(self, target: str | None = None) -> None:
        """Let memory use drift normally again."""
        _clear(self.usage.memory_overrides, self.namespace, target and self._pod_name(target))

    def image_pull_backoff(self, target: str | None = None) -> str:
        """A pod's image cannot be pulled: ImagePullBackOff, with a Warning "Failed" event."""
        name = self._pod_name(target)
        pod = self.store.update("pods", self.namespace, name, pods.mark_image_pull_backoff)
        if pod is not None:
            image = pod["spec"]["containers"][0]["image"]
            self.store.put(
                "events",
                objects.event(
                    pod,
                    "Warning",
                    "Failed",
                    f'Failed to pull image "{image}": not found',
                    "kubelet",
                ),
            )
            self.controller.refresh_status(self.namespace, self.controller.deployment_of(pod) or "")
        return name

    def clear_image_pull_backoff(self, target: str | None = None) -> None:
        """Pods waiting in ImagePullBackOff start."""
        for pod in self.store.items("pods", self.namespace):
            waiting = member(first(pod["status"], "containerStatuses"), "state")
            if member(waiting, "waiting").get("reason") == "ImagePullBackOff" and (
                target is None
                or pod["metadata"]["name"] == target
                or self.controller.deployment_of(pod) == target
            ):
                self.controller.recover(self.namespace, pod["metadata"]["name"])

    def evict(self, target: str | None = None, resource: str = "memory") -> str:
        """The kubelet evicts a pod (phase Failed, reason Evicted); the deployment replaces it."""
        name = self._pod_name(target)
        pod = self.store.update(
            "pods", self.namespace, name, lambda p: pods.mark_evicted(p, resource)
        )
        if pod is not None:
            self.store.put(
                "events",
                objects.event(
                    pod,
                    "Warning",
                    "Evicted",
                    f"The node was low on resource: {resource}.",
                    "kubelet",
                ),
            )
            dep = self.controller.deployment_of(pod)
            if dep:
                self.controller.deployment_changed(self.namespace, dep)
        return name

    def pending_pods(
        self, count: int = 1, deployment: str | None = None, message: str = DEFAULT_UNSCHEDULABLE
    ) -> None:
        """Scale a deployment up by `count` with no room: the new pods stay Pending,
        Unschedulable."""
        name = deployment or self.default_deployment
        self.controller.unschedulable[(self.namespace, name)] = message
        self.store.update(
            "deployments",
            self.namespace,
            name,
            lambda d: d["spec"].__setitem__("replicas", d["spec"]["replicas"] + count),
        )
        self.controller.deployment_changed(self.namespace, name)

    def clear_pending_pods(self, deployment: str | None = None) -> None:
        """Room again: unscheduled pods are replaced by schedulable ones."""
        name = deployment or self.default_deployment
        self.controller.unschedulable.pop((self.namespace, name), None)
        for pod in self.pods(name):
            if not pod["spec"].get("nodeName"):
                self.controller.terminate_pod(self.namespace, pod["metadata"]["name"])

    # -- nodes ----------------------------------------------------------------------------------

    def _node_condition(self, node: str | None, kind: str, on: bool) -> str:
        node = node or text(self.store.items("nodes")[0]["metadata"], "name")
        reasons = {
            ("DiskPressure", True): ("KubeletHasDiskPressure", "kubelet has disk pressure"),
            ("DiskPressure", False): ("KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
            ("MemoryPressure", True): (
                "KubeletHasInsufficientMemory",
                "kubelet has insufficient memory available",
            ),
            ("MemoryPressure", False): (
                "KubeletHasSufficientMemory",
                "kubelet has sufficient memory available",
            ),
        }
        reason, message = reasons[(kind, on)]

        def mutate(n: JSON) -> None:
            for condition in n["status"]["conditions"]:
                if condition["type"] == kind:
                    condition.update(
                        status="True" if on else "False",
                        reason=reason,
                        message=message,
                        lastTransitionTime=objects.now_rfc3339(),
                    )

        current = self.store.get("nodes", "", node)
        if (
            current is not None
            and not on
            and all(
                c["status"] == "False" for c in current["status"]["conditions"] if c["type"] == kind
            )
        ):
            return node  # nothing to clear: no write, no spurious MODIFIED event
        updated = self.store.update("nodes", "", node, mutate)
        if updated is None:
            raise KeyError(node)
        if on:
            what = "ephemeral-storage" if kind == "DiskPressure" else "memory"
            ev = objects.event(
                updated,
                "Warning",
                "EvictionThresholdMet",
                f"Attempting to reclaim {what}",
                "kubelet",
            )
            ev["metadata"]["namespace"] = "default"
            self.store.put("events", ev)
        return node

    def disk_pressure(self, node: str | None = None) -> str:
        """DiskPressure=True on a node (the first if none), with a Warning event; returns it."""
        return self._node_condition(node, "DiskPressure", True)

    def clear_disk_pressure(self, node: str | None = None) -> None:
        """DiskPressure=False on one node (or all)."""
        for n in [node] if node else [x["metadata"]["name"] for x in self.store.items("nodes")]:
            self._node_condition(n, "DiskPressure", False)

    def memory_pressure(self, node: str | None = None) -> str:
        """MemoryPressure=True on a node (the first if none), with a Warning event; returns it."""
        return self._node_condition(node, "MemoryPressure", True)

    def clear_memory_pressure(self, node: str | None = None) -> None:
        """MemoryPressure=False on one node (or all)."""
        for n in [node] if node else [x["metadata"]["name"] for x in self.store.items("nodes")]:
            self._node_condition(n, "MemoryPressure", False)

    # -- deployments ----------------------------------------------------------------------------

    def pause(self, deployment: str | None = None) -> None:
        """spec.paused=true: later template changes do not roll out."""
        self._set_paused(deployment, True)

    def resume(self, deployment: str | None = None) -> None:
        """spec.paused=false: a pending template change rolls out."""
        self._set_paused(deployment, False)

    clear_pause = resume

    def _set_paused(self, deployment: str | None, paused: bool) -> None:
        name = deployment or self.default_deployment

        def mutate(d: JSON) -> None:
            d["spec"]["paused"] = paused
            d["metadata"]["generation"] = d["metadata"].get("generation", 1) + 1

        self.store.update("deployments", self.namespace, name, mutate)
        self.controller.deployment_changed(self.namespace, name)

    # -- the API server itself ------------------------------------------------------------------

    def api_errors(self, rate: float = 1.0) -> None:
        """Answer this fraction of requests (0..1) with HTTP 500 InternalError."""
        self.faults.error_rate = rate

    def clear_api_errors(self) -> None:
        """Stop injecting 500s."""
        self.faults.error_rate = 0.0

    def slow_responses(self, seconds: float) -> None:
        """Delay every answer (watches included) by `seconds`."""
        self.faults.slow_seconds = seconds

    def clear_slow_responses(self) -> None:
        """Answer promptly again."""
        self.faults.slow_seconds = 0.0

    def metrics_unavailable(self) -> None:
        """metrics.k8s.io answers 503 ServiceUnavailable, as with metrics-server missing or down."""
        self.faults.metrics_unavailable = True

    def clear_metrics_unavailable(self) -> None:
        """metrics.k8s.io answers again."""
        self.faults.metrics_unavailable = False

    def silent_watches(self) -> None:
        """Open and new watches hold their connection but send nothing, not even bookmarks."""
        self.watches.set_silent(True)

    def clear_silent_watches(self) -> None:
        """New watches talk again; the silent ones are cut (their clients gave up on them)."""
        self.watches.set_silent(False)
        self.watches.drop_all(only_silent=True)

    def drop_watches(self) -> int:
        """Cut every open watch connection abruptly; returns how many were open."""
        return self.watches.drop_all()

    def expire_resource_versions(self) -> None:
        """Compact the history: a watch from any version before now gets 410 Gone.

        Only a watch that is behind is hurt: an open watch already at the latest version needs no
        history and carries on, as on a real server. To force a 410, make the watch miss a change
        first (``silent_watches()``, change something, expire, ``clear_silent_watches()``) or
        resume from an old version.
        """
        self.store.expire_history()

    def clear_faults(self) -> None:
        """Clear every injected fault."""
        self.controller.memory_needs.clear()
        self.clear_oom_crashloop()
        self.clear_image_pull_backoff()
        self.usage.cpu_overrides.clear()
        self.usage.memory_overrides.clear()
        for ns, name in list(self.controller.unschedulable):
            if ns == self.namespace:
                self.clear_pending_pods(name)
        self.clear_disk_pressure()
        self.clear_memory_pressure()
        self.clear_api_errors()
        self.clear_slow_responses()
        self.clear_metrics_unavailable()
        self.clear_silent_watches()


def _clear(overrides: dict[tuple[str, str], float], namespace: str, name: str | None) -> None:
    for key in list(overrides):
        if name is None or key == (namespace, name):
            overrides.pop(key, None)
