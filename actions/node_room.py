"""Whether the nodes can schedule the deployment's pods with a new request: each ready node's
allocatable capacity minus the requests of the pods already on it (the deployment's own pods are
counted as freed, since the rollout replaces them), and how many pods of the new request fit.

The cockpit may not be allowed to list nodes or every namespace's pods; then the plan says the
room is unknown and the scheduler decides (never a failure of the plan).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from actions.base import ActionContext
from actions.kube_common import response_json
from cockpit.quantity import QuantityError, parse_quantity
from cockpit.sources.base import describe_error
from cockpit.sources.fields import Json, items, mapping, text

_DONE = ("Succeeded", "Failed")


@dataclass(frozen=True)
class NodeRoom:
    """Free capacity per ready node for one resource, in base units (bytes or cores)."""

    free: tuple[float, ...]
    allocatable: float

    def fits(self, request: float) -> int:
        """How many pods of `request` fit on the nodes, each on one node."""
        if request <= 0:
            return 10**9
        return sum(int(f // request) for f in self.free if f > 0)


def _quantity(obj: Json, key: str) -> float:
    try:
        return float(parse_quantity(text(obj, key) or "0"))
    except QuantityError:
        return 0.0


def _requested(pod: Json, resource: str) -> float:
    total = 0.0
    for container in items(mapping(pod, "spec"), "containers"):
        total += _quantity(mapping(container, "resources", "requests"), resource)
    return total


def _owned(pod: Json, namespace: str, labels: Json) -> bool:
    meta = mapping(pod, "metadata")
    pod_labels = mapping(meta, "labels")
    return (
        bool(labels)
        and text(meta, "namespace") == namespace
        and all(pod_labels.get(k) == v for k, v in labels.items())
    )


def room_from(
    nodes: list[Json], pods: list[Json], resource: str, namespace: str, selector: Json
) -> NodeRoom:
    """The room on the ready nodes; the deployment's own pods (its selector's labels in its
    namespace), which the rollout replaces, are not counted as using it."""
    ready = [
        n
        for n in nodes
        if any(
            text(c, "type") == "Ready" and text(c, "status") == "True"
            for c in items(mapping(n, "status"), "conditions")
        )
        and not mapping(n, "spec").get("unschedulable")
    ]
    used: dict[str, float] = {}
    for pod in pods:
        if text(mapping(pod, "status"), "phase") in _DONE:
            continue
        if _owned(pod, namespace, selector):
            continue
        node = text(mapping(pod, "spec"), "nodeName")
        used[node] = used.get(node, 0.0) + _requested(pod, resource)
    free: list[float] = []
    allocatable = 0.0
    for node in ready:
        capacity = _quantity(mapping(node, "status", "allocatable"), resource)
        allocatable += capacity
        free.append(capacity - used.get(text(mapping(node, "metadata"), "name"), 0.0))
    return NodeRoom(tuple(free), allocatable)


async def read_room(ctx: ActionContext, resource: str, dep: Json) -> NodeRoom | str:
    """The room for `resource` ("memory", "cpu"), or why it is unknown."""
    from kubernetes import client

    core = client.CoreV1Api(ctx.clients.kube_api())
    timeout = ctx.clients.kube_timeout
    try:
        nodes_resp, pods_resp = await asyncio.gather(
            asyncio.to_thread(core.list_node, _preload_content=False, _request_timeout=timeout),
            asyncio.to_thread(
                core.list_pod_for_all_namespaces,
                _preload_content=False,
                _request_timeout=timeout,
            ),
        )
        nodes = items(response_json(nodes_resp), "items")
        pods = items(response_json(pods_resp), "items")
    except Exception as exc:  # RBAC (list nodes, pods cluster-wide) or a failing server
        return f"node capacity unknown ({describe_error(exc)}): the scheduler decides"
    namespace = text(mapping(dep, "metadata"), "namespace")
    return room_from(
        nodes, pods, resource, namespace, mapping(dep, "spec", "selector", "matchLabels")
    )
