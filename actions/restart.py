"""Rollout restart, as `kubectl rollout restart` does it: patch the pod template annotation
`kubectl.kubernetes.io/restartedAt` with an RFC 3339 time. A paused deployment is refused (kubectl
refuses too: the new template would not roll). `follow_rollout` reports progress afterwards."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from actions.base import ActionContext, ActionError, Outcome, Plan
from actions.kube_common import header, kubectl, rbac_for, read_deployment, response_json
from cockpit.sources.fields import (
    Json,
    boolean,
    integer,
    mapping,
    optional_integer,
    optional_text,
    text,
)

RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"


def paused_reason(name: str) -> str:
    """The refusal for a paused deployment, with the way out."""
    return (
        f"deployment/{name} is paused: a restart would not roll out. "
        f"Resume it first (kubectl rollout resume deployment/{name}), "
        "or restart after the pause ends"
    )


def rollout_progress(dep: Json) -> tuple[bool, str]:
    """(done, 'updated 2/3, ready 2/3, available 2/3') from a deployment's status, as kubectl
    rollout status judges it: the new generation observed and every replica updated and ready."""
    spec, status = mapping(dep, "spec"), mapping(dep, "status")
    want = integer(spec, "replicas", 1)
    updated = integer(status, "updatedReplicas")
    ready = integer(status, "readyReplicas")
    available = integer(status, "availableReplicas")
    total = integer(status, "replicas")
    generation = integer(mapping(dep, "metadata"), "generation")
    if integer(status, "observedGeneration") < generation:
        # the status still describes the old template: its counts would read as "done"
        return False, f"waiting for the controller to pick up generation {generation}"
    done = updated == want and total == want and available == want and ready == want
    return done, f"updated {updated}/{want}, ready {ready}/{want}, available {available}/{want}"


class RestartAction:
    """Restart every pod of the deployment by a rolling update."""

    id = "restart"
    key = "r"
    description = "Rollout restart the deployment"
    mutating = True
    source = "kubernetes"

    async def plan(self, ctx: ActionContext, selection: Mapping[str, Any] | None) -> Plan:
        """Read the live deployment; refuse a paused one."""
        dep = await read_deployment(ctx)
        name = text(mapping(dep, "metadata"), "name")
        spec = mapping(dep, "spec")
        if boolean(spec, "paused"):
            raise ActionError(paused_reason(name))
        replicas = integer(spec, "replicas", 1)
        annotations = mapping(spec, "template", "metadata", "annotations")
        where = header(ctx)
        return Plan(
            action=self.id,
            title=f"Rollout restart deployment/{name}",
            target=f"deployment/{name}",
            effect=(
                f"deployment/{name}: replace all {replicas} pods one by one (rolling update)",
                f"sets pod template annotation {RESTARTED_AT} to the current time",
            ),
            command=kubectl(ctx, "rollout", "restart", f"deployment/{name}"),
            danger="medium",
            source=self.source,
            requires_typed_name=name if where["production"] else None,
            rbac=await rbac_for(ctx, self.id, "patch", "deployments"),
            before={"restartedAt": optional_text(annotations, RESTARTED_AT), "replicas": replicas},
            expected_after={"restartedAt": "now"},
            params={},
            **where,
        )

    async def execute(self, ctx: ActionContext, plan: Plan) -> Outcome:
        """Re-check the pause, then patch the template annotation."""
        from kubernetes import client

        dep = await read_deployment(ctx)
        name = text(mapping(dep, "metadata"), "name")
        if boolean(mapping(dep, "spec"), "paused"):
            return Outcome("failed", paused_reason(name), error="deployment is paused")
        now = datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
        body = {"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: now}}}}}
        api = client.AppsV1Api(ctx.clients.kube_writer())
        resp = await asyncio.to_thread(
            api.patch_namespaced_deployment,
            name,
            plan.namespace,
            body,
            _preload_content=False,
            _request_timeout=ctx.clients.kube_timeout,
        )
        generation = optional_integer(mapping(response_json(resp), "metadata"), "generation")
        return Outcome(
            "ok",
            f"rollout started: deployment/{name} restartedAt {now}",
            after={"restartedAt": now, "generation": generation},
        )


async def follow_rollout(
    ctx: ActionContext, on_progress: Callable[[str], None], poll_seconds: float = 1.0
) -> tuple[bool, str]:
    """Report rollout progress until it is complete or cfg.actions.rollout_timeout_seconds pass.
    Returns (done, last progress line)."""
    deadline = time.monotonic() + ctx.cfg.actions.rollout_timeout_seconds
    line = "waiting for the rollout"
    while True:
        try:
            done, line = rollout_progress(await read_deployment(ctx))
        except ActionError as exc:
            line = f"cannot read progress: {exc}"
            done = False
        on_progress(line)
        if done:
            return True, f"rollout complete: {line}"
        if time.monotonic() >= deadline:
            return (
                False,
                f"rollout not complete after {ctx.cfg.actions.rollout_timeout_seconds:g} s: {line}",
            )
        await asyncio.sleep(poll_seconds)  # polling the API server at a fixed, gentle pace
