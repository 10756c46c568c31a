"""Action id -> Action, with its key and description: the UI builds its bindings from here.

Keys: s scale, r restart, V set environment, M resources, H roll back (history), Z contain (the pod
template and replica count; pause/resume rollout have no key: the command palette runs them),
k kill idle, w warm cache, B back up the database (global); x cancel
query, X terminate connection, A explain analyze and I create index (scope "database": bound on
the database pane's connection list, acting on the selected row). SCREEN_ACTIONS are bound by
their screens only (X on the blocking tree, D on the explain screen). `c` is left to the checklists
screen. In read-only mode `bindings()` returns no mutating action at all (the first of three depths;
the executor and Clients are the others).
"""

from __future__ import annotations

from dataclasses import dataclass

from actions.backup import BackupDatabaseAction
from actions.base import Action
from actions.contain import ContainAction
from actions.create_index import CreateIndexAction, DropInvalidIndexAction
from actions.explain_analyze import ExplainAnalyzeAction
from actions.kill_idle import KillIdleAction
from actions.pause import PauseRolloutAction, ResumeRolloutAction
from actions.queries import CancelQueryAction, TerminateQueryAction
from actions.resources import ResourcesAction
from actions.restart import RestartAction
from actions.rollback import RollbackAction
from actions.scale import ScaleAction
from actions.set_env import SetEnvAction
from actions.terminate_blocker import TerminateBlockerAction
from actions.warm_cache import WarmCacheAction
from cockpit.config import Config
from cockpit.state import CockpitState

ACTIONS: dict[str, Action] = {
    a.id: a
    for a in (
        ScaleAction(),
        RestartAction(),
        KillIdleAction(),
        WarmCacheAction(),
        CancelQueryAction(),
        TerminateQueryAction(),
        ExplainAnalyzeAction(),
        CreateIndexAction(),
        BackupDatabaseAction(),
        SetEnvAction(),
        ResourcesAction(),
        RollbackAction(),
        ContainAction(),
        PauseRolloutAction(),
        ResumeRolloutAction(),
    )
}

# Actions offered by a screen of their own (the blocking tree's X, the explain screen's D), not
# bound on the main screen: their keys mean something else there.
SCREEN_ACTIONS: dict[str, Action] = {
    a.id: a for a in (TerminateBlockerAction(), DropInvalidIndexAction())
}

# which config section an action needs
_NEEDS = {"kubernetes": "kubernetes", "database": "database", "cache": "api"}


@dataclass(frozen=True)
class Binding:
    """One key the UI binds: key, action id, description, and where it applies."""

    key: str
    action_id: str
    description: str
    scope: str  # "global", or a pane name ("database") whose selected row is the selection


def get(action_id: str) -> Action:
    """The action with this id (KeyError names the known ids)."""
    found = ACTIONS.get(action_id) or SCREEN_ACTIONS.get(action_id)
    if found is None:
        raise KeyError(
            f"unknown action {action_id!r}; known: {', '.join([*ACTIONS, *SCREEN_ACTIONS])}"
        )
    return found


def bindings(cfg: Config) -> list[Binding]:
    """The keys to bind: none for mutating actions in read-only mode, none for an unconfigured
    backend."""
    out: list[Binding] = []
    for action in ACTIONS.values():
        if action.mutating and cfg.read_only:
            continue
        if getattr(cfg, _NEEDS[action.source], None) is None:
            continue
        scope = str(getattr(action, "scope", "global"))  # "database": acts on that pane's row
        out.append(Binding(action.key, action.id, action.description, scope))
    return out


def availability(cfg: Config, state: CockpitState, action_id: str) -> tuple[bool, str]:
    """(available, reason) for showing an action greyed out: read-only, not configured, or RBAC
    denied as the Kubernetes source last reported it."""
    action = get(action_id)
    if action.mutating and cfg.read_only:
        return False, "read-only mode"
    if getattr(cfg, _NEEDS[action.source], None) is None:
        return False, f"no [{_NEEDS[action.source]}] configured"
    kube = state.kube
    if (
        action.source == "kubernetes"
        and kube is not None
        and kube.permissions.get(action_id) is False
    ):
        return False, "RBAC: " + (kube.permission_reasons.get(action_id) or "forbidden")
    return True, ""
