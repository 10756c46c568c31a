"""What an action asks the operator before it can be planned: which variable and value (Set
environment), which limits (Resources). The plan and its confirmation come after, from live state.

Set environment lists the runbook's variables first (the incident's entry names them with their
kind, `value` or `list`; outside an incident, every entry's), then the container's other
variables, then "another variable". A list variable asks for one value to add; a secret's value
is typed without echo. Resources proposes the next memory step up, which the operator may edit
(`memory=2Gi cpu=2`, or just `2Gi`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from textual.screen import ModalScreen

from actions.base import ActionContext
from actions.kube_common import read_deployment
from actions.kube_deploy import deployment_name, pick_container
from actions.resources import current_resources, proposed_memory
from actions.set_env import SECRET_NAME, EnvVar, env_of
from cockpit.sources.fields import text
from widgets.dialogs.choice import ChoiceDialog
from widgets.dialogs.text import TextDialog

Selection = dict[str, Any]
Ask = Callable[[ModalScreen[Any]], Awaitable[Any]]  # push a dialog, wait for its answer
OTHER = "\x00other"  # the "another variable" choice (no variable can be named so)
MAX_CHOICES = 9  # the choice dialog picks by one digit


def _short(text_: str, width: int = 28) -> str:
    return text_ if len(text_) <= width else text_[: width - 1] + "…"


def env_choices(variables: list[EnvVar], kinds: Mapping[str, str]) -> list[tuple[str, str]]:
    """(value, label) per variable: the runbook's first, then the container's others."""
    by_name = {v.name: v for v in variables}
    order = [n for n in kinds if n in by_name] + [v.name for v in variables if v.name not in kinds]
    order += [n for n in kinds if n not in by_name]  # named by the runbook, not set yet
    out: list[tuple[str, str]] = []
    for name in order[: MAX_CHOICES - 1]:
        var = by_name.get(name)
        shown = var.shown() if var else "(not set)"
        how = "add a value" if kinds.get(name) == "list" else "new value"
        if var is not None and var.source:  # 'from Secret predictiq-api' (the key in the plan)
            shown, how = "from " + var.source.split(" key ")[0], "replace: name typed"
        out.append((name, f"{name} = {_short(shown)}  ({how})"))
    out.append((OTHER, "Another variable (NAME=value)"))
    return out


async def ask_env(ctx: ActionContext, ask: Ask, kinds: Mapping[str, str]) -> Selection | None:
    """The variable and its new value (or the value to add), or None when cancelled."""
    dep = await read_deployment(ctx)
    container = pick_container(dep, None)
    variables = env_of(container)
    cname = text(container, "name")
    name = await ask(
        ChoiceDialog(
            f"Set environment: container {cname} of deployment/{deployment_name(dep)}",
            env_choices(variables, kinds),
        )
    )
    if not isinstance(name, str):
        return None
    if name == OTHER:
        typed = await ask(TextDialog("Variable and value, as NAME=value:"))
        if not isinstance(typed, str) or "=" not in typed:
            return None
        var, _, value = typed.partition("=")
        return {"container": cname, "set": {var.strip(): value}}
    current = next((v for v in variables if v.name == name), None)
    shown = current.shown() if current else "not set"
    secret = bool(SECRET_NAME.search(name))
    if kinds.get(name) == "list" and not (current and current.source):
        value = await ask(
            TextDialog(
                f"Add a value to {name} (now {shown}); one value, no comma:", password=secret
            )
        )
        return None if not isinstance(value, str) else {"container": cname, "add": {name: value}}
    value = await ask(TextDialog(f"New value for {name} (now {shown}):", password=secret))
    return None if not isinstance(value, str) else {"container": cname, "set": {name: value}}


def parse_resources(typed: str) -> Selection:
    """'memory=2Gi cpu=2' or '2Gi' (memory) as a selection; unknown words are kept for the plan
    to refuse with its reason."""
    out: Selection = {}
    for word in typed.replace(",", " ").split():
        kind, sep, value = word.partition("=")
        if not sep:
            out["memory"] = word
        elif kind.strip().lower() in ("memory", "mem"):
            out["memory"] = value
        elif kind.strip().lower() == "cpu":
            out["cpu"] = value
        else:
            out[kind] = value
    return out


async def ask_resources(ctx: ActionContext, ask: Ask) -> Selection | None:
    """The new memory (and/or CPU) limit, starting from the proposed next step."""
    dep = await read_deployment(ctx)
    container = pick_container(dep, None)
    now = current_resources(container)
    proposal = proposed_memory(ctx, container)
    limits = ", ".join(f"{k} {v}" for k, v in now["limits"].items()) or "none"
    requests = ", ".join(f"{k} {v}" for k, v in now["requests"].items()) or "none"
    typed = await ask(
        TextDialog(
            f"Resources of container {text(container, 'name')}\n"
            f"  now: limits {limits}; requests {requests}\n"
            f"  memory cap (actions.max_memory_limit): {ctx.cfg.actions.max_memory_limit}\n"
            "New limits, e.g. memory=2Gi cpu=2 (the requests follow in proportion):",
            f"memory={proposal}" if proposal else "",
        )
    )
    if not isinstance(typed, str):
        return None
    return {"container": text(container, "name"), **parse_resources(typed)}
