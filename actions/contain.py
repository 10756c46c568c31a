"""Contain: scale the deployment to 0 (the security-incident template: stop serving, keep the
pods' template and the evidence). Always with the deployment's name typed; an HPA that targets
the deployment is named, with the command to stop it from bringing pods back.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from actions.base import ActionContext, Outcome, Plan
from actions.kube_common import header, kubectl, rbac_for, read_deployment
from actions.kube_deploy import deployment_name
from actions.scale import patch_replicas
from cockpit.sources.fields import integer, mapping


class ContainAction:
    """Scale the deployment to zero replicas, name typed."""

    id = "contain"
    key = "Z"
    description = "Contain… scale the deployment to 0 (security incident; name typed)"
    mutating = True
    source = "kubernetes"
    footer = False

    async def plan(self, ctx: ActionContext, selection: Mapping[str, Any] | None) -> Plan:
        """The live replica count → 0, and the HPA that may undo it."""
        dep = await read_deployment(ctx)
        name = deployment_name(dep)
        current = integer(mapping(dep, "spec"), "replicas", 1)
        effect = [
            f"deployment/{name}: replicas {current} → 0",
            "the API stops serving entirely; the template, config and logs stay for forensics",
        ]
        snap = ctx.state.kube
        hpa = snap.deployment.hpa if snap and snap.deployment else None
        if hpa is not None:
            effect.append(
                f"⚠ HPA {hpa.name} targets this deployment ({hpa.min_replicas}..{hpa.max_replicas}"
                " replicas): it will scale it back up unless changed — "
                + kubectl(ctx, "delete", f"hpa/{hpa.name}")
            )
        where = header(ctx)
        return Plan(
            action=self.id,
            title=f"Contain deployment/{name}: scale to 0",
            target=f"deployment/{name}",
            effect=tuple(effect),
            command=kubectl(ctx, "scale", f"deployment/{name}", "--replicas=0"),
            danger="high",
            source=self.source,
            requires_typed_name=name,
            rbac=await rbac_for(ctx, self.id, "patch", "deployments", "scale"),
            before={"replicas": current, "hpa": hpa.name if hpa else None},
            expected_after={"replicas": 0},
            params={"replicas": 0},
            nothing_to_do=current == 0,
            **where,
        )

    async def execute(self, ctx: ActionContext, plan: Plan) -> Outcome:
        """PATCH deployments/<name>/scale {spec: {replicas: 0}}."""
        name = plan.target.split("/", 1)[1]
        replicas = await patch_replicas(ctx, name, plan.namespace, 0)
        return Outcome(
            "ok",
            f"deployment/{name} contained: replicas {plan.before.get('replicas')} → {replicas}",
            after={"replicas": replicas},
        )
