"""Raw Kubernetes JSON (dicts from `json.loads`) to the cockpit's frozen snapshot types.

Lists are fetched with `_preload_content=False` and parsed here, never through the client's model
classes: building models for thousands of pods takes seconds (PITFALLS). Every function takes one
object as the API server sends it and tolerates missing keys (the server omits empty fields) and
JSON nulls: every read goes through the typed helpers of `cockpit.sources.fields`.

Init containers count as kubectl counts them (`kubectl get pods`, pkg/printers): while a pod is
initializing its status is `Init:N/M`, `Init:<reason>` or `Init:ExitCode:N` and its restarts are
the init containers'; restartable init containers (sidecars, restartPolicy Always) count in
READY like app containers.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from decimal import Decimal, InvalidOperation

from kubernetes.utils.quantity import parse_quantity

from cockpit.models import ContainerInfo, DeploymentInfo, HpaInfo, KubeEvent, NodeInfo, PodInfo
from cockpit.sources.fields import (
    Json,
    boolean,
    get,
    integer,
    items,
    mapping,
    optional_integer,
    optional_text,
    text,
)

RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"
# Waiting reasons that are normal steps of a pod starting, not a problem worth naming first.
_BENIGN_WAITING = {"ContainerCreating", "PodInitializing"}


def parse_time(value: object) -> datetime | None:
    """An RFC 3339 timestamp ("2025-05-01T10:00:00Z") as an aware datetime; None if absent/bad."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def _quantity(quantity: object) -> Decimal | None:
    if isinstance(quantity, bool) or not isinstance(quantity, str | int | float) or quantity == "":
        return None
    try:
        value = parse_quantity(quantity)
    except (ValueError, InvalidOperation, TypeError):
        return None
    return value if value.is_finite() else None


def cpu_millicores(quantity: object) -> float | None:
    """A CPU quantity ("500m", "1", "912345678n", "1e3") in millicores; None if absent/bad."""
    value = _quantity(quantity)
    return None if value is None else float(value * 1000)


def memory_bytes(quantity: object) -> int | None:
    """A memory quantity ("512Mi", "308224Ki", "1G", "1.5") in bytes; None if absent/bad."""
    value = _quantity(quantity)
    return None if value is None else int(value)


def _sum_or_none(values: Iterable[float | None]) -> float | None:
    """The sum, or None when any value is missing (a pod without a limit has no limit)."""
    found = list(values)
    if not found or any(v is None for v in found):
        return None
    return sum(v for v in found if v is not None)


def _int_or_none(value: float | None) -> int | None:
    return None if value is None else int(value)


def _container(spec: Json, status: Json, init: bool = False) -> ContainerInfo:
    resources = mapping(spec, "resources")
    requests, limits = mapping(resources, "requests"), mapping(resources, "limits")
    state = mapping(status, "state")
    kind = next(
        (k for k in ("running", "waiting", "terminated") if get(state, k) is not None), "waiting"
    )
    detail = mapping(state, kind)
    last = mapping(status, "lastState", "terminated")
    return ContainerInfo(
        name=text(spec, "name"),
        ready=boolean(status, "ready"),
        restart_count=max(integer(status, "restartCount"), 0),
        state=kind,
        reason=text(detail, "reason") if kind != "running" else "",
        message=text(detail, "message") if kind != "running" else "",
        last_state_reason=text(last, "reason"),
        last_exit_code=optional_integer(last, "exitCode"),
        last_finished_at=parse_time(get(last, "finishedAt")),
        cpu_request_m=cpu_millicores(get(requests, "cpu")),
        cpu_limit_m=cpu_millicores(get(limits, "cpu")),
        memory_request=memory_bytes(get(requests, "memory")),
        memory_limit=memory_bytes(get(limits, "memory")),
        init=init,
        sidecar=init and text(spec, "restartPolicy") == "Always",
        exit_code=optional_integer(detail, "exitCode") if kind == "terminated" else None,
        signal=optional_integer(detail, "signal") if kind == "terminated" else None,
        started=boolean(status, "started"),
    )


def _containers(specs: list[Json], statuses: list[Json], init: bool) -> tuple[ContainerInfo, ...]:
    by_name = {text(s, "name"): s for s in statuses}
    return tuple(_container(c, by_name.get(text(c, "name"), {}), init) for c in specs)


def _condition_true(status: Json, kind: str) -> bool:
    return any(
        text(c, "type") == kind and text(c, "status") == "True" for c in items(status, "conditions")
    )


def _init_reason(init: Sequence[ContainerInfo]) -> str | None:
    """kubectl's status for a pod still initializing ("Init:1/2", "Init:CrashLoopBackOff",
    "Init:ExitCode:1"), None once every (non-sidecar) init container is done."""
    for i, c in enumerate(init):
        if c.state == "terminated" and c.exit_code == 0:
            continue
        if c.sidecar and c.started:
            continue
        if c.state == "terminated":
            if c.reason:
                return f"Init:{c.reason}"
            if c.signal:
                return f"Init:Signal:{c.signal}"
            return f"Init:ExitCode:{c.exit_code}" if c.exit_code is not None else "Init:Error"
        if c.state == "waiting" and c.reason and c.reason != "PodInitializing":
            return f"Init:{c.reason}"
        return f"Init:{i}/{len(init)}"
    return None


def _pod_reason(
    status: Json, containers: Sequence[ContainerInfo], init_reason: str | None, deleting: bool
) -> str:
    """The most telling reason, as an operator reads `kubectl get pods` (and a bit more)."""
    pod_reason = text(status, "reason")
    if pod_reason:  # Evicted, NodeLost, Shutdown...: the pod as a whole failed
        return pod_reason
    if init_reason is not None:
        return init_reason
    waiting = [c.reason for c in containers if c.state == "waiting" and c.reason]
    telling = [r for r in waiting if r not in _BENIGN_WAITING]
    if telling:
        return telling[0]
    phase = text(status, "phase")
    terminated = [c.reason for c in containers if c.state == "terminated" and c.reason]
    if terminated and phase != "Succeeded":
        return terminated[0]
    if phase == "Pending":
        for condition in items(status, "conditions"):
            if text(condition, "type") == "PodScheduled" and text(condition, "status") == "False":
                return text(condition, "reason") or "Unschedulable"
    # Running again after an OOM kill: still worth naming (the container lost its memory).
    if any(c.last_state_reason == "OOMKilled" for c in containers):
        return "OOMKilled"
    if deleting:
        return "Terminating"
    return waiting[0] if waiting else ""


def object_key(obj: object) -> str:
    """The key an object is cached and shown under: its uid, else namespace/name."""
    meta = mapping(obj, "metadata")
    return text(meta, "uid") or f"{text(meta, 'namespace')}/{text(meta, 'name')}"


def parse_pod(pod: Json) -> PodInfo:
    """A pod object as PodInfo (usage fields empty: metrics come separately).

    `containers` holds the init containers first (`init=True`), then the app containers: the
    rules that look for OOM kills and crash loops see both. Ready/total and the limits are the
    app containers' (and the sidecars'), as `kubectl get pods` counts them.
    """
    meta, spec, status = mapping(pod, "metadata"), mapping(pod, "spec"), mapping(pod, "status")
    app = _containers(items(spec, "containers"), items(status, "containerStatuses"), False)
    init = _containers(items(spec, "initContainers"), items(status, "initContainerStatuses"), True)
    sidecars = tuple(c for c in init if c.sidecar)
    counted = sidecars + app
    deleting = get(meta, "deletionTimestamp") is not None
    init_reason = None if _condition_true(status, "Initialized") else _init_reason(init)
    if init_reason is not None:  # kubectl: while initializing, restarts are the init containers'
        restarts = sum(c.restart_count for c in init)
    else:
        restarts = sum(c.restart_count for c in counted)
    return PodInfo(
        uid=object_key(pod),
        name=text(meta, "name"),
        namespace=text(meta, "namespace"),
        phase=text(status, "phase") or "Unknown",
        ready=sum(1 for c in counted if c.ready),
        total=len(counted),
        restarts=restarts,
        reason=_pod_reason(status, app, init_reason, deleting),
        node=text(spec, "nodeName"),
        created_at=parse_time(get(meta, "creationTimestamp")),
        containers=init + app,
        cpu_limit_m=_sum_or_none(c.cpu_limit_m for c in counted),
        memory_limit=_int_or_none(_sum_or_none(c.memory_limit for c in counted)),
        cpu_request_m=_sum_or_none(c.cpu_request_m for c in counted),
        memory_request=_int_or_none(_sum_or_none(c.memory_request for c in counted)),
        deleting=deleting,
    )


def rollout_state(dep: Json) -> tuple[str, str]:
    """("complete" | "progressing" | "stuck", message), by `kubectl rollout status`'s rules."""
    meta, spec, status = mapping(dep, "metadata"), mapping(dep, "spec"), mapping(dep, "status")
    progressing = (
        next((c for c in items(status, "conditions") if text(c, "type") == "Progressing"), None)
        or {}
    )
    message = text(progressing, "message")
    if text(progressing, "reason") == "ProgressDeadlineExceeded":
        return "stuck", message
    if integer(status, "observedGeneration") < integer(meta, "generation"):
        return "progressing", "waiting for the deployment spec update to be observed"
    desired = integer(spec, "replicas", 1)
    updated = integer(status, "updatedReplicas")
    replicas = integer(status, "replicas")
    available = integer(status, "availableReplicas")
    if updated < desired:
        return "progressing", message or f"{updated} of {desired} updated replicas"
    if replicas > updated:
        return "progressing", message or f"{replicas - updated} old replicas pending termination"
    if available < updated:
        return "progressing", message or f"{available} of {updated} updated replicas available"
    return "complete", message


def parse_deployment(dep: Json, hpa: HpaInfo | None = None) -> DeploymentInfo:
    """A deployment object as DeploymentInfo."""
    meta, spec, status = mapping(dep, "metadata"), mapping(dep, "spec"), mapping(dep, "status")
    template_annotations = mapping(spec, "template", "metadata", "annotations")
    rollout, message = rollout_state(dep)
    return DeploymentInfo(
        name=text(meta, "name"),
        namespace=text(meta, "namespace"),
        desired=integer(spec, "replicas", 1),
        updated=integer(status, "updatedReplicas"),
        ready=integer(status, "readyReplicas"),
        available=integer(status, "availableReplicas"),
        paused=boolean(spec, "paused"),
        rollout=rollout,
        rollout_message=message,
        generation=integer(meta, "generation"),
        observed_generation=integer(status, "observedGeneration"),
        restarted_at=optional_text(template_annotations, RESTARTED_AT),
        hpa=hpa,
        revision=optional_integer(mapping(meta, "annotations"), "deployment.kubernetes.io/revision")
        or 0,
        rollout_finished_at=rollout_finished_at(status),
    )


def rollout_finished_at(status: Json) -> datetime | None:
    """When the last rollout completed: the Progressing condition's lastUpdateTime while its
    reason is NewReplicaSetAvailable (None while a rollout runs, or when the server omits it)."""
    for condition in items(status, "conditions"):
        if text(condition, "type") == "Progressing":
            if text(condition, "reason") != "NewReplicaSetAvailable":
                return None
            return parse_time(get(condition, "lastUpdateTime"))
    return None


def parse_hpa(hpa: Json) -> HpaInfo:
    """An autoscaling/v2 or v1 HorizontalPodAutoscaler as HpaInfo."""
    spec, status = mapping(hpa, "spec"), mapping(hpa, "status")
    target = optional_integer(spec, "targetCPUUtilizationPercentage")  # v1
    for metric in items(spec, "metrics"):  # v2
        resource = mapping(metric, "resource")
        if text(metric, "type") == "Resource" and text(resource, "name") == "cpu":
            utilization = optional_integer(mapping(resource, "target"), "averageUtilization")
            target = utilization if utilization is not None else target
    return HpaInfo(
        name=text(mapping(hpa, "metadata"), "name"),
        min_replicas=integer(spec, "minReplicas", 1),
        max_replicas=integer(spec, "maxReplicas"),
        current_replicas=integer(status, "currentReplicas"),
        desired_replicas=integer(status, "desiredReplicas"),
        target_cpu_percent=target,
    )


def hpa_for(hpas: Iterable[Json], deployment: str) -> HpaInfo | None:
    """The HPA among `hpas` whose scaleTargetRef is the deployment."""
    for item in hpas:
        ref = mapping(item, "spec", "scaleTargetRef")
        if text(ref, "kind") == "Deployment" and text(ref, "name") == deployment:
            return parse_hpa(item)
    return None


def parse_event(event: Json) -> KubeEvent:
    """A core/v1 Event as KubeEvent (last seen: lastTimestamp, else eventTime, else first)."""
    involved = mapping(event, "involvedObject")
    meta = mapping(event, "metadata")
    seen = (
        parse_time(get(event, "lastTimestamp"))
        or parse_time(get(event, "eventTime"))
        or parse_time(get(event, "firstTimestamp"))
        or parse_time(get(meta, "creationTimestamp"))
    )
    count = integer(mapping(event, "series"), "count") or integer(event, "count") or 1
    return KubeEvent(
        type=text(event, "type"),
        reason=text(event, "reason"),
        message=text(event, "message"),
        object_kind=text(involved, "kind"),
        object_name=text(involved, "name"),
        count=count,
        last_seen=seen,
    )


def parse_node(node: Json) -> NodeInfo:
    """A node's Ready and pressure conditions."""
    conditions = {
        text(c, "type"): text(c, "status") == "True"
        for c in items(mapping(node, "status"), "conditions")
    }
    return NodeInfo(
        name=text(mapping(node, "metadata"), "name"),
        ready=conditions.get("Ready", False),
        disk_pressure=conditions.get("DiskPressure", False),
        memory_pressure=conditions.get("MemoryPressure", False),
        pid_pressure=conditions.get("PIDPressure", False),
    )


def parse_pod_metrics(pods: Iterable[Json]) -> dict[str, tuple[float, int]]:
    """metrics.k8s.io PodMetrics items as pod name -> (CPU millicores, memory bytes), summed."""
    usage: dict[str, tuple[float, int]] = {}
    for item in pods:
        cpu, mem = 0.0, 0
        for container in items(item, "containers"):
            u = mapping(container, "usage")
            cpu += cpu_millicores(get(u, "cpu")) or 0.0
            mem += memory_bytes(get(u, "memory")) or 0
        usage[text(mapping(item, "metadata"), "name")] = (cpu, mem)
    return usage
