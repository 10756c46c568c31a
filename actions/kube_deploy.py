"""What the actions that change the deployment's pod template share: the container they act on,
the PATCH (strategic merge for env and resources, JSON patch for a rollback), the replica sets by
revision, and the plan's line about the rollout it starts.

A strategic merge patch (`application/strategic-merge-patch+json`) merges `containers` and `env`
by name, so a patch naming one container and one variable leaves every other one as it is
(PITFALLS: a JSON merge patch would replace the whole list).
"""

from __future__ import annotations

import asyncio
from typing import Any

from actions.base import ActionContext, ActionError
from actions.kube_common import response_json, target_of
from cockpit.sources.fields import Json, boolean, integer, items, mapping, text

STRATEGIC_MERGE = "application/strategic-merge-patch+json"
JSON_PATCH = "application/json-patch+json"
REVISION = "deployment.kubernetes.io/revision"
DEFAULT_CONTAINER = "kubectl.kubernetes.io/default-container"
# the actions whose success starts a rollout the flow then follows (as restart's)
ROLLOUT_ACTIONS = frozenset({"restart", "set_env", "resources", "rollback", "resume_rollout"})


def deployment_name(dep: Json) -> str:
    """metadata.name of a deployment."""
    return text(mapping(dep, "metadata"), "name")


def revision_of(obj: Json) -> int:
    """The `deployment.kubernetes.io/revision` annotation (0 when missing or not a number)."""
    raw = text(mapping(obj, "metadata", "annotations"), REVISION)
    return int(raw) if raw.isdigit() else 0


def pick_container(dep: Json, wanted: str | None) -> Json:
    """The container an action changes: the one named, else the default-container annotation's,
    else the first. ActionError naming the containers when it is not there."""
    template = mapping(dep, "spec", "template")
    containers = items(mapping(template, "spec"), "containers")
    if not containers:
        raise ActionError(f"deployment/{deployment_name(dep)} has no containers in its template")
    name = wanted or text(mapping(template, "metadata", "annotations"), DEFAULT_CONTAINER)
    if not name:
        return containers[0]
    found = next((c for c in containers if text(c, "name") == name), None)
    if found is None:
        names = ", ".join(text(c, "name") for c in containers)
        raise ActionError(f"no container {name!r} in deployment/{deployment_name(dep)} ({names})")
    return found


def rollout_line(dep: Json) -> str:
    """What a template change does to the pods, in the plan's words."""
    name = deployment_name(dep)
    replicas = integer(mapping(dep, "spec"), "replicas", 1)
    if boolean(mapping(dep, "spec"), "paused"):
        return (
            f"deployment/{name} is PAUSED: the new template rolls out only after "
            f"kubectl rollout resume deployment/{name}"
        )
    return (
        f"starts a rollout: the {replicas} pods are replaced one by one with the new template "
        f"(revision {revision_of(dep)} → {revision_of(dep) + 1})"
    )


def template_patch(container: str, change: dict[str, Any]) -> dict[str, Any]:
    """The strategic merge patch body changing one container of the pod template."""
    return {"spec": {"template": {"spec": {"containers": [{"name": container, **change}]}}}}


async def patch_deployment(
    ctx: ActionContext,
    name: str,
    body: dict[str, Any] | list[dict[str, Any]],
    content_type: str = STRATEGIC_MERGE,
) -> Json:
    """PATCH the deployment with a write-capable client (refused in read-only mode)."""
    from kubernetes import client

    api = client.AppsV1Api(ctx.clients.kube_writer())
    resp = await asyncio.to_thread(
        api.patch_namespaced_deployment,
        name,
        target_of(ctx).namespace,
        body,
        _content_type=content_type,
        _preload_content=False,
        _request_timeout=ctx.clients.kube_timeout,
    )
    return response_json(resp)


async def replica_sets(ctx: ActionContext, dep: Json) -> list[Json]:
    """The deployment's replica sets (owned by its uid), newest revision first."""
    from kubernetes import client

    uid = text(mapping(dep, "metadata"), "uid")
    labels = mapping(dep, "spec", "selector", "matchLabels")
    selector = ",".join(f"{k}={v}" for k, v in sorted(labels.items()) if isinstance(v, str))
    api = client.AppsV1Api(ctx.clients.kube_api())
    resp = await asyncio.to_thread(
        api.list_namespaced_replica_set,
        target_of(ctx).namespace,
        label_selector=selector,
        _preload_content=False,
        _request_timeout=ctx.clients.kube_timeout,
    )
    owned = [
        rs
        for rs in items(response_json(resp), "items")
        if any(text(ref, "uid") == uid for ref in items(mapping(rs, "metadata"), "ownerReferences"))
    ]
    return sorted(owned, key=revision_of, reverse=True)
