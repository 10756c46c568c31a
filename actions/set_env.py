"""Set environment on the deployment's container, as `kubectl set env` does it: a strategic merge
patch of the container's `env`, merged by name, which starts a rollout.

Selection: {"container": name or None, "set": {VAR: new value}, "add": {VAR: value to append}}.
"add" is for a list variable (comma-separated, as ADMIN_WHITELIST_IPS): the value is appended
unless it is already in the list. A variable whose value comes from a Secret or a ConfigMap
(`valueFrom`) is shown as such; replacing it needs the variable's name typed, and the patch drops
the reference (`"valueFrom": null`), since the API server refuses an entry with both. Values of
variables named like secrets (token, password, key…) are masked in the plan and the audit trail.
"""

from __future__ import annotations

import hashlib
import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast

from actions.base import ActionContext, ActionError, Outcome, Plan
from actions.kube_common import header, kubectl, rbac_for, read_deployment
from actions.kube_deploy import (
    deployment_name,
    patch_deployment,
    pick_container,
    revision_of,
    rollout_line,
    template_patch,
)
from cockpit.sources.fields import Json, as_text, items, mapping, optional_integer, text

SECRET_NAME = re.compile(r"pass(word|wd)?|token|secret|api[-_]?key|credential|private", re.I)
NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")  # what the API server accepts as a name
MASK = "***"


@dataclass(frozen=True)
class EnvVar:
    """One variable of a container's env: a literal value, or where its value comes from."""

    name: str
    value: str  # the literal value ("" when it comes from elsewhere)
    source: str = ""  # "" for a literal, else "Secret predictiq-api key admin-token", ...

    def shown(self) -> str:
        """What the plan shows for the current value."""
        if self.source:
            return f"from {self.source}"
        return masked(self.name, self.value)


def masked(name: str, value: str) -> str:
    """The value, or *** for a variable named like a secret."""
    return MASK if SECRET_NAME.search(name) and value else value


def describe_value_from(value_from: Json) -> str:
    """'Secret predictiq-api key admin-token', 'ConfigMap app key LIMIT', 'field metadata.name'."""
    for key, kind in (("secretKeyRef", "Secret"), ("configMapKeyRef", "ConfigMap")):
        ref = mapping(value_from, key)
        if ref:
            return f"{kind} {text(ref, 'name') or '?'} key {text(ref, 'key') or '?'}"
    if field := text(mapping(value_from, "fieldRef"), "fieldPath"):
        return f"field {field}"
    if resource := text(mapping(value_from, "resourceFieldRef"), "resource"):
        return f"resource {resource}"
    return "a reference (valueFrom)"


def env_of(container: Json) -> list[EnvVar]:
    """The container's env as EnvVars, in order."""
    out: list[EnvVar] = []
    for entry in items(container, "env"):
        value_from = mapping(entry, "valueFrom")
        source = describe_value_from(value_from) if value_from else ""
        out.append(EnvVar(text(entry, "name"), "" if source else text(entry, "value"), source))
    return out


def list_with(current: str, value: str) -> tuple[str, bool]:
    """(the comma-separated list with `value` appended, whether it was added)."""
    present = [part.strip() for part in current.split(",") if part.strip()]
    if value in present:
        return current, False
    return (f"{current.rstrip(', ')},{value}" if present else value), True


def _clean(name: object, value: object) -> tuple[str, str]:
    var, val = as_text(name).strip(), as_text(value)
    if not NAME.match(var):
        raise ActionError(f"{var!r} is not an environment variable name (letters, digits, _)")
    if "\n" in val or "\r" in val:
        raise ActionError(f"the value for {var} must be one line")
    return var, val


def _changes(selection: Mapping[str, Any]) -> tuple[dict[str, str], dict[str, str]]:
    sets_raw: object = selection.get("set") or {}
    adds_raw: object = selection.get("add") or {}
    if not isinstance(sets_raw, Mapping) or not isinstance(adds_raw, Mapping):
        raise ActionError("set environment needs variables and values")
    sets = dict(_clean(k, v) for k, v in cast("Mapping[object, object]", sets_raw).items())
    adds = dict(_clean(k, v) for k, v in cast("Mapping[object, object]", adds_raw).items())
    if not sets and not adds:
        raise ActionError("set environment needs at least one variable")
    for name, value in adds.items():
        if not value.strip() or "," in value:
            raise ActionError(f"add one value to {name} (no comma): got {value!r}")
    return sets, {k: v.strip() for k, v in adds.items()}


class SetEnvAction:
    """Change environment variables of the deployment's container (starts a rollout)."""

    id = "set_env"
    key = "V"
    description = "Set environment… of the deployment's container (kubectl set env; rolls out)"
    mutating = True
    source = "kubernetes"
    footer = False

    async def plan(self, ctx: ActionContext, selection: Mapping[str, Any] | None) -> Plan:
        """Each variable's current value and the new one, from the live deployment."""
        sets, adds = _changes(selection or {})
        dep = await read_deployment(ctx)
        name = deployment_name(dep)
        container = pick_container(dep, as_text((selection or {}).get("container")) or None)
        cname = text(container, "name")
        current = {v.name: v for v in env_of(container)}
        effect: list[str] = []
        new: dict[str, str] = {}
        drops: list[str] = []
        typed: str | None = None
        for var, value in sets.items():
            old = current.get(var)
            if old is not None and old.source:
                drops.append(var)
                typed = typed or var
                effect.append(
                    f"{var}: {old.shown()} → {masked(var, value)!r} (replaces the reference: "
                    f"type {var} to confirm)"
                )
            elif old is not None and old.value == value:
                effect.append(f"{var}: already {masked(var, value)!r}, no change")
                continue
            else:
                was = repr(old.shown()) if old is not None else "(not set)"
                effect.append(f"{var}: {was} → {masked(var, value)!r}")
            new[var] = value
        for var, value in adds.items():
            old = current.get(var)
            if old is not None and old.source:
                raise ActionError(
                    f"{var} comes from {old.source}: add the value there, or replace it"
                )
            appended, added = list_with(old.value if old else "", value)
            if not added:
                effect.append(f"{var}: {value} is already in the list, no change")
                continue
            was = repr(masked(var, old.value)) if old else "(not set)"
            effect.append(f"{var}: {was} → {masked(var, appended)!r} (adds {masked(var, value)})")
            new[var] = appended
        where = header(ctx)
        if new:
            effect.append(rollout_line(dep))
        assignments = " ".join(shlex.quote(f"{k}={masked(k, v)}") for k, v in new.items())
        return Plan(
            action=self.id,
            title=f"Set env: deployment/{name} ({cname})",
            target=f"deployment/{name}",
            effect=tuple(effect),
            command=kubectl(
                ctx, "set", "env", f"deployment/{name}", "-c", cname, assignments or "(nothing)"
            ),
            danger="medium",
            source=self.source,
            requires_typed_name=typed or (name if where["production"] else None),
            rbac=await rbac_for(ctx, self.id, "patch", "deployments"),
            before={k: (current[k].shown() if k in current else None) for k in new},
            expected_after={k: masked(k, v) for k, v in new.items()},
            params={
                "container": cname,
                "env": new,
                "was": {k: _fingerprint(current.get(k)) for k in new},
                "drop_value_from": drops,
                "revision": revision_of(dep),
            },
            nothing_to_do=not new,
            **where,
        )

    async def execute(self, ctx: ActionContext, plan: Plan) -> Outcome:
        """Refuse when a variable changed since the plan; else patch the env by name."""
        dep = await read_deployment(ctx)
        name = deployment_name(dep)
        container = pick_container(dep, str(plan.params["container"]))
        live = {v.name: v for v in env_of(container)}
        was: Mapping[str, str] = plan.params["was"]
        moved = [k for k, fp in was.items() if _fingerprint(live.get(k)) != fp]
        if moved:
            return Outcome(
                "failed",
                f"{', '.join(moved)} changed since the plan; nothing was changed: plan again",
                error="changed since the plan",
            )
        drops = set(plan.params["drop_value_from"])
        env: list[dict[str, Any]] = [
            {"name": k, "value": v, **({"valueFrom": None} if k in drops else {})}
            for k, v in plan.params["env"].items()
        ]
        body = template_patch(str(plan.params["container"]), {"env": env})
        answer = await patch_deployment(ctx, name, body)
        generation = optional_integer(mapping(answer, "metadata"), "generation")
        shown = ", ".join(f"{k}={masked(k, v)}" for k, v in plan.params["env"].items())
        return Outcome(
            "ok",
            f"rollout started: {shown} on deployment/{name}",
            after={"env": dict(plan.expected_after), "generation": generation},
        )


def _fingerprint(var: EnvVar | None) -> str:
    """What must still hold at execution for the plan to stand (no secret in clear: a hash)."""
    if var is None:
        return "absent"
    if var.source:
        return f"from {var.source}"
    return "sha256:" + hashlib.sha256(var.value.encode()).hexdigest()[:16]
