"""The only way an action runs: refuse (read-only, RBAC), audit intent, execute under a timeout,
audit the result.

If the intent cannot be written the action does not run: an unaudited change is worse than a
delayed one. A timeout or a cancellation mid-flight is recorded as outcome "unknown", because
the request may have reached the server (an interrupted pg_terminate_backend may have worked).
"""

from __future__ import annotations

import asyncio
from typing import Any

from actions.base import Action, ActionContext, Outcome, Plan
from cockpit.audit.log import AuditError
from cockpit.sources.base import describe_error


def _fields(ctx: ActionContext, plan: Plan, **extra: Any) -> dict[str, Any]:
    fields = plan.audit_fields()
    if ctx.incident_id:
        fields["incident_id"] = ctx.incident_id
    fields.update(extra)
    return fields


def refusal(ctx: ActionContext, action: Action, plan: Plan | None) -> str | None:
    """Why this action may not run now, or None. Read-only first, then RBAC."""
    if ctx.cfg.read_only:
        return "read-only mode: actions are disabled"
    if not action.mutating:
        return None
    if plan is not None and plan.rbac.allowed is False:
        return f"RBAC denies it: {plan.rbac.reason or 'forbidden'}"
    return None


def record_denied(ctx: ActionContext, action: Action, plan: Plan | None, reason: str) -> Outcome:
    """Audit a refusal and return it as an Outcome (a failing audit still refuses)."""
    fields = (
        _fields(ctx, plan, error=reason)
        if plan
        else {"action": action.id, "error": reason, "incident_id": ctx.incident_id}
    )
    try:
        ctx.audit.record("denied", outcome="denied", **fields)
    except AuditError as exc:
        reason = f"{reason} (and the refusal could not be audited: {exc})"
    return Outcome("denied", reason, error=reason)


def record_cancelled(
    ctx: ActionContext, plan: Plan, why: str = "operator cancelled the confirmation"
) -> None:
    """Audit a confirmation the operator declined. Raises AuditError if it cannot be written."""
    ctx.audit.record("cancelled", outcome="cancelled", reason=why, **_fields(ctx, plan))


async def execute(ctx: ActionContext, action: Action, plan: Plan) -> Outcome:
    """Run a confirmed plan: refuse, or audit intent -> execute (timeout) -> audit result."""
    why_not = refusal(ctx, action, plan)
    if why_not is not None:
        return record_denied(ctx, action, plan, why_not)
    try:
        # pid, host and this session's lock let the next cockpit tell if we died mid-action
        intent = ctx.audit.record("intent", **_fields(ctx, plan, **ctx.audit.liveness()))
    except AuditError as exc:
        return Outcome(
            "failed", f"not run: the audit trail cannot be written ({exc})", error=str(exc)
        )
    timeout = plan.timeout_seconds or ctx.cfg.actions.timeout_seconds
    try:
        outcome = await asyncio.wait_for(action.execute(ctx, plan), timeout)
    except TimeoutError:
        outcome = Outcome(
            "unknown",
            f"no answer within {timeout:g} s: the change may or may not "
            "have happened; check the server",
            error="timed out",
        )
    except asyncio.CancelledError:
        _record_result(
            ctx,
            plan,
            intent,
            Outcome("unknown", "interrupted before an answer came back", error="cancelled"),
        )
        raise
    except Exception as exc:  # any client error is a failed action, reported as such
        outcome = Outcome("failed", f"failed: {describe_error(exc)}", error=describe_error(exc))
    return _record_result(ctx, plan, intent, outcome)


def _record_result(
    ctx: ActionContext, plan: Plan, intent: dict[str, Any], outcome: Outcome
) -> Outcome:
    fields = _fields(
        ctx,
        plan,
        outcome=outcome.status,
        message=outcome.message,
        after=dict(outcome.after),
        intent_seq=intent.get("seq"),
    )
    if outcome.error:
        fields["error"] = outcome.error
    try:
        ctx.audit.record("result", **fields)
    except AuditError as exc:
        # the change happened (or not) already: say so, and that the trail is missing its result
        return Outcome(
            outcome.status,
            f"{outcome.message} (WARNING: result not audited: {exc})",
            outcome.after,
            outcome.error or str(exc),
        )
    return outcome
