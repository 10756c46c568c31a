"""What the Kubernetes actions share: the live deployment, RBAC, and the plan's header fields.

The kubernetes client is synchronous: calls run in a thread (`asyncio.to_thread`), each with
`_request_timeout` so a dead network cannot hang the action (PITFALLS). Reads parse raw JSON.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from actions.base import ActionContext, ActionError, Rbac
from cockpit.sources.kube.client import KubeTarget, resolve_target


def target_of(ctx: ActionContext) -> KubeTarget:
    """The resolved context/namespace (from the context, else resolved from the config)."""
    if ctx.cfg.kubernetes is None:
        raise ActionError("no [kubernetes] section in the config")
    if ctx.target is None:
        try:
            ctx.target = resolve_target(ctx.cfg.kubernetes)
        except Exception as exc:  # noqa: BLE001 - a broken kubeconfig is an operator-facing reason
            raise ActionError(f"cannot resolve the Kubernetes context: {exc}") from exc
    return ctx.target


def kubectl(ctx: ActionContext, *args: str) -> str:
    """The equivalent kubectl command line, with the context and namespace spelled out."""
    t = target_of(ctx)
    ctx_flag = f" --context {t.context}" if t.context else ""
    return f"kubectl{ctx_flag} -n {t.namespace} " + " ".join(args)


async def read_deployment(ctx: ActionContext) -> dict[str, Any]:
    """GET the configured deployment as JSON (live, not the cached snapshot)."""
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    t = target_of(ctx)
    name = ctx.cfg.kubernetes.deployment  # type: ignore[union-attr]
    api = client.AppsV1Api(ctx.clients.kube_api())
    try:
        resp = await asyncio.to_thread(api.read_namespaced_deployment, name, t.namespace,
                                       _preload_content=False, _request_timeout=ctx.clients.kube_timeout)
    except ApiException as exc:
        if exc.status == 404:
            raise ActionError(f"deployment {name} not found in namespace {t.namespace}") from exc
        raise ActionError(f"cannot read deployment {name}: {exc.status} {exc.reason}") from exc
    return json.loads(resp.data)


async def rbac_for(ctx: ActionContext, action_id: str, verb: str, resource: str,
                   subresource: str = "") -> Rbac:
    """RBAC from the Kubernetes snapshot's permissions, else a SelfSubjectAccessReview now."""
    snap = ctx.state.kube
    if snap is not None and action_id in snap.permissions:
        allowed = bool(snap.permissions[action_id])
        reason = snap.permission_reasons.get(action_id, "")
        return Rbac(allowed, reason or ("" if allowed else f"cannot {verb} {resource}"))
    from kubernetes import client

    t = target_of(ctx)
    attrs = {"namespace": t.namespace, "verb": verb, "group": "apps", "resource": resource,
             "name": ctx.cfg.kubernetes.deployment}  # type: ignore[union-attr]
    if subresource:
        attrs["subresource"] = subresource
    body = {"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
            "spec": {"resourceAttributes": attrs}}
    api = client.AuthorizationV1Api(ctx.clients.kube_api())
    try:
        resp = await asyncio.to_thread(api.create_self_subject_access_review, body,
                                       _preload_content=False, _request_timeout=ctx.clients.kube_timeout)
        status = json.loads(resp.data).get("status", {})
    except Exception as exc:  # noqa: BLE001 - unknown RBAC: let the server decide at execution
        return Rbac(None, f"RBAC unknown (access review failed: {exc})")
    what = f"{verb} {resource}{'/' + subresource if subresource else ''}"
    if status.get("allowed"):
        return Rbac(True, "")
    return Rbac(False, status.get("reason") or f"not allowed to {what}")


def header(ctx: ActionContext) -> dict[str, Any]:
    """Plan fields naming where the action lands: context, cluster, namespace, production."""
    t = target_of(ctx)
    return {"context": t.context, "cluster": t.cluster, "namespace": t.namespace,
            "production": ctx.is_production()}
