"""The kubelet's Summary API (`/stats/summary`) to each pod's disk use.

The body, as the kubelet writes it (k8s.io/kubelet/pkg/apis/stats/v1alpha1):

    {"node": {"nodeName": ..., "fs": {...}, ...},
     "pods": [{"podRef": {"name", "namespace", "uid"},
               "ephemeral-storage": {"usedBytes", "capacityBytes", "availableBytes", ...},
               "volume": [{"name", "usedBytes", "capacityBytes", "availableBytes",
                           "pvcRef": {"name", "namespace"}?, ...}], ...}]}

Every figure is optional (`omitempty` pointers: a volume not measured yet has none), and any of
them may come as a JSON null from a proxy in between: every read goes through the typed helpers.
"""

from __future__ import annotations

from datetime import datetime

from cockpit.models import PodDisk, VolumeUsage
from cockpit.sources.fields import Json, get, items, mapping, optional_integer, text

EPHEMERAL = "ephemeral-storage"


def _usage(stats: Json, name: str, pvc: str = "", ephemeral: bool = False) -> VolumeUsage:
    def figure(key: str) -> int | None:
        value = optional_integer(stats, key)
        return value if value is None or value >= 0 else None  # a negative size is no size

    return VolumeUsage(
        name=name,
        used_bytes=figure("usedBytes"),
        capacity_bytes=figure("capacityBytes"),
        available_bytes=figure("availableBytes"),
        pvc=pvc,
        ephemeral=ephemeral,
    )


def pod_disk(pod: Json, node: str, read_at: datetime) -> PodDisk:
    """One `pods[]` entry of a summary: its ephemeral storage first, then its volumes."""
    volumes: list[VolumeUsage] = []
    if get(pod, EPHEMERAL) is not None:
        volumes.append(_usage(mapping(pod, EPHEMERAL), EPHEMERAL, ephemeral=True))
    for volume in items(pod, "volume"):
        volumes.append(
            _usage(volume, text(volume, "name") or "?", pvc=text(mapping(volume, "pvcRef"), "name"))
        )
    return PodDisk(node=node, read_at=read_at, volumes=tuple(volumes))


def parse_summary(body: Json, node: str, namespace: str, read_at: datetime) -> dict[str, PodDisk]:
    """Pod name -> disk use, for the pods of `namespace` in one node's summary (the kubelet
    reports every pod it runs; a pod without a name is skipped)."""
    found: dict[str, PodDisk] = {}
    for pod in items(body, "pods"):
        ref = mapping(pod, "podRef")
        name = text(ref, "name")
        if name and text(ref, "namespace") == namespace:
            found[name] = pod_disk(pod, node, read_at)
    return found
