"""Scale the deployment through the scale subresource: "replicas 3 → 10", with the HPA that may
override it named in the plan."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from actions.base import ActionContext, ActionError, Outcome, Plan
from actions.kube_common import header, kubectl, rbac_for, read_deployment, response_json
from cockpit.sources.fields import integer, mapping, optional_integer, text


def validate_replicas(ctx: ActionContext, value: Any) -> int:
    """The requested replica count as an int within the configured bounds, or ActionError."""
    lo, hi = ctx.cfg.actions.scale_min_replicas, ctx.cfg.actions.scale_max_replicas
    try:
        n = int(str(value).strip())
    except (TypeError, ValueError):
        raise ActionError(
            f"replicas must be a whole number from {lo} to {hi}, got {value!r}"
        ) from None
    if not lo <= n <= hi:
        raise ActionError(
            f"replicas must be from {lo} to {hi} (actions.scale_min/max_replicas), got {n}"
        )
    return n


async def patch_replicas(ctx: ActionContext, name: str, namespace: str, wanted: int) -> int | None:
    """PATCH deployments/<name>/scale {spec: {replicas: N}}; the replica count the server holds."""
    from kubernetes import client

    api = client.AppsV1Api(ctx.clients.kube_writer())
    resp = await asyncio.to_thread(
        api.patch_namespaced_deployment_scale,
        name,
        namespace,
        {"spec": {"replicas": wanted}},
        _preload_content=False,
        _request_timeout=ctx.clients.kube_timeout,
    )
    return optional_integer(mapping(response_json(resp), "spec"), "replicas")


class ScaleAction:
    """Set the deployment's replica count (selection: {"replicas": N})."""

    id = "scale"
    key = "s"
    description = "Scale the deployment"
    mutating = True
    source = "kubernetes"

    async def plan(self, ctx: ActionContext, selection: Mapping[str, Any] | None) -> Plan:
        """Read the live replica count and the HPA; validate the requested count."""
        if not selection or "replicas" not in selection:
            raise ActionError("scale needs a replica count")
        wanted = validate_replicas(ctx, selection["replicas"])
        dep = await read_deployment(ctx)
        name = text(mapping(dep, "metadata"), "name")
        current = integer(mapping(dep, "spec"), "replicas", 1)
        effect = [f"deployment/{name}: replicas {current} → {wanted}"]
        snap = ctx.state.kube
        hpa = snap.deployment.hpa if snap and snap.deployment else None
        if hpa is not None:
            effect.append(
                f"HPA {hpa.name} manages this deployment ({hpa.min_replicas}..{hpa.max_replicas}): "
                "it may override this count"
            )
            if not hpa.min_replicas <= wanted <= hpa.max_replicas:
                effect.append(f"{wanted} is outside the HPA's range: expect it to scale back")
        if wanted == 0:
            effect.append("0 replicas: the API stops serving entirely")
        if wanted == current:
            effect.append("no change: already at this count")
        where = header(ctx)
        danger = "high" if wanted == 0 else "medium"
        typed = name if (wanted == 0 or where["production"]) else None
        return Plan(
            action=self.id,
            title=f"Scale deployment/{name} to {wanted}",
            target=f"deployment/{name}",
            effect=tuple(effect),
            command=kubectl(ctx, "scale", f"deployment/{name}", f"--replicas={wanted}"),
            danger=danger,
            source=self.source,
            requires_typed_name=typed,
            rbac=await rbac_for(ctx, self.id, "patch", "deployments", "scale"),
            before={"replicas": current},
            expected_after={"replicas": wanted},
            params={"replicas": wanted},
            nothing_to_do=wanted == current,
            **where,
        )

    async def execute(self, ctx: ActionContext, plan: Plan) -> Outcome:
        """PATCH deployments/<name>/scale {spec: {replicas: N}}."""
        name = plan.target.split("/", 1)[1]
        replicas = await patch_replicas(ctx, name, plan.namespace, int(plan.params["replicas"]))
        return Outcome(
            "ok",
            f"deployment/{name} scaled: replicas {plan.before.get('replicas')} → {replicas}",
            after={"replicas": replicas},
        )
