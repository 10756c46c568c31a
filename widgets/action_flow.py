"""One action from key to result: registry -> (replica prompt) -> plan -> dialog -> executor ->
notification -> immediate refresh of the affected source.

`ActionFlow` is the app's collaborator for actions: it gets what it needs through its
constructor (the app for dialogs and notifications, the config, the state, the audit log, a
way to refresh a source, the incident in hand) and keeps the count of actions in flight.
`run` is started in an app worker (`run_worker(..., exit_on_error=False)`), so it may await
modal screens with `push_screen_wait`; an exception it does not expect ends the worker, and
the app's one `on_worker_state_changed` handler tells the operator and logs the traceback.

An action belongs to an incident when it was started from that incident's detail, or when
exactly one active incident lists it among its fixes: its audit entries then carry the
incident's id, and the post-mortem lists it under "Actions taken". A selection is the row as it
was at the key press; the confirmation refuses (saying why) when `row_check` finds that row gone
or become another thing meanwhile (a pid reused by a new backend).
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Callable, Sequence
from typing import Any

from textual.app import App
from textual.notifications import SeverityLevel

from actions import executor
from actions.base import Action, ActionContext, ActionError, Outcome, Plan
from actions.clients import Clients
from actions.kube_deploy import ROLLOUT_ACTIONS
from actions.leases import Leases
from actions.registry import get
from actions.restart import follow_rollout
from cockpit.applog import NOT_CONFIGURED, AppLog
from cockpit.audit.log import AuditError, AuditLog
from cockpit.config import Config
from cockpit.incidents.model import Incident, linked_incident
from cockpit.incidents.runbook import Runbook
from cockpit.models import utcnow
from cockpit.sources.base import describe_error
from cockpit.sources.kube.client import KubeTarget, kubeconfig_path
from cockpit.state import CockpitState
from cockpit.team.leases import describe, target_name
from widgets.dialogs.confirm import ConfirmDialog, ReplicaPrompt, TypeToConfirmDialog

Selection = dict[str, Any]


_ASKS = ("scale", "set_env", "resources")  # the actions that ask for input before their plan
# what a selection holds when it already answers the action's question (from a test or a fix
# started with its input); any other selection is the row the key was pressed on
_ANSWER_KEYS = {"set_env": ("set", "add"), "resources": ("memory", "cpu")}


def _answers(action_id: str, selection: Selection | None) -> bool:
    if not selection:
        return False
    keys = _ANSWER_KEYS.get(action_id)
    return keys is None or any(k in selection for k in keys)


def _no_incident() -> str | None:
    return None


def _no_incidents() -> Sequence[Incident]:
    return ()


def _row_unchanged(selection: Selection | None) -> str | None:
    return None


class ActionFlow:
    """Plans, confirms, executes and reports actions for one app."""

    def __init__(
        self,
        app: App[Any],
        cfg: Config,
        state: CockpitState,
        audit: AuditLog | None,
        refresh: Callable[[str], object],
        *,
        log: AppLog = NOT_CONFIGURED,
        incident_id: Callable[[], str | None] = _no_incident,
        lookup: Callable[[str], Action] = get,
        incidents: Callable[[], Sequence[Incident]] = _no_incidents,
        row_check: Callable[[Selection | None], str | None] = _row_unchanged,
        leases: Leases | None = None,
        runbook: Runbook | None = None,
    ) -> None:
        self.app, self.cfg, self.state, self.audit = app, cfg, state, audit
        self.refresh = refresh
        self.log = log
        self.incident_id = incident_id
        self.lookup = lookup  # action id -> Action (the registry's)
        self.incidents = incidents  # the active incidents (an action listed by one is its)
        self.row_check = row_check  # why a selection is no longer the row it was, if so
        self.runbook = runbook  # names the variables Set environment offers, and their kind
        self.in_flight = 0  # actions executing or following up: quitting asks first
        self.preparing: str | None = None  # the action being planned or confirmed
        self.requests: list[tuple[str, Selection | None]] = []  # every flow started
        self._clients: Clients | None = None  # built on the first action, kept
        self.leases = leases  # team mode: another operator's lease shows in the confirmation

    def _incident_for(self, action_id: str, incident_id: str | None) -> str | None:
        if incident_id:
            return incident_id
        return linked_incident(list(self.incidents()), action_id) or self.incident_id()

    def _context(
        self, audit: AuditLog, action_id: str = "", incident_id: str | None = None
    ) -> ActionContext:
        if self._clients is None:
            self._clients = Clients(self.cfg)
        target = None
        kube = self.state.kube
        if kube is not None and self.cfg.kubernetes is not None:
            target = KubeTarget(
                kube.context, kube.cluster, kube.namespace, kubeconfig_path(self.cfg.kubernetes)
            )
        return ActionContext(
            cfg=self.cfg,
            state=self.state,
            audit=audit,
            clients=self._clients,
            target=target,
            incident_id=self._incident_for(action_id, incident_id),
            leases=self.leases,
        )

    async def _ask(
        self, action_id: str, ctx: ActionContext, selection: Selection | None
    ) -> Selection | None:
        """What the action needs from the operator before its plan (unless given already)."""
        if action_id == "scale":
            return await self._ask_replicas(selection)
        if action_id not in _ASKS or _answers(action_id, selection):
            return selection  # (a pane's row, e.g. the pod under the cursor, is not an answer)
        from widgets.action_inputs import ask_env, ask_resources

        if action_id == "resources":
            return await ask_resources(ctx, self.app.push_screen_wait)
        return await ask_env(ctx, self.app.push_screen_wait, self._env_kinds(ctx.incident_id))

    def _env_kinds(self, incident_id: str | None) -> dict[str, str]:
        """The incident's runbook variables (else every entry's), by kind."""
        incident = next((i for i in self.incidents() if i.id == incident_id), None)
        if incident is not None and incident.runbook is not None and incident.runbook.env:
            return dict(incident.runbook.env)
        return self.runbook.env_kinds() if self.runbook is not None else {}

    async def _ask_replicas(self, selection: Selection | None) -> Selection | None:
        if selection and "replicas" in selection:
            return selection
        kube = self.state.kube
        dep = kube.deployment if kube is not None else None
        name = self.cfg.kubernetes.deployment if self.cfg.kubernetes else "?"
        count = await self.app.push_screen_wait(
            ReplicaPrompt(
                name,
                dep.desired if dep else None,
                self.cfg.actions.scale_min_replicas,
                self.cfg.actions.scale_max_replicas,
            )
        )
        return None if count is None else {**(selection or {}), "replicas": count}

    def _say(self, text: str, severity: SeverityLevel = "information", timeout: float = 6) -> None:
        self.app.notify(text, severity=severity, timeout=timeout)

    def start(
        self, action_id: str, selection: Selection | None, incident_id: str | None = None
    ) -> None:
        """Run one action's flow in an app worker (its failure reaches the app's handler).

        One flow is prepared at a time: a key typed while an action is still being planned or
        confirmed (a double press, a key typed ahead of its dialog) starts nothing else.
        """
        if self.preparing is not None:
            self._say(f"{self.preparing}: answer its confirmation first", "warning", 4)
            return
        self.requests.append((action_id, selection))
        self.preparing = action_id
        self.app.run_worker(
            self.run(action_id, selection, incident_id),
            name=f"action {action_id}",
            group="action",
            exit_on_error=False,
        )

    async def run(
        self,
        action_id: str,
        selection: Selection | None,
        incident_id: str | None = None,
        *,
        progress: Callable[[str], None] | None = None,
        cancel: asyncio.Event | None = None,
    ) -> Outcome | None:
        """Plan, confirm, execute and report one action; every step's failure is told.

        Returns the outcome when it ran (None when not planned, refused or cancelled), for the
        screens that show it (explain analyze's plan). `progress` receives the lines a long
        action reports (an index build, a dump; by default throttled notifications), `cancel`
        stops it (an index build).
        """
        self.preparing = action_id
        try:
            prepared = await self._prepare(action_id, selection, incident_id)
        finally:
            self.preparing = None
        if prepared is None:
            return None
        ctx, plan = prepared
        action = self.lookup(action_id)
        ctx.progress = progress or self._notifier(action.description)
        ctx.cancel = cancel
        self.in_flight += 1
        try:
            outcome = await executor.execute(ctx, action, plan)
        finally:
            self.in_flight -= 1
        severity: SeverityLevel = (
            "information"
            if outcome.status == "ok"
            else "warning"
            if outcome.status == "unknown"
            else "error"
        )
        self._say(f"{plan.title}: {outcome.message}", severity, 8 if outcome.ok else 15)
        self.refresh(plan.source)
        if action_id in ROLLOUT_ACTIONS and outcome.ok:
            await self._follow(ctx)
        return outcome

    def _notifier(self, what: str, every: float = 2.0) -> Callable[[str], None]:
        """Progress lines as notifications, at most one per `every` seconds (a dump's bytes)."""
        last = [0.0]

        def notify(line: str) -> None:
            now = time.monotonic()
            if now - last[0] >= every:
                last[0] = now
                self._say(f"{what.split(' (')[0]}: {line}", timeout=every + 0.5)

        return notify

    async def _prepare(
        self, action_id: str, selection: Selection | None, incident_id: str | None = None
    ) -> tuple[ActionContext, Plan] | None:
        """Up to the operator's answer: the plan and the confirmed go-ahead, or None (said why)."""
        action = self.lookup(action_id)
        if self.audit is None:
            self._say(f"{action.description}: no audit log, so no action can run", "error", 10)
            return None
        ctx = self._context(self.audit, action_id, incident_id)
        try:
            selection = await self._ask(action_id, ctx, selection)
        except ActionError as exc:
            self._say(f"{action.description}: {exc}", "error", 10)
            return None
        except Exception as exc:  # the live read behind the prompt failed: say why
            self._say(f"{action.description}: cannot read: {describe_error(exc)}", "error", 10)
            return None
        if selection is None and action_id in _ASKS:
            return None  # nothing chosen: nothing was planned, nothing to audit
        plan = await self._plan(action_id, ctx, selection)
        if plan is None:
            return None
        refusal = executor.refusal(ctx, action, plan)
        if refusal is not None:
            outcome = executor.record_denied(ctx, action, plan, refusal)
            self._say(f"{action.description} unavailable: {outcome.message}", "warning", 10)
            return None
        if plan.nothing_to_do and action_id != "scale":
            self._say(f"{plan.title}: {plan.effect[-1]}")
            return None
        planned = selection
        plan = await self._with_lease(ctx, action, plan)

        def recheck() -> str | None:
            return self.row_check(planned)

        kind = TypeToConfirmDialog if plan.requires_typed_name else ConfirmDialog
        dialog = kind(plan, recheck)
        if not await self.app.push_screen_wait(dialog):
            why = (
                f"refused: {dialog.refused}"
                if dialog.refused
                else "operator cancelled the confirmation"
            )
            try:
                executor.record_cancelled(ctx, plan, why)
            except AuditError as exc:
                self._say(f"cancelled (and not audited: {exc})", "error", 10)
                return None
            if dialog.refused:
                self._say(
                    f"{plan.title}: not done, {dialog.refused}; nothing changed", "warning", 10
                )
            else:
                self._say(f"{plan.title}: cancelled, nothing changed", timeout=4)
            return None
        return ctx, plan

    async def _with_lease(self, ctx: ActionContext, action: Action, plan: Plan) -> Plan:
        """The plan as the confirmation shows it when another cockpit holds its target: who,
        doing what, since when, first; and the target's name to type to override (audited)."""
        if ctx.leases is None or not action.mutating:
            return plan
        try:
            holder = await asyncio.wait_for(ctx.leases.holder(executor.lease_key_of(plan)), 5)
        except Exception as exc:  # the store cannot say: the executor notes it in the intent
            self.log.exception("reading the target's lease", exc)
            return plan
        if holder is None:
            return plan
        ctx.lease_override = describe(holder, utcnow())
        return dataclasses.replace(
            plan,
            effect=(f"⚠ {ctx.lease_override}; type the name to override", *plan.effect),
            requires_typed_name=plan.requires_typed_name or target_name(plan.target),
        )

    async def _plan(
        self, action_id: str, ctx: ActionContext, selection: Selection | None
    ) -> Plan | None:
        """The plan, or None after saying why there is none (nothing has run, nothing audited)."""
        action = self.lookup(action_id)
        try:
            return await action.plan(ctx, selection)
        except ActionError as exc:
            self._say(f"{action.description}: {exc}", "error", 10)
        except (KeyError, TypeError, AttributeError, ValueError, IndexError) as exc:
            # data the plan did not expect (a field missing or null): a bug to log, not a crash
            self.log.exception(f"{action_id}: cannot build the plan", exc)
            self._say(
                f"{action.description}: cannot plan, the data it needs is incomplete "
                f"({type(exc).__name__}: {describe_error(exc)}); nothing was run — "
                f"{self.log.where()}",
                "error",
                15,
            )
        except Exception as exc:  # a backend error while planning is shown, not raised
            self._say(f"{action.description}: cannot plan: {describe_error(exc)}", "error", 10)
        return None

    async def _follow(self, ctx: ActionContext) -> None:
        """Show rollout progress (updated/ready x/y) as it changes, until done or timed out."""
        last: list[str] = []

        def progress(line: str) -> None:
            if not last or last[-1] != line:
                last.append(line)
                self._say(f"rollout: {line}", timeout=3)
                self.refresh("kubernetes")

        self.in_flight += 1
        try:
            done, summary = await follow_rollout(ctx, progress)
        finally:
            self.in_flight -= 1
        self._say(summary, "information" if done else "warning", 10)
