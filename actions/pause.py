"""Pause and resume a rollout (`kubectl rollout pause|resume`): a strategic merge patch of
`spec.paused`. A paused deployment keeps its pods as they are, old and new, and template
changes wait; resuming lets the controller carry on, and the flow follows that rollout.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from actions.base import ActionContext, Outcome, Plan
from actions.kube_common import header, kubectl, rbac_for, read_deployment
from actions.kube_deploy import deployment_name, patch_deployment
from actions.restart import rollout_progress
from cockpit.sources.fields import boolean, mapping


class _SetPaused:
    """Shared plan/execute: set spec.paused to `paused`."""

    id = ""
    key = ""
    description = ""
    paused = True
    mutating = True
    source = "kubernetes"
    footer = False

    async def plan(self, ctx: ActionContext, selection: Mapping[str, Any] | None) -> Plan:
        """spec.paused now → wanted, and where the rollout stands."""
        dep = await read_deployment(ctx)
        name = deployment_name(dep)
        now = boolean(mapping(dep, "spec"), "paused")
        done, progress = rollout_progress(dep)
        verb = "pause" if self.paused else "resume"
        if now == self.paused:
            effect = [f"deployment/{name} is already {'paused' if now else 'running'}: no change"]
        elif self.paused:
            effect = [
                f"deployment/{name}: spec.paused false → true",
                f"the rollout stops where it is ({progress})"
                if not done
                else "no rollout is in progress: template changes will wait until resumed",
            ]
        else:
            effect = [
                f"deployment/{name}: spec.paused true → false",
                "the controller carries on with the current template (followed here)",
            ]
        where = header(ctx)
        return Plan(
            action=self.id,
            title=f"{verb.capitalize()} the rollout of deployment/{name}",
            target=f"deployment/{name}",
            effect=tuple(effect),
            command=kubectl(ctx, "rollout", verb, f"deployment/{name}"),
            danger="low" if self.paused else "medium",
            source=self.source,
            requires_typed_name=name if where["production"] else None,
            rbac=await rbac_for(ctx, self.id, "patch", "deployments"),
            before={"paused": now},
            expected_after={"paused": self.paused},
            params={"paused": self.paused},
            nothing_to_do=now == self.paused,
            **where,
        )

    async def execute(self, ctx: ActionContext, plan: Plan) -> Outcome:
        """PATCH {spec: {paused: …}}."""
        name = plan.target.split("/", 1)[1]
        answer = await patch_deployment(ctx, name, {"spec": {"paused": self.paused}})
        paused = boolean(mapping(answer, "spec"), "paused")
        return Outcome(
            "ok",
            f"deployment/{name} {'paused' if paused else 'resumed'}",
            after={"paused": paused},
        )


class PauseRolloutAction(_SetPaused):
    """Pause the deployment's rollout."""

    id = "pause_rollout"
    description = "Pause rollout of the deployment (kubectl rollout pause)"
    paused = True


class ResumeRolloutAction(_SetPaused):
    """Resume the deployment's rollout."""

    id = "resume_rollout"
    description = "Resume rollout of the deployment (kubectl rollout resume)"
    paused = False
