"""Server-side printing: the meta.k8s.io/v1 Table kubectl asks for (`Accept: ...;as=Table`).

Pods and deployments get kubectl's usual columns; other kinds get Name and Age.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from cockpit.lab.kubesim.jsontypes import JSON, member, members


def _age(timestamp: str | None) -> str:
    if not timestamp:
        return "<unknown>"
    created = datetime.strptime(timestamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    seconds = max(int((datetime.now(UTC) - created).total_seconds()), 0)
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}m"
    if seconds < 172800:
        return f"{seconds // 3600}h"
    return f"{seconds // 86400}d"


def _column(name: str, kind: str = "string", priority: int = 0, fmt: str = "") -> JSON:
    return {"name": name, "type": kind, "format": fmt, "description": name, "priority": priority}


def pod_status_text(pod: JSON) -> str:
    """The STATUS column kubectl shows for a pod."""
    if pod["metadata"].get("deletionTimestamp"):
        return "Terminating"
    status = member(pod, "status")
    if status.get("reason"):
        return status["reason"]
    for container in members(status, "containerStatuses"):
        state = member(container, "state")
        for key in ("waiting", "terminated"):
            if member(state, key).get("reason"):
                return state[key]["reason"]
    return status.get("phase", "Unknown")


def _pod_row(pod: JSON) -> list[object]:
    statuses = members(member(pod, "status"), "containerStatuses")
    ready = sum(1 for c in statuses if c.get("ready"))
    total = len(members(pod["spec"], "containers"))
    return [
        pod["metadata"]["name"],
        f"{ready}/{total}",
        pod_status_text(pod),
        sum(c.get("restartCount", 0) for c in statuses),
        _age(pod["metadata"].get("creationTimestamp")),
        member(pod, "status").get("podIP", "<none>"),
        pod["spec"].get("nodeName", "<none>"),
    ]


def _deployment_row(dep: JSON) -> list[object]:
    status = member(dep, "status")
    return [
        dep["metadata"]["name"],
        f"{status.get('readyReplicas', 0)}/{dep['spec'].get('replicas', 1)}",
        status.get("updatedReplicas", 0),
        status.get("availableReplicas", 0),
        _age(dep["metadata"].get("creationTimestamp")),
    ]


_COLUMNS = {
    "pods": [
        _column("Name", fmt="name"),
        _column("Ready"),
        _column("Status"),
        _column("Restarts", "string"),
        _column("Age"),
        _column("IP", priority=1),
        _column("Node", priority=1),
    ],
    "deployments": [
        _column("Name", fmt="name"),
        _column("Ready"),
        _column("Up-to-date", "integer"),
        _column("Available", "integer"),
        _column("Age"),
    ],
}


def _name_row(obj: JSON) -> list[object]:
    return [obj["metadata"]["name"], _age(obj["metadata"].get("creationTimestamp"))]


_ROWS: dict[str, Callable[[JSON], list[object]]] = {
    "pods": _pod_row,
    "deployments": _deployment_row,
}


def as_table(resource: str, body: JSON) -> JSON:
    """Convert a list (or a single object) response into a Table."""
    objs = body["items"] if "items" in body else [body]
    columns = _COLUMNS.get(resource, [_column("Name", fmt="name"), _column("Age")])
    row_of = _ROWS.get(resource, _name_row)
    rows = [
        {
            "cells": row_of(obj),
            "object": {
                "kind": "PartialObjectMetadata",
                "apiVersion": "meta.k8s.io/v1",
                "metadata": obj["metadata"],
            },
        }
        for obj in objs
    ]
    meta = {
        k: v
        for k, v in member(body, "metadata").items()
        if k in ("resourceVersion", "continue", "remainingItemCount")
    }
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": meta,
        "columnDefinitions": columns,
        "rows": rows,
    }
