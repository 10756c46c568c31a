"""The watch cache: what the background threads learnt, behind one lock, snapshotted cheaply.

Watch threads apply events incrementally (one object parsed per event, never the whole set): pods,
the deployment, warning events, nodes and the HPA. The poll thread sets metrics and permissions.
`snapshot()` runs on the event loop and only copies references: the sorted pod tuple and the
nodes running those pods are rebuilt only when something changed.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime

from cockpit.models import (
    DeploymentInfo,
    DiskStatus,
    HpaInfo,
    KubeEvent,
    KubeSnapshot,
    NodeInfo,
    PodDisk,
    PodInfo,
    utcnow,
)
from cockpit.sources.fields import Json
from cockpit.sources.kube import parse

MAX_EVENTS_KEPT = 500  # relevant warnings held in memory
MAX_EVENTS_SHOWN = 50  # in a snapshot, most recent first
_EPOCH = datetime.min.replace(tzinfo=UTC)


class KubeCache:
    """Pods, the deployment, its warning events, nodes, usage and permissions, thread-safe."""

    def __init__(self, deployment: str) -> None:
        self.deployment_name = deployment
        self.lock = threading.Lock()
        self._pods: dict[str, PodInfo] = {}  # uid -> parsed pod, usage merged in
        self._pod_tuple: tuple[PodInfo, ...] | None = None  # sorted by name; None = rebuild
        self._usage: dict[str, tuple[float, int]] = {}
        self._disk: dict[str, PodDisk] = {}  # pod name -> its kubelet summary figures
        self.disk_status: DiskStatus | None = None  # None: disk use is not polled
        self._deployment: DeploymentInfo | None = None
        self._hpas: dict[str, HpaInfo] = {}  # uid -> HPAs whose scaleTargetRef is the deployment
        self._events: dict[str, KubeEvent] = {}
        self._nodes: dict[str, NodeInfo] = {}  # every watched node, by name
        self._node_tuple: tuple[NodeInfo, ...] | None = None  # those running pods; None = rebuild
        self.metrics_error: str | None = None
        self._usage_answered = False  # a metrics poll has answered (usage or an error)
        self.permissions: dict[str, bool] = {}
        self.permission_reasons: dict[str, str] = {}

    # -- pods (watch thread) ----------------------------------------------------------------------

    def _with_usage(self, pod: PodInfo) -> PodInfo:
        use, disk = self._usage.get(pod.name), self._disk.get(pod.name)
        if disk is not None:
            pod = dataclasses.replace(pod, disk=disk)
        if use is None:
            return pod
        return dataclasses.replace(pod, cpu_m=use[0], memory_bytes=use[1])

    def pods_listed(self, items: Iterable[Json]) -> None:
        """Replace every pod with a fresh list's items."""
        parsed = [parse.parse_pod(item) for item in items]
        with self.lock:
            self._pods = {p.uid: self._with_usage(p) for p in parsed}
            self._pod_tuple = self._node_tuple = None

    def pod_event(self, kind: str, obj: Json) -> None:
        """Apply one ADDED/MODIFIED/DELETED pod event."""
        uid = parse.object_key(obj)
        pod = parse.parse_pod(obj) if kind != "DELETED" else None
        with self.lock:
            if pod is None:
                self._pods.pop(uid, None)
            else:
                self._pods[uid] = self._with_usage(pod)
            self._pod_tuple = self._node_tuple = None

    def usage_pending(self, reason: str) -> None:
        """Why there is no usage yet, when no metrics poll has answered (a later one replaces
        it)."""
        with self.lock:
            if not self._usage_answered:
                self.metrics_error = reason

    def set_usage(self, usage: dict[str, tuple[float, int]] | None, error: str | None) -> None:
        """New metrics.k8s.io usage (pod name -> (millicores, bytes)), or why there is none."""
        with self.lock:
            self.metrics_error = error
            self._usage_answered = True
            if usage is None:
                return
            self._usage = usage
            changed = False
            for uid, pod in self._pods.items():
                cpu, mem = usage.get(pod.name, (None, None))
                if (pod.cpu_m, pod.memory_bytes) != (cpu, mem):
                    # only pods whose usage moved get a new PodInfo: the UI reuses the rows of
                    # unchanged ones, and an unchanged set keeps the snapshot's pods tuple
                    self._pods[uid] = dataclasses.replace(pod, cpu_m=cpu, memory_bytes=mem)
                    changed = True
            if changed:
                self._pod_tuple = None

    def pod_nodes(self) -> set[str]:
        """The nodes running the pods (the disk poll reads their kubelet summaries)."""
        with self.lock:
            return {p.node for p in self._pods.values() if p.node}

    def set_disk(self, disk: dict[str, PodDisk], status: DiskStatus) -> None:
        """A round of kubelet summaries (kube/disk.py): pod name -> figures, and how it went."""
        with self.lock:
            self._disk, self.disk_status = disk, status
            changed = False
            for uid, pod in self._pods.items():
                found = disk.get(pod.name)
                if pod.disk != found:
                    self._pods[uid] = dataclasses.replace(pod, disk=found)
                    changed = True
            if changed:
                self._pod_tuple = None

    # -- deployment, HPA, nodes (watch threads), permissions (poll thread) ---------------------

    def deployment_listed(self, items: Iterable[Json]) -> None:
        """The deployment list (0 or 1 item: fieldSelector metadata.name)."""
        first = next(iter(items), None)
        with self.lock:
            self._deployment = parse.parse_deployment(first) if first is not None else None

    def deployment_event(self, kind: str, obj: Json) -> None:
        """Apply one deployment event."""
        with self.lock:
            self._deployment = None if kind == "DELETED" else parse.parse_deployment(obj)

    def hpas_listed(self, items: Iterable[Json]) -> None:
        """Replace the HPAs with a fresh list's (only those scaling the deployment are kept)."""
        with self.lock:
            self._hpas = {}
        for item in items:
            self.hpa_event("ADDED", item)

    def hpa_event(self, kind: str, obj: Json) -> None:
        """Apply one HPA event; an HPA retargeted away from the deployment is forgotten."""
        uid = parse.object_key(obj)
        hpa = None if kind == "DELETED" else parse.hpa_for([obj], self.deployment_name)
        with self.lock:
            if hpa is None:
                self._hpas.pop(uid, None)
            else:
                self._hpas[uid] = hpa

    def nodes_listed(self, items: Iterable[Json]) -> None:
        """Replace the nodes with a fresh list's."""
        parsed = [parse.parse_node(item) for item in items]
        with self.lock:
            self._nodes = {n.name: n for n in parsed}
            self._node_tuple = None

    def node_event(self, kind: str, obj: Json) -> None:
        """Apply one node event."""
        node = parse.parse_node(obj)
        with self.lock:
            if kind == "DELETED":
                self._nodes.pop(node.name, None)
            else:
                self._nodes[node.name] = node
            self._node_tuple = None

    def set_permissions(self, allowed: Mapping[str, bool], reasons: Mapping[str, str]) -> None:
        """RBAC answers per action id."""
        with self.lock:
            self.permissions, self.permission_reasons = dict(allowed), dict(reasons)

    # -- events (watch thread) --------------------------------------------------------------------

    def _relevant(self, event: KubeEvent) -> bool:
        """About the deployment, its replica sets or its pods (caller holds the lock)."""
        name = event.object_name
        if event.object_kind == "Deployment":
            return name == self.deployment_name
        if event.object_kind in ("Pod", "ReplicaSet"):
            # Generated names start with the deployment's, also for pods already deleted.
            if name.startswith(self.deployment_name + "-"):
                return True
            return event.object_kind == "Pod" and any(p.name == name for p in self._pods.values())
        return False

    def events_listed(self, items: Iterable[Json]) -> None:
        """Replace the kept warnings with a fresh list's."""
        with self.lock:
            self._events = {}
        for item in items:
            self.event_event("ADDED", item)

    def event_event(self, kind: str, obj: Json) -> None:
        """Keep a relevant Warning event (bounded); forget a deleted one."""
        key = parse.object_key(obj)
        event = parse.parse_event(obj)
        with self.lock:
            if kind == "DELETED" or event.type != "Warning":
                self._events.pop(key, None)
                return
            if not self._relevant(event):
                return
            self._events[key] = event
            if len(self._events) > MAX_EVENTS_KEPT:
                oldest = min(self._events, key=lambda k: self._events[k].last_seen or _EPOCH)
                del self._events[oldest]

    # -- the snapshot (event loop) ----------------------------------------------------------------

    def snapshot(
        self, context: str, cluster: str, namespace: str, selector: str, watch_error: str | None
    ) -> KubeSnapshot:
        """A frozen view of everything cached."""
        with self.lock:
            if self._pod_tuple is None:
                self._pod_tuple = tuple(sorted(self._pods.values(), key=lambda p: p.name))
            if self._node_tuple is None:
                # Only the nodes running the pods matter; all nodes are watched (they are few).
                used = {p.node for p in self._pods.values() if p.node}
                self._node_tuple = tuple(
                    sorted(
                        (n for name, n in self._nodes.items() if name in used), key=lambda n: n.name
                    )
                )
            deployment = self._deployment
            hpa = min(self._hpas.values(), key=lambda h: h.name) if self._hpas else None
            if deployment is not None and hpa is not None:
                deployment = dataclasses.replace(deployment, hpa=hpa)
            events = sorted(
                self._events.values(), key=lambda e: e.last_seen or _EPOCH, reverse=True
            )
            return KubeSnapshot(
                collected_at=utcnow(),
                context=context,
                cluster=cluster,
                namespace=namespace,
                selector=selector,
                deployment=deployment,
                pods=self._pod_tuple,
                events=tuple(events[:MAX_EVENTS_SHOWN]),
                nodes=self._node_tuple,
                permissions=dict(self.permissions),
                permission_reasons=dict(self.permission_reasons),
                metrics_error=self.metrics_error,
                watch_error=watch_error,
                disk=self.disk_status,
            )
