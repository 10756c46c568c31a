"""Resources: raise (or set) the memory and/or CPU limit of the deployment's container, with the
request moved in proportion, by a strategic merge patch of that container only (as
`kubectl set resources` does); it starts a rollout.

Selection: {"container": name or None, "memory": "2Gi" or None, "cpu": "2" or None}. With
neither, the plan proposes the next memory step up from the current limit (512Mi → 1Gi → 2Gi …),
never above `[actions] max_memory_limit`. The plan shows how many pods of the new request the
ready nodes have room for; fewer than the replicas is a warning (the rollout would stall).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from actions.base import ActionContext, ActionError, Outcome, Plan
from actions.kube_common import header, kubectl, rbac_for, read_deployment
from actions.kube_deploy import (
    deployment_name,
    patch_deployment,
    pick_container,
    rollout_line,
    template_patch,
)
from actions.node_room import NodeRoom, read_room
from cockpit.quantity import (
    QuantityError,
    cpu_millicores,
    cpu_text,
    human_bytes,
    memory_bytes,
    memory_text,
    next_memory_step,
)
from cockpit.sources.fields import Json, as_text, integer, mapping, optional_integer, text


def current_resources(container: Json) -> dict[str, dict[str, str]]:
    """{"limits": {"memory": "1Gi", ...}, "requests": {...}} as the template has them."""
    resources = mapping(container, "resources")
    return {
        kind: {k: v for k, v in mapping(resources, kind).items() if isinstance(v, str)}
        for kind in ("limits", "requests")
    }


def proposed_memory(ctx: ActionContext, container: Json) -> str | None:
    """The next memory step up from the container's limit (or request), capped; None at the cap."""
    now = current_resources(container)
    current = now["limits"].get("memory") or now["requests"].get("memory")
    cap = memory_bytes(ctx.cfg.actions.max_memory_limit)
    try:
        step = next_memory_step(memory_bytes(current) if current else 0, cap)
    except QuantityError:
        return None
    return memory_text(step) if step is not None else None


def _scaled_request(old_request: float | None, old_limit: float | None, new_limit: float) -> float:
    """The request moved in proportion to the limit (the same share of it), at most the limit."""
    if old_request is None or not old_limit:
        return new_limit
    return min(new_limit, new_limit * old_request / old_limit)


def _parse(kind: str, value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return float(memory_bytes(value) if kind == "memory" else cpu_millicores(value))
    except QuantityError:
        return None


def _text(kind: str, value: float) -> str:
    if kind == "memory":
        mi = 2**20
        return memory_text(int(-(-value // mi) * mi))  # rounded up to a whole Mi
    return cpu_text(int(-(-value // 1)))


def _room_lines(kind: str, room: NodeRoom | str, request: float, replicas: int) -> list[str]:
    if isinstance(room, str):
        return [room]
    scale = 1.0 if kind == "memory" else 1000.0  # room is in bytes or cores, requests in m
    fits = room.fits(request / scale)

    def shown(value: float) -> str:
        return human_bytes(value) if kind == "memory" else f"{value:.2f} cores"

    line = (
        f"nodes: {shown(sum(f for f in room.free if f > 0))} of {shown(room.allocatable)} "
        f"allocatable {kind} free for this deployment's pods; room for {fits} pods of the new "
        f"request, {replicas} needed"
    )
    if fits < replicas:
        return [
            line,
            f"⚠ WARNING: UNSCHEDULABLE — only {fits} of {replicas} replicas fit: the rollout "
            "would stall with Pending pods",
        ]
    return [line]


class ResourcesAction:
    """Set memory and/or CPU limit and request of one container (starts a rollout)."""

    id = "resources"
    key = "M"
    description = "Resources… memory/CPU limit and request of the container (rolls out)"
    mutating = True
    source = "kubernetes"
    footer = False

    async def plan(self, ctx: ActionContext, selection: Mapping[str, Any] | None) -> Plan:
        """Current → new limit and request per resource, the node room, the rollout."""
        chosen = selection or {}
        dep = await read_deployment(ctx)
        name = deployment_name(dep)
        container = pick_container(dep, as_text(chosen.get("container")) or None)
        cname = text(container, "name")
        wanted = {k: as_text(chosen.get(k)).strip() or None for k in ("memory", "cpu")}
        if wanted["memory"] is None and wanted["cpu"] is None:
            wanted["memory"] = proposed_memory(ctx, container)
            if wanted["memory"] is None:
                raise ActionError(
                    f"container {cname} is at or above actions.max_memory_limit "
                    f"({ctx.cfg.actions.max_memory_limit}): raise the cap in the config first"
                )
        now = current_resources(container)
        change: dict[str, dict[str, str]] = {"limits": {}, "requests": {}}
        effect: list[str] = []
        replicas = integer(mapping(dep, "spec"), "replicas", 1)
        warnings: list[str] = []
        for kind, value in wanted.items():
            if value is None:
                continue
            limit = _parse(kind, value)
            if limit is None or limit <= 0:
                raise ActionError(f"{kind} must be a quantity such as 2Gi or 1500m, got {value!r}")
            if kind == "memory" and limit > memory_bytes(ctx.cfg.actions.max_memory_limit):
                raise ActionError(
                    f"{value} is above actions.max_memory_limit "
                    f"({ctx.cfg.actions.max_memory_limit})"
                )
            old_limit = _parse(kind, now["limits"].get(kind))
            old_request = _parse(kind, now["requests"].get(kind))
            request = _scaled_request(old_request, old_limit, limit)
            change["limits"][kind] = _text(kind, limit)
            change["requests"][kind] = _text(kind, request)
            lower = " (LOWER than now)" if old_limit is not None and limit < old_limit else ""
            effect.append(
                f"container {cname} {kind}: limit {now['limits'].get(kind, '(none)')} → "
                f"{change['limits'][kind]}{lower}, request {now['requests'].get(kind, '(none)')}"
                f" → {change['requests'][kind]}"
            )
            lines = _room_lines(kind, await read_room(ctx, kind, dep), request, replicas)
            effect += [f"  {line}" for line in lines if not line.startswith("⚠")]
            warnings += [line for line in lines if line.startswith("⚠")]
        unchanged = all(now[k].get(r) == v for k in change for r, v in change[k].items())
        effect += warnings
        effect.append("no change: already these values" if unchanged else rollout_line(dep))
        where = header(ctx)
        flags = [
            f"--{kind}={','.join(f'{r}={v}' for r, v in values.items())}"
            for kind, values in change.items()
            if values
        ]
        return Plan(
            action=self.id,
            title=f"Resources: deployment/{name} ({cname})",
            target=f"deployment/{name}",
            effect=tuple(effect),
            command=kubectl(ctx, "set", "resources", f"deployment/{name}", "-c", cname, *flags),
            danger="high" if warnings else "medium",
            source=self.source,
            requires_typed_name=name if where["production"] else None,
            rbac=await rbac_for(ctx, self.id, "patch", "deployments"),
            before={"container": cname, **now},
            expected_after={"container": cname, **change},
            params={"container": cname, "resources": change, "was": now},
            nothing_to_do=unchanged,
            **where,
        )

    async def execute(self, ctx: ActionContext, plan: Plan) -> Outcome:
        """Refuse when the container's resources changed since the plan; else patch them."""
        dep = await read_deployment(ctx)
        name = deployment_name(dep)
        cname = str(plan.params["container"])
        if current_resources(pick_container(dep, cname)) != plan.params["was"]:
            return Outcome(
                "failed",
                f"the resources of container {cname} changed since the plan; nothing was "
                "changed: plan again",
                error="changed since the plan",
            )
        body = template_patch(cname, {"resources": plan.params["resources"]})
        answer = await patch_deployment(ctx, name, body)
        limits = plan.params["resources"]["limits"]
        return Outcome(
            "ok",
            f"rollout started: container {cname} limits "
            + ", ".join(f"{k} {v}" for k, v in limits.items()),
            after={
                "resources": plan.params["resources"],
                "generation": optional_integer(mapping(answer, "metadata"), "generation"),
            },
        )
