"""What an action is: a plan computed from live state, then an execution that reports an outcome.

An action never runs itself: `actions.executor.execute` is the only way in (read-only refusal,
RBAC refusal, audit intent, timeout, audit result). A Plan is frozen and carries everything the
confirmation shows and the audit trail records: the exact effect, the equivalent command with
secrets masked, the danger, whether RBAC allows it, and the state before / expected after.
"""

from __future__ import annotations

import asyncio
import fnmatch
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

from actions.clients import Clients
from cockpit.audit.log import AuditLog
from cockpit.config import Config
from cockpit.sources.kube.client import KubeTarget
from cockpit.state import CockpitState

if TYPE_CHECKING:
    from actions.leases import Leases

Danger = Literal["low", "medium", "high"]
Status = Literal["ok", "failed", "unknown", "denied"]


class ActionError(Exception):
    """An action that cannot be planned or run, with the reason in the operator's words."""


@dataclass(frozen=True)
class Rbac:
    """Whether the cluster lets us do it: True, False, or None when not applicable / unknown."""

    allowed: bool | None = None
    reason: str = ""

    def describe(self) -> str:
        """'allowed', 'denied: <reason>' or 'n/a'."""
        if self.allowed is None:
            return self.reason or "n/a"
        return "allowed" if self.allowed else f"denied: {self.reason or 'forbidden'}"


@dataclass(frozen=True)
class Plan:
    """One concrete change, as the confirmation shows it and the audit trail records it."""

    action: str
    title: str
    target: str  # "deployment/predictiq-api", "postgresql://app@db:5432/predictiq", ...
    effect: tuple[str, ...]  # exact effect lines: "replicas 3 → 10", "terminate 4 idle connections"
    command: str  # the equivalent kubectl / psql / curl command, secrets masked
    danger: Danger
    source: str  # the cockpit source to refresh afterwards
    context: str = ""  # kube context (or "" when the action is not about Kubernetes)
    cluster: str = ""
    namespace: str = ""
    production: bool = False
    requires_typed_name: str | None = None  # the operator must type this to confirm
    rbac: Rbac = field(default_factory=Rbac)
    before: Mapping[str, Any] = field(default_factory=dict[str, Any])
    expected_after: Mapping[str, Any] = field(default_factory=dict[str, Any])
    params: Mapping[str, Any] = field(default_factory=dict[str, Any])
    nothing_to_do: bool = False  # e.g. no idle connection over the threshold right now
    timeout_seconds: float | None = None  # this plan's own execution timeout (an index build)

    def audit_fields(self) -> dict[str, Any]:
        """The fields every audit entry about this plan carries."""
        return {
            "action": self.action,
            "target": self.target,
            "params": dict(self.params),
            "context": self.context,
            "cluster": self.cluster,
            "namespace": self.namespace,
            "production": self.production,
            "command": self.command,
            "effect": list(self.effect),
            "danger": self.danger,
            "before": dict(self.before),
            "expected_after": dict(self.expected_after),
        }


@dataclass(frozen=True)
class Outcome:
    """What happened: ok, failed (with the error), unknown (interrupted), or denied (refused)."""

    status: Status
    message: str
    after: Mapping[str, Any] = field(default_factory=dict[str, Any])
    error: str | None = None

    @property
    def ok(self) -> bool:
        """True only for a completed, successful execution."""
        return self.status == "ok"


@dataclass
class ActionContext:
    """Everything an action needs: config, live state, where it acts, the audit log, clients.

    `clients` builds backend clients on demand; it refuses to build a write-capable one in
    read-only mode. `progress` receives lines while an action follows up
    (rollout progress); `incident_id` ties the audit entries to an open incident.
    """

    cfg: Config
    state: CockpitState
    audit: AuditLog
    clients: Clients
    target: KubeTarget | None = None
    incident_id: str | None = None
    progress: Callable[[str], None] | None = None
    cancel: asyncio.Event | None = None  # set by the UI to stop a long action (an index build)
    leases: Leases | None = None  # team mode: the targets' leases (actions.leases)
    lease_override: str = ""  # whose lease the operator typed the name to override, if any

    def is_production(self) -> bool:
        """The kube context matches one of cfg.kubernetes.production_contexts."""
        return is_production_context(self.cfg, self.target.context if self.target else "")


def is_production_context(cfg: Config, context: str) -> bool:
    """True when `context` matches a configured production glob (case-insensitive)."""
    if cfg.kubernetes is None or not context:
        return False
    return any(
        fnmatch.fnmatch(context.lower(), g.lower()) for g in cfg.kubernetes.production_contexts
    )


@runtime_checkable
class Action(Protocol):
    """An action: identity and key for the registry, then plan and execute."""

    id: str
    key: str
    description: str
    mutating: bool
    source: str  # the source it needs and refreshes: "kubernetes", "database", "cache"

    async def plan(self, ctx: ActionContext, selection: Mapping[str, Any] | None) -> Plan:
        """Compute the exact effect from LIVE state; raise ActionError when it cannot be done."""
        ...

    async def execute(self, ctx: ActionContext, plan: Plan) -> Outcome:
        """Carry out the plan (called only by the executor, under its timeout)."""
        ...
