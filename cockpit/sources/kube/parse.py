"""Raw Kubernetes JSON (dicts from `json.loads`) to the cockpit's frozen snapshot types.

Lists are fetched with `_preload_content=False` and parsed here, never through the client's model
classes: building models for thousands of pods takes seconds (PITFALLS). Every function takes one
object as the API server sends it and tolerates missing keys (the server omits empty fields).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from kubernetes.utils import parse_quantity

from cockpit.models import ContainerInfo, DeploymentInfo, HpaInfo, KubeEvent, NodeInfo, PodInfo

RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"
# Waiting reasons that are normal steps of a pod starting, not a problem worth naming first.
_BENIGN_WAITING = {"ContainerCreating", "PodInitializing"}


def parse_time(text: str | None) -> datetime | None:
    """An RFC 3339 timestamp ("2025-05-01T10:00:00Z") as an aware datetime; None if absent/bad."""
    if not text:
        return None
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


def cpu_millicores(quantity: Any) -> float | None:
    """A CPU quantity ("500m", "1", "912345678n") in millicores."""
    if quantity in (None, ""):
        return None
    try:
        return float(parse_quantity(quantity) * 1000)
    except ValueError:
        return None


def memory_bytes(quantity: Any) -> int | None:
    """A memory quantity ("512Mi", "308224Ki", "1G") in bytes."""
    if quantity in (None, ""):
        return None
    try:
        return int(parse_quantity(quantity))
    except ValueError:
        return None


def _sum_or_none(values: Iterable[float | int | None]) -> Any:
    """The sum, or None when any value is missing (a pod without a limit has no limit)."""
    values = list(values)
    if not values or any(v is None for v in values):
        return None
    return sum(values)


def _container(spec: Mapping, status: Mapping | None) -> ContainerInfo:
    resources = spec.get("resources") or {}
    requests, limits = resources.get("requests") or {}, resources.get("limits") or {}
    status = status or {}
    state = status.get("state") or {}
    kind = next((k for k in ("running", "waiting", "terminated") if k in state), "waiting")
    detail = state.get(kind) or {}
    last = (status.get("lastState") or {}).get("terminated") or {}
    return ContainerInfo(
        name=spec.get("name", ""),
        ready=bool(status.get("ready")),
        restart_count=int(status.get("restartCount") or 0),
        state=kind,
        reason=detail.get("reason", "") if kind != "running" else "",
        message=detail.get("message", "") if kind != "running" else "",
        last_state_reason=last.get("reason", ""),
        last_exit_code=last.get("exitCode"),
        last_finished_at=parse_time(last.get("finishedAt")),
        cpu_request_m=cpu_millicores(requests.get("cpu")),
        cpu_limit_m=cpu_millicores(limits.get("cpu")),
        memory_request=memory_bytes(requests.get("memory")),
        memory_limit=memory_bytes(limits.get("memory")),
    )


def _pod_reason(status: Mapping, containers: tuple[ContainerInfo, ...], deleting: bool) -> str:
    """The most telling reason, as an operator reads `kubectl get pods` (and a bit more)."""
    if status.get("reason"):  # Evicted, NodeLost, Shutdown...: the pod as a whole failed
        return str(status["reason"])
    waiting = [c.reason for c in containers if c.state == "waiting" and c.reason]
    telling = [r for r in waiting if r not in _BENIGN_WAITING]
    if telling:
        return telling[0]
    terminated = [c.reason for c in containers if c.state == "terminated" and c.reason]
    if terminated and status.get("phase") != "Succeeded":
        return terminated[0]
    if status.get("phase") == "Pending":
        for condition in status.get("conditions") or []:
            if condition.get("type") == "PodScheduled" and condition.get("status") == "False":
                return condition.get("reason") or "Unschedulable"
    # Running again after an OOM kill: still worth naming (the container lost its memory).
    if any(c.last_state_reason == "OOMKilled" for c in containers):
        return "OOMKilled"
    if deleting:
        return "Terminating"
    return waiting[0] if waiting else ""


def parse_pod(pod: Mapping) -> PodInfo:
    """A pod object as PodInfo (usage fields empty: metrics come separately)."""
    meta, spec, status = pod.get("metadata") or {}, pod.get("spec") or {}, pod.get("status") or {}
    statuses = {s.get("name"): s for s in status.get("containerStatuses") or []}
    containers = tuple(_container(c, statuses.get(c.get("name"))) for c in spec.get("containers") or [])
    deleting = bool(meta.get("deletionTimestamp"))
    return PodInfo(
        uid=meta.get("uid", ""),
        name=meta.get("name", ""),
        namespace=meta.get("namespace", ""),
        phase=status.get("phase", "Unknown"),
        ready=sum(1 for c in containers if c.ready),
        total=len(containers),
        restarts=sum(c.restart_count for c in containers),
        reason=_pod_reason(status, containers, deleting),
        node=spec.get("nodeName", ""),
        created_at=parse_time(meta.get("creationTimestamp")),
        containers=containers,
        cpu_limit_m=_sum_or_none(c.cpu_limit_m for c in containers),
        memory_limit=_sum_or_none(c.memory_limit for c in containers),
        cpu_request_m=_sum_or_none(c.cpu_request_m for c in containers),
        memory_request=_sum_or_none(c.memory_request for c in containers),
        deleting=deleting,
    )


def rollout_state(dep: Mapping) -> tuple[str, str]:
    """("complete" | "progressing" | "stuck", message), by `kubectl rollout status`'s rules."""
    meta, spec, status = dep.get("metadata") or {}, dep.get("spec") or {}, dep.get("status") or {}
    progressing = next((c for c in status.get("conditions") or [] if c.get("type") == "Progressing"), {})
    message = progressing.get("message", "")
    if progressing.get("reason") == "ProgressDeadlineExceeded":
        return "stuck", message
    if status.get("observedGeneration", 0) < meta.get("generation", 0):
        return "progressing", "waiting for the deployment spec update to be observed"
    desired = spec.get("replicas", 1)
    updated = status.get("updatedReplicas", 0)
    if updated < desired:
        return "progressing", message or f"{updated} of {desired} updated replicas"
    if status.get("replicas", 0) > updated:
        return "progressing", message or f"{status.get('replicas', 0) - updated} old replicas pending termination"
    if status.get("availableReplicas", 0) < updated:
        return "progressing", message or f"{status.get('availableReplicas', 0)} of {updated} updated replicas available"
    return "complete", message


def parse_deployment(dep: Mapping, hpa: HpaInfo | None = None) -> DeploymentInfo:
    """A deployment object as DeploymentInfo."""
    meta, spec, status = dep.get("metadata") or {}, dep.get("spec") or {}, dep.get("status") or {}
    template_annotations = ((spec.get("template") or {}).get("metadata") or {}).get("annotations") or {}
    rollout, message = rollout_state(dep)
    return DeploymentInfo(
        name=meta.get("name", ""),
        namespace=meta.get("namespace", ""),
        desired=int(spec.get("replicas", 1)),
        updated=int(status.get("updatedReplicas", 0)),
        ready=int(status.get("readyReplicas", 0)),
        available=int(status.get("availableReplicas", 0)),
        paused=bool(spec.get("paused")),
        rollout=rollout,
        rollout_message=message,
        generation=int(meta.get("generation", 0)),
        observed_generation=int(status.get("observedGeneration", 0)),
        restarted_at=template_annotations.get(RESTARTED_AT),
        hpa=hpa,
    )


def parse_hpa(hpa: Mapping) -> HpaInfo:
    """An autoscaling/v2 or v1 HorizontalPodAutoscaler as HpaInfo."""
    spec, status = hpa.get("spec") or {}, hpa.get("status") or {}
    target = spec.get("targetCPUUtilizationPercentage")  # v1
    for metric in spec.get("metrics") or []:  # v2
        resource = metric.get("resource") or {}
        if metric.get("type") == "Resource" and resource.get("name") == "cpu":
            target = (resource.get("target") or {}).get("averageUtilization", target)
    return HpaInfo(
        name=(hpa.get("metadata") or {}).get("name", ""),
        min_replicas=int(spec.get("minReplicas", 1)),
        max_replicas=int(spec.get("maxReplicas", 0)),
        current_replicas=int(status.get("currentReplicas", 0)),
        desired_replicas=int(status.get("desiredReplicas", 0)),
        target_cpu_percent=target,
    )


def hpa_for(items: Iterable[Mapping], deployment: str) -> HpaInfo | None:
    """The HPA among `items` whose scaleTargetRef is the deployment."""
    for item in items:
        ref = (item.get("spec") or {}).get("scaleTargetRef") or {}
        if ref.get("kind") == "Deployment" and ref.get("name") == deployment:
            return parse_hpa(item)
    return None


def parse_event(event: Mapping) -> KubeEvent:
    """A core/v1 Event as KubeEvent (last seen: lastTimestamp, else eventTime, else first)."""
    involved = event.get("involvedObject") or {}
    meta = event.get("metadata") or {}
    seen = (parse_time(event.get("lastTimestamp")) or parse_time(event.get("eventTime"))
            or parse_time(event.get("firstTimestamp")) or parse_time(meta.get("creationTimestamp")))
    series = event.get("series") or {}
    return KubeEvent(
        type=event.get("type", ""),
        reason=event.get("reason", ""),
        message=event.get("message", ""),
        object_kind=involved.get("kind", ""),
        object_name=involved.get("name", ""),
        count=int(series.get("count") or event.get("count") or 1),
        last_seen=seen,
    )


def parse_node(node: Mapping) -> NodeInfo:
    """A node's Ready and pressure conditions."""
    conditions = {c.get("type"): c.get("status") == "True"
                  for c in (node.get("status") or {}).get("conditions") or []}
    return NodeInfo(
        name=(node.get("metadata") or {}).get("name", ""),
        ready=conditions.get("Ready", False),
        disk_pressure=conditions.get("DiskPressure", False),
        memory_pressure=conditions.get("MemoryPressure", False),
        pid_pressure=conditions.get("PIDPressure", False),
    )


def parse_pod_metrics(items: Iterable[Mapping]) -> dict[str, tuple[float, int]]:
    """metrics.k8s.io PodMetrics items as pod name -> (CPU millicores, memory bytes), summed."""
    usage: dict[str, tuple[float, int]] = {}
    for item in items:
        cpu, mem = 0.0, 0
        for container in item.get("containers") or []:
            u = container.get("usage") or {}
            cpu += cpu_millicores(u.get("cpu")) or 0.0
            mem += memory_bytes(u.get("memory")) or 0
        usage[(item.get("metadata") or {}).get("name", "")] = (cpu, mem)
    return usage
