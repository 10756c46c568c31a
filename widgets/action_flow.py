"""One action from key to result: registry -> (replica prompt) -> plan -> dialog -> executor ->
notification -> immediate refresh of the affected source.

Runs as an app worker (the app starts it with `run_worker`), so it may await modal screens with
`push_screen_wait`. The app provides: cfg, state, audit, scheduler, actions_in_flight, and
optionally `action_clients` (built here once and kept on the app) and `current_incident_id`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from actions import executor
from actions.base import ActionContext, ActionError, Outcome, Plan
from actions.clients import Clients
from actions.registry import get
from actions.restart import follow_rollout
from cockpit.audit.log import AuditError
from cockpit.sources.base import describe_error
from cockpit.sources.kube.client import KubeTarget, kubeconfig_path
from widgets.dialogs.confirm import ConfirmDialog, ReplicaPrompt, TypeToConfirmDialog


def _context(app: Any) -> ActionContext:
    clients = getattr(app, "action_clients", None)
    if clients is None:
        clients = Clients(app.cfg)
        app.action_clients = clients
    target = None
    kube = app.state.kube
    if kube is not None and app.cfg.kubernetes is not None:
        target = KubeTarget(kube.context, kube.cluster, kube.namespace, kubeconfig_path(app.cfg.kubernetes))
    return ActionContext(cfg=app.cfg, state=app.state, audit=app.audit, clients=clients, target=target,
                         incident_id=getattr(app, "current_incident_id", None))


async def _ask_replicas(app: Any, selection: dict | None) -> dict | None:
    if selection and "replicas" in selection:
        return selection
    dep = app.state.kube.deployment if app.state.kube else None
    cfg = app.cfg
    name = cfg.kubernetes.deployment if cfg.kubernetes else "?"
    count = await app.push_screen_wait(ReplicaPrompt(name, dep.desired if dep else None,
                                                     cfg.actions.scale_min_replicas, cfg.actions.scale_max_replicas))
    return None if count is None else {**(selection or {}), "replicas": count}


def _notifier(app: Any, what: str, every: float = 2.0) -> Callable[[str], None]:
    """Progress lines as notifications, at most one per `every` seconds (a dump's bytes)."""
    import time

    last = [0.0]

    def notify(line: str) -> None:
        now = time.monotonic()
        if now - last[0] >= every:
            last[0] = now
            app.notify(f"{what.split(' (')[0]}: {line}", timeout=every + 0.5)

    return notify


def _refresh(app: Any, source: str) -> None:
    scheduler = getattr(app, "scheduler", None)
    if scheduler is not None:
        scheduler.refresh_now(source)


async def run_action_flow(app: Any, action_id: str, selection: dict | None, *,
                          progress: Callable[[str], None] | None = None,
                          cancel: asyncio.Event | None = None) -> Outcome | None:
    """Plan, confirm, execute and report one action; every step's failure is told to the operator.

    Returns the outcome when it ran (None when not planned, refused or cancelled). `progress`
    receives the lines a long action reports (an index build, a dump), `cancel` stops it.
    """
    action = get(action_id)
    ctx = _context(app)
    ctx.progress, ctx.cancel = progress or _notifier(app, action.description), cancel
    if action_id == "scale":
        selection = await _ask_replicas(app, selection)
        if selection is None:
            return None  # no count chosen: nothing was planned, nothing to audit
    try:
        plan: Plan = await action.plan(ctx, selection)
    except ActionError as exc:
        app.notify(f"{action.description}: {exc}", severity="error", timeout=10)
        return None
    except Exception as exc:  # noqa: BLE001 - a backend error while planning is shown, not raised
        app.notify(f"{action.description}: cannot plan: {describe_error(exc)}", severity="error", timeout=10)
        return None
    refusal = executor.refusal(ctx, action, plan)
    if refusal is not None:
        outcome = executor.record_denied(ctx, action, plan, refusal)
        app.notify(f"{action.description} unavailable: {outcome.message}", severity="warning", timeout=10)
        return None
    if plan.nothing_to_do and action_id != "scale":
        app.notify(f"{plan.title}: {plan.effect[-1]}", timeout=6)
        return None
    dialog = TypeToConfirmDialog(plan) if plan.requires_typed_name else ConfirmDialog(plan)
    if not await app.push_screen_wait(dialog):
        try:
            executor.record_cancelled(ctx, plan)
        except AuditError as exc:
            app.notify(f"cancelled (and not audited: {exc})", severity="error", timeout=10)
            return None
        app.notify(f"{plan.title}: cancelled, nothing changed", timeout=4)
        return None
    app.actions_in_flight += 1
    try:
        outcome = await executor.execute(ctx, action, plan)
    finally:
        app.actions_in_flight -= 1
    severity = {"ok": "information", "unknown": "warning"}.get(outcome.status, "error")
    app.notify(f"{plan.title}: {outcome.message}", severity=severity, timeout=8 if outcome.ok else 15)
    _refresh(app, plan.source)
    if action_id == "restart" and outcome.ok:
        await _follow(app, ctx)
    return outcome


async def _follow(app: Any, ctx: ActionContext) -> None:
    """Show rollout progress (updated/ready x/y) as it changes, until done or timed out."""
    last: list[str] = []

    def progress(line: str) -> None:
        if not last or last[-1] != line:
            last.append(line)
            app.notify(f"rollout: {line}", timeout=3)
            _refresh(app, "kubernetes")

    app.actions_in_flight += 1
    try:
        done, summary = await follow_rollout(ctx, progress)
    finally:
        app.actions_in_flight -= 1
    app.notify(summary, severity="information" if done else "warning", timeout=10)
