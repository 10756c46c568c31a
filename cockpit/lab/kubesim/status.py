"""Status blocks computed from pods, as the deployment, replica set and HPA controllers write them.

Zero counts are omitted, as the API server's `omitempty` does (a deployment with no ready pods
has no `readyReplicas` key). Condition timestamps only move when a condition changes.
"""

from __future__ import annotations

from cockpit.lab.kubesim.jsontypes import JSON, member, members
from cockpit.lab.kubesim.pods import is_ready
from cockpit.lab.kubesim.store import now_rfc3339


def _owned_by(pod: JSON, rs: JSON) -> bool:
    refs = members(pod["metadata"], "ownerReferences")
    return bool(refs) and refs[0]["name"] == rs["metadata"]["name"]


def _nonzero(**counts: int) -> dict[str, int]:
    return {k: v for k, v in counts.items() if v}


def _condition(old: list[JSON], kind: str, status: str, reason: str, message: str) -> JSON:
    """A condition that keeps its timestamps while status and reason stay the same."""
    now = now_rfc3339()
    for previous in old:
        if previous["type"] == kind:
            if previous["status"] == status and previous["reason"] == reason:
                return {**previous, "message": message}
            break
    return {
        "type": kind,
        "status": status,
        "lastUpdateTime": now,
        "lastTransitionTime": now,
        "reason": reason,
        "message": message,
    }


def replicaset_status(rs: JSON, pods: list[JSON]) -> JSON:
    """ReplicaSet status from its active pods."""
    ready = sum(1 for p in pods if is_ready(p))
    return {
        "replicas": len(pods),
        "observedGeneration": rs["metadata"].get("generation", 1),
        **_nonzero(fullyLabeledReplicas=len(pods), readyReplicas=ready, availableReplicas=ready),
    }


def deployment_status(dep: JSON, current_rs: JSON, pods: list[JSON], stalled_for: float) -> JSON:
    """Deployment status: replica counts plus the Available and Progressing conditions.

    `stalled_for` is the time since the rollout last made progress; past the deployment's
    progressDeadlineSeconds an unfinished rollout is reported as ProgressDeadlineExceeded.
    """
    spec = dep["spec"]
    desired = spec.get("replicas", 1)
    updated = [p for p in pods if _owned_by(p, current_rs)]
    ready = sum(1 for p in pods if is_ready(p))
    old = members(member(dep, "status"), "conditions")
    rs_name = current_rs["metadata"]["name"]
    if ready >= desired:
        available = _condition(
            old,
            "Available",
            "True",
            "MinimumReplicasAvailable",
            "Deployment has minimum availability.",
        )
    else:
        available = _condition(
            old,
            "Available",
            "False",
            "MinimumReplicasUnavailable",
            "Deployment does not have minimum availability.",
        )
    complete = (
        len(updated) == desired
        and len(pods) == desired
        and sum(1 for p in updated if is_ready(p)) == desired
    )
    if spec.get("paused"):
        progressing = _condition(
            old, "Progressing", "Unknown", "DeploymentPaused", "Deployment is paused"
        )
    elif complete:
        progressing = _condition(
            old,
            "Progressing",
            "True",
            "NewReplicaSetAvailable",
            f'ReplicaSet "{rs_name}" has successfully progressed.',
        )
    elif stalled_for > spec.get("progressDeadlineSeconds", 600):
        progressing = _condition(
            old,
            "Progressing",
            "False",
            "ProgressDeadlineExceeded",
            f'ReplicaSet "{rs_name}" has timed out progressing.',
        )
    else:
        progressing = _condition(
            old,
            "Progressing",
            "True",
            "ReplicaSetUpdated",
            f'ReplicaSet "{rs_name}" is progressing.',
        )
        progressing["lastUpdateTime"] = now_rfc3339()
    return {
        "observedGeneration": dep["metadata"].get("generation", 1),
        **_nonzero(
            replicas=len(pods),
            updatedReplicas=len(updated),
            readyReplicas=ready,
            availableReplicas=ready,
            unavailableReplicas=max(desired - ready, 0),
        ),
        "conditions": [available, progressing],
    }


def hpa_status(hpa: JSON, dep: JSON, pods: list[JSON]) -> JSON:
    """HPA status: current and desired replicas, keeping the last reported metrics."""
    status = dict(member(hpa, "status"))
    status["currentReplicas"] = len(pods)
    status["desiredReplicas"] = max(
        hpa["spec"].get("minReplicas", 1),
        min(dep["spec"].get("replicas", 1), hpa["spec"]["maxReplicas"]),
    )
    return status
