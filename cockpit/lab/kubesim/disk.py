"""Disk use for the simulator: what each node's kubelet reports at `/stats/summary`.

Figures are consistent with the pods the store holds: a node's summary lists the pods scheduled
on it, each with its ephemeral storage (on the node's root filesystem) and one entry per volume
of its spec, sized as that volume would be:

- a generic ephemeral volume or a PersistentVolumeClaim: its own filesystem, the claim's
  requested storage as capacity (`pvcRef` names the claim: `<pod>-<volume>` for an ephemeral
  one, as the ephemeral volume controller names it);
- an emptyDir: a directory on the node's root filesystem (the filesystem's capacity and
  available bytes, the directory's own use);
- projected, configMap, secret: a small tmpfs.

A node's root filesystem holds images and the pods' writable layers; under DiskPressure (the
`disk_pressure` fault) it has under 10 % available, as when the kubelet's eviction threshold
trips. Faults: `fill_volume(target, fraction)` pins a pod's volume at a fraction of its capacity;
`kubelet_down(node)` makes the node proxy answer 503 for that node (its kubelet unreachable);
`kubelet_slow(node, seconds)` delays its answer.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from decimal import Decimal
from typing import TYPE_CHECKING, cast

from kubernetes.utils import quantity

from cockpit.lab.kubesim.jsontypes import JSON, member
from cockpit.lab.kubesim.store import now_rfc3339
from cockpit.sources import fields

if TYPE_CHECKING:
    from cockpit.lab.kubesim.store import ObjectStore

_KI, _MI, _GI = 1024, 1024**2, 1024**3
ROOT_FS = 100 * _GI  # each node's root filesystem
TMPFS = 31 * _GI  # a tmpfs is sized like the node's memory
PRESSURE_AVAILABLE = 0.06  # of the root filesystem, under DiskPressure
DATA_VOLUME = "data"  # the volume the lab's pod template mounts (objects.deployment)
parse_quantity = cast(Callable[[str | int | float], Decimal], quantity.parse_quantity)


def _fs(used: int, capacity: int, available: int, inodes: int = 6_553_600) -> JSON:
    """A FsStats object (the kubelet's field names)."""
    inodes_used = min(inodes - 1, max(used // (64 * _KI), 1))
    return {
        "time": now_rfc3339(),
        "availableBytes": max(available, 0),
        "capacityBytes": capacity,
        "usedBytes": max(used, 0),
        "inodesFree": inodes - inodes_used,
        "inodes": inodes,
        "inodesUsed": inodes_used,
    }


class DiskModel:
    """Per-pod disk figures (stable per pod uid) and the disk faults."""

    def __init__(self, seed: int | None = None) -> None:
        self._lock = threading.Lock()
        self._random = random.Random(seed)
        self._base: dict[tuple[str, str], float] = {}  # (pod uid, volume) -> fraction used
        self.fills: dict[tuple[str, str, str], float] = {}  # (ns, pod, volume) -> fraction
        self.down: set[str] = set()  # nodes whose kubelet cannot be reached
        self.slow: dict[str, float] = {}  # node -> seconds before its kubelet answers

    def _fraction(self, uid: str, volume: str, low: float, high: float) -> float:
        with self._lock:
            key = (uid, volume)
            if key not in self._base:
                self._base[key] = self._random.uniform(low, high)
            return self._base[key]

    def volume_fraction(self, pod: JSON, volume: str) -> float:
        """How full a pod's own-filesystem volume is, 0..1 (a fill fault, else its baseline)."""
        meta = pod["metadata"]
        pinned = self.fills.get((meta["namespace"], meta["name"], volume))
        return pinned if pinned is not None else self._fraction(meta["uid"], volume, 0.18, 0.34)

    def _ephemeral_used(self, pod: JSON) -> int:
        return int(self._fraction(pod["metadata"]["uid"], "", 0.05, 0.3) * _GI)

    def _root_fs(self, node: JSON, pods: list[JSON]) -> tuple[int, int]:
        """(used, available) of a node's root filesystem."""
        used = 28 * _GI + sum(self._ephemeral_used(p) for p in pods)
        if _pressure(node):
            used = max(used, int(ROOT_FS * (1 - PRESSURE_AVAILABLE)))
        return used, ROOT_FS - used

    def _volume(self, pod: JSON, spec: JSON, root_available: int) -> JSON:
        name = str(spec.get("name", ""))
        claim = ""
        if "ephemeral" in spec or "persistentVolumeClaim" in spec:
            if "ephemeral" in spec:
                template = member(member(spec, "ephemeral"), "volumeClaimTemplate")
                claim = f"{pod['metadata']['name']}-{name}"
            else:
                template = {}
                claim = str(member(spec, "persistentVolumeClaim").get("claimName", ""))
            requests = member(member(member(template, "spec"), "resources"), "requests")
            capacity = int(parse_quantity(str(requests.get("storage", "10Gi"))))
            used = int(capacity * self.volume_fraction(pod, name))
            stats = _fs(used, capacity, capacity - used, inodes=capacity // (16 * _KI))
            stats["name"] = name
            stats["pvcRef"] = {"name": claim, "namespace": pod["metadata"]["namespace"]}
            return stats
        if "emptyDir" in spec:
            used = int(self._fraction(pod["metadata"]["uid"], name, 0.001, 0.01) * _GI)
            stats = _fs(used, ROOT_FS, root_available)
        else:  # projected, configMap, secret, downwardAPI: a tmpfs of a few KiB
            stats = _fs(12 * _KI, TMPFS, TMPFS - 12 * _KI, inodes=8_000_000)
        stats["name"] = name
        return stats

    def summary(self, node: JSON, all_pods: list[JSON]) -> JSON:
        """The kubelet's /stats/summary of `node`: its fs, and its running pods' storage."""
        name = node["metadata"]["name"]
        pods = [
            p
            for p in all_pods
            if p["spec"].get("nodeName") == name
            and p["status"].get("phase") in ("Running", "Pending")
        ]
        root_used, root_available = self._root_fs(node, pods)
        entries: list[JSON] = []
        for pod in pods:
            meta = pod["metadata"]
            ephemeral = self._ephemeral_used(pod)
            volumes = [
                self._volume(pod, dict(v), root_available)
                for v in fields.items(pod["spec"], "volumes")
            ]
            entries.append(
                {
                    "podRef": {
                        "name": meta["name"],
                        "namespace": meta["namespace"],
                        "uid": meta["uid"],
                    },
                    "startTime": pod["status"].get("startTime") or now_rfc3339(),
                    "containers": [
                        {
                            "name": fields.text(c, "name"),
                            "startTime": pod["status"].get("startTime") or now_rfc3339(),
                            "rootfs": _fs(ephemeral // 2, ROOT_FS, root_available),
                            "logs": _fs(ephemeral // 2, ROOT_FS, root_available),
                        }
                        for c in fields.items(pod["spec"], "containers")
                    ],
                    "volume": volumes,
                    "ephemeral-storage": _fs(ephemeral, ROOT_FS, root_available),
                    "process_stats": {"process_count": 3},
                }
            )
        return {
            "node": {
                "nodeName": name,
                "startTime": node["metadata"].get("creationTimestamp") or now_rfc3339(),
                "fs": _fs(root_used, ROOT_FS, root_available),
                "runtime": {"imageFs": _fs(22 * _GI, ROOT_FS, root_available)},
            },
            "pods": entries,
        }


def _pressure(node: JSON) -> bool:
    return any(
        fields.text(c, "type") == "DiskPressure" and fields.text(c, "status") == "True"
        for c in fields.items(fields.mapping(node, "status"), "conditions")
    )


class DiskFaultsMixin:
    """The disk faults of KubeSim (mixed in; relies on the attributes KubeSim sets up)."""

    store: ObjectStore
    disk: DiskModel
    namespace: str

    def _pod_name(self, target: str | None) -> str:  # provided by FaultsMixin
        raise NotImplementedError

    def fill_volume(
        self, target: str | None = None, fraction: float = 0.9, volume: str = DATA_VOLUME
    ) -> str:
        """Pin a pod's volume at `fraction` of its capacity; returns the pod's name."""
        name = self._pod_name(target)
        self.disk.fills[(self.namespace, name, volume)] = fraction
        return name

    def clear_volume_fill(self, target: str | None = None) -> None:
        """Back to the baseline, for one pod (or all)."""
        name = self._pod_name(target) if target else None
        for key in [k for k in self.disk.fills if name is None or k[1] == name]:
            self.disk.fills.pop(key, None)

    def kubelet_down(self, node: str) -> None:
        """The node proxy answers 503 for `node`: its kubelet cannot be reached."""
        self.disk.down.add(node)

    def kubelet_slow(self, node: str, seconds: float) -> None:
        """The node's kubelet answers after `seconds`."""
        self.disk.slow[node] = seconds

    def clear_kubelet_faults(self) -> None:
        """Every kubelet answers again, at once."""
        self.disk.down.clear()
        self.disk.slow.clear()
