"""What the Kubernetes actions share: the live deployment, RBAC, and the plan's header fields.

The kubernetes client is synchronous: calls run in a thread (`asyncio.to_thread`), each with
`_request_timeout` so a dead network cannot hang the action (PITFALLS). Reads parse raw JSON.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from actions.base import ActionContext, ActionError, Rbac
from cockpit.config import KubernetesConfig
from cockpit.sources.fields import Json, as_mapping, boolean, is_object, text
from cockpit.sources.kube.client import KubeTarget, resolve_target


def kube_config(ctx: ActionContext) -> KubernetesConfig:
    """The [kubernetes] section, or ActionError."""
    if ctx.cfg.kubernetes is None:
        raise ActionError("no [kubernetes] section in the config")
    return ctx.cfg.kubernetes


def response_json(resp: object) -> Json:
    """The JSON object of a `_preload_content=False` answer: the generated methods are annotated
    with model classes, but with that flag they return the raw urllib3 response."""
    data: object = getattr(resp, "data", b"")  # the attribute the model annotation hides
    try:
        doc: object = json.loads(data if isinstance(data, bytes | str) else b"")
    except ValueError:
        doc = None
    if not is_object(doc):
        raise ActionError("the API server's answer is not a JSON object")
    return as_mapping(doc)


def target_of(ctx: ActionContext) -> KubeTarget:
    """The resolved context/namespace (from the context, else resolved from the config)."""
    kube = kube_config(ctx)
    if ctx.target is None:
        try:
            ctx.target = resolve_target(kube)
        except Exception as exc:  # a broken kubeconfig is an operator-facing reason
            raise ActionError(f"cannot resolve the Kubernetes context: {exc}") from exc
    return ctx.target


def kubectl(ctx: ActionContext, *args: str) -> str:
    """The equivalent kubectl command line, with the context and namespace spelled out."""
    t = target_of(ctx)
    ctx_flag = f" --context {t.context}" if t.context else ""
    return f"kubectl{ctx_flag} -n {t.namespace} " + " ".join(args)


async def read_deployment(ctx: ActionContext) -> Json:
    """GET the configured deployment as JSON (live, not the cached snapshot)."""
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    t = target_of(ctx)
    name = kube_config(ctx).deployment
    api = client.AppsV1Api(ctx.clients.kube_api())
    try:
        resp = await asyncio.to_thread(
            api.read_namespaced_deployment,
            name,
            t.namespace,
            _preload_content=False,
            _request_timeout=ctx.clients.kube_timeout,
        )
    except ApiException as exc:
        status: object = getattr(exc, "status", None)  # untyped in the client
        reason: object = getattr(exc, "reason", None)
        if status == 404:
            raise ActionError(f"deployment {name} not found in namespace {t.namespace}") from exc
        raise ActionError(f"cannot read deployment {name}: {status} {reason}") from exc
    return response_json(resp)


async def rbac_for(
    ctx: ActionContext, action_id: str, verb: str, resource: str, subresource: str = ""
) -> Rbac:
    """RBAC from the Kubernetes snapshot's permissions, else a SelfSubjectAccessReview now."""
    snap = ctx.state.kube
    if snap is not None and action_id in snap.permissions:
        allowed = bool(snap.permissions[action_id])
        reason = snap.permission_reasons.get(action_id, "")
        return Rbac(allowed, reason or ("" if allowed else f"cannot {verb} {resource}"))
    from kubernetes import client

    t = target_of(ctx)
    attrs = {
        "namespace": t.namespace,
        "verb": verb,
        "group": "apps",
        "resource": resource,
        "name": kube_config(ctx).deployment,
    }
    if subresource:
        attrs["subresource"] = subresource
    body: Any = {
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SelfSubjectAccessReview",
        "spec": {"resourceAttributes": attrs},
    }  # Any: the client takes a dict for its model
    api = client.AuthorizationV1Api(ctx.clients.kube_api())
    try:
        resp = await asyncio.to_thread(
            api.create_self_subject_access_review,
            body,
            _preload_content=False,
            _request_timeout=ctx.clients.kube_timeout,
        )
        status = as_mapping(response_json(resp).get("status"))
    except Exception as exc:  # unknown RBAC: let the server decide at execution
        return Rbac(None, f"RBAC unknown (access review failed: {exc})")
    what = f"{verb} {resource}{'/' + subresource if subresource else ''}"
    if boolean(status, "allowed"):
        return Rbac(True, "")
    return Rbac(False, text(status, "reason") or f"not allowed to {what}")


def header(ctx: ActionContext) -> dict[str, Any]:
    """Plan fields naming where the action lands: context, cluster, namespace, production."""
    t = target_of(ctx)
    return {
        "context": t.context,
        "cluster": t.cluster,
        "namespace": t.namespace,
        "production": ctx.is_production(),
    }
