"""Pod status transitions, written the way the kubelet and scheduler report them.

Each function mutates a pod dict that the caller owns (a fresh copy from `ObjectStore.update`).
"""

from __future__ import annotations

from cockpit.lab.kubesim.jsontypes import JSON, first, member, members
from cockpit.lab.kubesim.objects import container_id
from cockpit.lab.kubesim.store import now_rfc3339
from cockpit.quantity import QuantityError, memory_bytes


def _conditions(pod: JSON, ready: bool, scheduled: bool = True) -> list[JSON]:
    now = now_rfc3339()
    state = "True" if ready else "False"
    conditions: list[JSON] = [
        {"type": "PodReadyToStartContainers", "status": "True" if scheduled else "False"},
        {"type": "Initialized", "status": "True"},
        {"type": "Ready", "status": state},
        {"type": "ContainersReady", "status": state},
        {"type": "PodScheduled", "status": "True" if scheduled else "False"},
    ]
    for condition in conditions:
        condition["lastProbeTime"] = None
        condition["lastTransitionTime"] = now
        if condition["type"] in ("Ready", "ContainersReady") and not ready:
            condition["reason"] = "ContainersNotReady"
            condition["message"] = "containers with unready status: [api]"
    return conditions


def _container_status(pod: JSON, ready: bool, state: JSON, restarts: int = 0) -> JSON:
    container = pod["spec"]["containers"][0]
    return {
        "name": container["name"],
        "image": container["image"],
        "imageID": container["image"].split(":")[0] + "@sha256:" + "3f" * 32,
        "ready": ready,
        "started": ready,
        "restartCount": restarts,
        "state": state,
        "lastState": {},
    }


def mark_container_creating(pod: JSON, host_ip: str) -> None:
    """Scheduled to a node, image pulling: Pending with reason ContainerCreating."""
    pod["status"] = {
        "phase": "Pending",
        "conditions": _conditions(pod, ready=False),
        "hostIP": host_ip,
        "startTime": now_rfc3339(),
        "containerStatuses": [
            _container_status(pod, False, {"waiting": {"reason": "ContainerCreating"}})
        ],
        "qosClass": "Burstable",
    }


def mark_unschedulable(pod: JSON, message: str) -> None:
    """Not scheduled: Pending with PodScheduled=False, reason Unschedulable."""
    pod["spec"].pop("nodeName", None)
    pod["status"] = {
        "phase": "Pending",
        "conditions": [
            {
                "type": "PodScheduled",
                "status": "False",
                "lastProbeTime": None,
                "lastTransitionTime": now_rfc3339(),
                "reason": "Unschedulable",
                "message": message,
            }
        ],
        "qosClass": "Burstable",
    }


def mark_running(pod: JSON, pod_ip: str) -> None:
    """Container started and ready: Running, Ready=True."""
    status = pod["status"]
    status["phase"] = "Running"
    status["conditions"] = _conditions(pod, ready=True)
    status["podIP"] = pod_ip
    status["podIPs"] = [{"ip": pod_ip}]
    status.setdefault("startTime", now_rfc3339())
    restarts = 0
    if status.get("containerStatuses"):
        restarts = status["containerStatuses"][0].get("restartCount", 0)
    running = _container_status(pod, True, {"running": {"startedAt": now_rfc3339()}}, restarts)
    running["containerID"] = container_id()
    status["containerStatuses"] = [running]


def memory_limit(pod: JSON) -> float:
    """The memory limit of the pod's first container in bytes (infinite when it has none)."""
    containers = members(pod["spec"], "containers")
    first_container: JSON = containers[0] if containers else {}
    limit = member(member(first_container, "resources"), "limits").get("memory")
    try:
        return float(memory_bytes(str(limit))) if limit is not None else float("inf")
    except QuantityError:
        return float("inf")


def mark_oom_crashloop(pod: JSON) -> None:
    """One more OOM kill: lastState OOMKilled (exit 137), waiting in CrashLoopBackOff."""
    status = pod["status"]
    previous = first(status, "containerStatuses")
    restarts: int = previous.get("restartCount", 0) + 1
    started = member(member(previous, "state"), "running").get("startedAt", now_rfc3339())
    crashed = _container_status(
        pod,
        False,
        {
            "waiting": {
                "reason": "CrashLoopBackOff",
                "message": f"back-off {min(10 * 2**restarts, 300)}s restarting failed "
                f"container=api pod={pod['metadata']['name']}_{pod['metadata']['namespace']}"
                f"({pod['metadata'].get('uid', '')})",
            }
        },
        restarts,
    )
    crashed["lastState"] = {
        "terminated": {
            "exitCode": 137,
            "reason": "OOMKilled",
            "startedAt": started,
            "finishedAt": now_rfc3339(),
            "containerID": previous.get("containerID") or container_id(),
        }
    }
    crashed["containerID"] = crashed["lastState"]["terminated"]["containerID"]
    status["phase"] = "Running"
    status["conditions"] = _conditions(pod, ready=False)
    status["containerStatuses"] = [crashed]


def mark_image_pull_backoff(pod: JSON) -> None:
    """The image cannot be pulled: waiting in ImagePullBackOff, not ready."""
    status = pod["status"]
    image = pod["spec"]["containers"][0]["image"]
    waiting = {
        "waiting": {
            "reason": "ImagePullBackOff",
            "message": f'Back-off pulling image "{image}"',
        }
    }
    status["phase"] = "Pending"
    status["conditions"] = _conditions(pod, ready=False)
    status["containerStatuses"] = [_container_status(pod, False, waiting)]


def mark_evicted(pod: JSON, resource: str = "memory") -> None:
    """Evicted by the kubelet under node pressure: phase Failed, reason Evicted."""
    pod["status"] = {
        "phase": "Failed",
        "reason": "Evicted",
        "message": f"The node was low on resource: {resource}. ",
        "startTime": pod["status"].get("startTime", now_rfc3339()),
        "hostIP": pod["status"].get("hostIP", ""),
        "qosClass": "Burstable",
    }


def is_ready(pod: JSON) -> bool:
    """Whether the pod's Ready condition is True."""
    for condition in members(member(pod, "status"), "conditions"):
        if condition["type"] == "Ready":
            return condition["status"] == "True"
    return False


def is_active(pod: JSON) -> bool:
    """Pods the ReplicaSet still counts (not Failed/Succeeded, not being deleted)."""
    return pod["status"].get("phase") not in ("Failed", "Succeeded") and not pod["metadata"].get(
        "deletionTimestamp"
    )
