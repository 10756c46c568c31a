"""Roll back, as `kubectl rollout undo` does it: the deployment's replica set with the previous
`deployment.kubernetes.io/revision` has the template to go back to; that template, minus its
`pod-template-hash` label, is copied into the deployment, and the controller rolls out (the old
replica set becomes the newest revision again).

The plan shows revision N → N-1 and what differs between the two templates (images, env,
resources). The PATCH is a JSON patch whose first operation tests that the template is still the
one the plan compared, so a rollout started by someone else meanwhile is never undone blindly.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Mapping
from typing import Any

from actions.base import ActionContext, ActionError, Outcome, Plan
from actions.kube_common import header, kubectl, rbac_for, read_deployment
from actions.kube_deploy import (
    JSON_PATCH,
    deployment_name,
    patch_deployment,
    replica_sets,
    revision_of,
)
from actions.set_env import env_of
from cockpit.sources.fields import Json, items, mapping, optional_integer, text

HASH_LABEL = "pod-template-hash"


def rollback_template(rs: Json) -> dict[str, Any]:
    """The replica set's pod template as the deployment would hold it (no pod-template-hash)."""
    template: dict[str, Any] = copy.deepcopy(dict(mapping(mapping(rs, "spec"), "template")))
    meta = dict(mapping(template, "metadata"))
    labels = {k: v for k, v in mapping(meta, "labels").items() if k != HASH_LABEL}
    if "labels" in meta:
        meta["labels"] = labels
    if "metadata" in template:
        template["metadata"] = meta
    return template


def _containers(template: Json) -> dict[str, Json]:
    return {text(c, "name"): c for c in items(mapping(template, "spec"), "containers")}


def _resources(container: Json) -> str:
    res = mapping(container, "resources")
    parts = [
        f"{kind} " + ",".join(f"{k}={v}" for k, v in sorted(mapping(res, kind).items()))
        for kind in ("limits", "requests")
        if mapping(res, kind)
    ]
    return "; ".join(parts) or "(none)"


def template_diff(current: Json, previous: Json) -> list[str]:
    """What going from `current` to `previous` changes: images, env, resources per container;
    'other template fields differ' when something else does too."""
    now, then = _containers(current), _containers(previous)
    lines: list[str] = []
    for name in [*now, *(n for n in then if n not in now)]:
        a, b = now.get(name), then.get(name)
        if a is None or b is None:
            lines.append(f"container {name}: {'added' if a is None else 'removed'}")
            continue
        if text(a, "image") != text(b, "image"):
            lines.append(f"container {name} image: {text(a, 'image')} → {text(b, 'image')}")
        env_a = {v.name: v.shown() for v in env_of(a)}
        env_b = {v.name: v.shown() for v in env_of(b)}
        for var in [*env_a, *(v for v in env_b if v not in env_a)]:
            if env_a.get(var) != env_b.get(var):
                was = repr(env_a[var]) if var in env_a else "(not set)"
                will = repr(env_b[var]) if var in env_b else "(removed)"
                lines.append(f"container {name} env {var}: {was} → {will}")
        if _resources(a) != _resources(b):
            lines.append(f"container {name} resources: {_resources(a)} → {_resources(b)}")
    if not lines and current != previous:
        lines.append("only other template fields differ (annotations such as restartedAt)")
    elif current != previous and _strip_known(current) != _strip_known(previous):
        lines.append("other template fields differ too")
    return lines or ["the templates are identical"]


def fingerprint(template: Json) -> str:
    """A short hash of a template, to tell at execution that it is still the planned one."""
    raw = json.dumps(template, sort_keys=True, separators=(",", ":")).encode()
    return "sha256:" + hashlib.sha256(raw).hexdigest()[:16]


def _strip_known(template: Json) -> object:
    """The template without what template_diff names (to tell whether anything else differs)."""
    spec = dict(mapping(template, "spec"))
    spec["containers"] = [
        {k: v for k, v in c.items() if k not in ("image", "env", "resources")}
        for c in items(spec, "containers")
    ]
    return {**template, "spec": spec}


class RollbackAction:
    """Roll the deployment back to its previous revision (starts a rollout)."""

    id = "rollback"
    key = "H"  # history: the previous revision (U acknowledges unknown results)
    description = "Roll back… the deployment to its previous revision (kubectl rollout undo)"
    mutating = True
    source = "kubernetes"
    footer = False

    async def plan(self, ctx: ActionContext, selection: Mapping[str, Any] | None) -> Plan:
        """Revision N → N-1 from the live replica sets, and the template diff."""
        dep = await read_deployment(ctx)
        name = deployment_name(dep)
        try:
            sets = await replica_sets(ctx, dep)
        except Exception as exc:  # RBAC or a failing server: no previous template to show
            raise ActionError(f"cannot list the replica sets of deployment/{name}: {exc}") from exc
        current = revision_of(dep)
        older = [rs for rs in sets if 0 < revision_of(rs) < current]
        if not older:
            raise ActionError(
                f"deployment/{name} has no revision before {current}: nothing to roll back to"
            )
        previous = older[0]
        template = mapping(mapping(dep, "spec"), "template")
        target_template = rollback_template(previous)
        diff = template_diff(template, target_template)
        where = header(ctx)
        to = revision_of(previous)
        effect = [
            f"deployment/{name}: revision {current} → {to} "
            f"(ReplicaSet {text(mapping(previous, 'metadata'), 'name')})",
            *diff,
            "starts a rollout: the pods are replaced one by one with revision "
            f"{to}'s template (which becomes revision {max(current, revision_of(sets[0])) + 1})",
        ]
        if mapping(dep, "spec").get("paused"):
            effect.append(f"deployment/{name} is PAUSED: the rollout waits until it is resumed")
        return Plan(
            action=self.id,
            title=f"Roll back deployment/{name} to revision {to}",
            target=f"deployment/{name}",
            effect=tuple(effect),
            command=kubectl(ctx, "rollout", "undo", f"deployment/{name}", f"--to-revision={to}"),
            danger="high",
            source=self.source,
            requires_typed_name=name if where["production"] else None,
            rbac=await rbac_for(ctx, self.id, "patch", "deployments"),
            before={"revision": current},
            expected_after={"revision_template": to},
            # fingerprints, not the templates: they may hold literal secrets in env values
            params={"to_revision": to, "from_template": fingerprint(template)},
            nothing_to_do=diff == ["the templates are identical"],
            **where,
        )

    async def execute(self, ctx: ActionContext, plan: Plan) -> Outcome:
        """Test that the template is the planned one, then replace it with the old revision's."""
        dep = await read_deployment(ctx)
        name = deployment_name(dep)
        template = dict(mapping(mapping(dep, "spec"), "template"))
        to = int(plan.params["to_revision"])
        previous = next((rs for rs in await replica_sets(ctx, dep) if revision_of(rs) == to), None)
        if fingerprint(template) != plan.params["from_template"] or previous is None:
            return Outcome(
                "failed",
                f"deployment/{name}'s template or revisions changed since the plan; nothing "
                "was changed: plan again",
                error="changed since the plan",
            )
        body: list[dict[str, Any]] = [
            {"op": "test", "path": "/spec/template", "value": template},
            {"op": "replace", "path": "/spec/template", "value": rollback_template(previous)},
        ]
        try:
            answer = await patch_deployment(ctx, name, body, JSON_PATCH)
        except Exception as exc:
            if getattr(exc, "status", None) == 422:  # the test failed: someone rolled out
                return Outcome(
                    "failed",
                    f"deployment/{name}'s template changed since the plan; nothing was "
                    "changed: plan again",
                    error="changed since the plan",
                )
            raise
        return Outcome(
            "ok",
            f"rollout started: deployment/{name} back to revision "
            f"{plan.params['to_revision']}'s template",
            after={
                "to_revision": plan.params["to_revision"],
                "generation": optional_integer(mapping(answer, "metadata"), "generation"),
            },
        )
