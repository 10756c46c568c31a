"""One action from key to result: registry -> (replica prompt) -> plan -> dialog -> executor ->
notification -> immediate refresh of the affected source.

Runs as an app worker (`start_action_flow` starts it with `run_worker`), so it may await modal
screens with `push_screen_wait`. The app provides: cfg, state, audit, scheduler,
actions_in_flight, and optionally `action_clients` (built here once and kept on the app),
`incidents` (the active ones) and `panes_by_source` (to re-check a selected row).

An action belongs to an incident when it was started from that incident's detail, or when
exactly one active incident lists it among its fixes: its audit entries then carry the
incident's id, and the post-mortem lists it under "Actions taken".
"""

from __future__ import annotations

from typing import Any

from actions import executor
from actions.base import ActionContext, ActionError, Plan
from actions.clients import Clients
from actions.registry import get
from actions.restart import follow_rollout
from cockpit.audit.log import AuditError
from cockpit.incidents.model import linked_incident
from cockpit.sources.base import describe_error
from cockpit.sources.kube.client import KubeTarget, kubeconfig_path
from widgets.dialogs.confirm import ConfirmDialog, ReplicaPrompt, TypeToConfirmDialog
from widgets.selection import row_change


def start_action_flow(app: Any, action_id: str, selection: dict | None,
                      incident_id: str | None = None) -> None:
    """Start one action's flow in a worker (from a key on the main screen or an incident's detail)."""
    requests = getattr(app, "action_requests", None)
    if requests is not None:
        requests.append((action_id, selection))
    app.run_worker(run_action_flow(app, action_id, selection, incident_id), group="action",
                   exit_on_error=False)


def _incident_for(app: Any, action_id: str, incident_id: str | None) -> str | None:
    if incident_id:
        return incident_id
    return linked_incident(list(getattr(app, "incidents", None) or ()), action_id)


def _context(app: Any, action_id: str = "", incident_id: str | None = None) -> ActionContext:
    clients = getattr(app, "action_clients", None)
    if clients is None:
        clients = Clients(app.cfg)
        app.action_clients = clients
    target = None
    kube = app.state.kube
    if kube is not None and app.cfg.kubernetes is not None:
        target = KubeTarget(kube.context, kube.cluster, kube.namespace, kubeconfig_path(app.cfg.kubernetes))
    return ActionContext(cfg=app.cfg, state=app.state, audit=app.audit, clients=clients, target=target,
                         incident_id=_incident_for(app, action_id, incident_id))


async def _ask_replicas(app: Any, selection: dict | None) -> dict | None:
    if selection and "replicas" in selection:
        return selection
    dep = app.state.kube.deployment if app.state.kube else None
    cfg = app.cfg
    name = cfg.kubernetes.deployment if cfg.kubernetes else "?"
    count = await app.push_screen_wait(ReplicaPrompt(name, dep.desired if dep else None,
                                                     cfg.actions.scale_min_replicas, cfg.actions.scale_max_replicas))
    return None if count is None else {**(selection or {}), "replicas": count}


def _refresh(app: Any, source: str) -> None:
    scheduler = getattr(app, "scheduler", None)
    if scheduler is not None:
        scheduler.refresh_now(source)


async def run_action_flow(app: Any, action_id: str, selection: dict | None,
                          incident_id: str | None = None) -> None:
    """Plan, confirm, execute and report one action; every step's failure is told to the operator.

    `selection` is the row as it was at the key press; the confirmation refuses if that row is
    gone or is another thing by then (a pid reused by a new backend)."""
    action = get(action_id)
    ctx = _context(app, action_id, incident_id)
    if action_id == "scale":
        selection = await _ask_replicas(app, selection)
        if selection is None:
            return  # no count chosen: nothing was planned, nothing to audit
    try:
        plan: Plan = await action.plan(ctx, selection)
    except ActionError as exc:
        app.notify(f"{action.description}: {exc}", severity="error", timeout=10)
        return
    except Exception as exc:  # noqa: BLE001 - a backend error while planning is shown, not raised
        app.notify(f"{action.description}: cannot plan: {describe_error(exc)}", severity="error", timeout=10)
        return
    refusal = executor.refusal(ctx, action, plan)
    if refusal is not None:
        outcome = executor.record_denied(ctx, action, plan, refusal)
        app.notify(f"{action.description} unavailable: {outcome.message}", severity="warning", timeout=10)
        return
    if plan.nothing_to_do and action_id != "scale":
        app.notify(f"{plan.title}: {plan.effect[-1]}", timeout=6)
        return
    panes = getattr(app, "panes_by_source", None) or {}

    def recheck() -> str | None:
        return row_change(panes, selection)

    kind = TypeToConfirmDialog if plan.requires_typed_name else ConfirmDialog
    dialog = kind(plan, recheck)
    if not await app.push_screen_wait(dialog):
        why = (f"refused: {dialog.refused}" if dialog.refused
               else "operator cancelled the confirmation")
        try:
            executor.record_cancelled(ctx, plan, why)
        except AuditError as exc:
            app.notify(f"cancelled (and not audited: {exc})", severity="error", timeout=10)
            return
        if dialog.refused:
            app.notify(f"{plan.title}: not done, {dialog.refused}; nothing changed",
                       severity="warning", timeout=10)
        else:
            app.notify(f"{plan.title}: cancelled, nothing changed", timeout=4)
        return
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
