"""Frozen snapshots that cross the boundary between sources, the state, incidents and the UI.

Plain data with a few derived properties. Every source's `collect()` returns one of the
`*Snapshot` / stats types below or a `SourceFailure`; nothing here does I/O.
Times are timezone-aware UTC `datetime`s; durations are seconds (float); sizes are bytes.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast


def utcnow() -> datetime:
    """The current time, timezone-aware UTC (every timestamp in the cockpit is one of these)."""
    return datetime.now(UTC)


@dataclass(frozen=True)
class SourceFailure:
    """A source that did not answer: what failed, why, and since when.

    `since` is the first failure of the current run of failures (kept across retries by the
    scheduler/state), `at` is this attempt.
    """

    source: str  # "database", "cache", "certificates", "api", "kubernetes"
    what: str  # the step that failed: "connect", "query", "INFO", "GET /health", ...
    reason: str  # one line, operator words: "connection refused", "timed out after 3.0s"
    at: datetime = field(default_factory=utcnow)
    since: datetime | None = None
    detail: str = ""  # the full error text behind `reason`, for the pane's detail view

    @property
    def first_seen(self) -> datetime:
        """When this run of failures began."""
        return self.since or self.at

    def describe(self) -> str:
        """'connect: connection refused' — what a pane shows after 'stale since HH:MM:SS —'."""
        return f"{self.what}: {self.reason}" if self.what else self.reason


# --------------------------------------------------------------------------- PostgreSQL


@dataclass(frozen=True)
class DbConnection:
    """One client backend from pg_stat_activity (the cockpit's own backend is never included)."""

    pid: int
    user: str
    application: str
    client_addr: str  # "" for a unix socket
    database: str
    state: str  # active, idle, idle in transaction, idle in transaction (aborted), ...
    query: str  # full text as PostgreSQL returns it (track_activity_query_size)
    backend_start: datetime | None
    query_start: datetime | None
    state_change: datetime | None
    query_seconds: float | None  # now() - query_start (running queries)
    idle_seconds: float | None  # now() - state_change when state is idle*
    wait_event_type: str | None = None
    wait_event: str | None = None
    blocked_by: tuple[int, ...] = ()  # pg_blocking_pids(pid)
    hidden: bool = False  # another role's backend the cockpit's role may not read (NULL columns)


@dataclass(frozen=True)
class StatementStat:
    """One row of pg_stat_statements (times in milliseconds)."""

    queryid: int | None
    query: str
    calls: int
    total_ms: float
    mean_ms: float
    rows: int
    # from the deltas between the source's samples (cockpit/sources/postgres/statements.py):
    # the mean of the calls made during the last interval, and one such mean per interval since
    # the cockpit started, oldest first. None / () until two samples have seen the statement.
    interval_mean_ms: float | None = None
    mean_trend: tuple[float, ...] = ()
    share_of_total: float | None = None  # total_ms over every statement's total in the database


@dataclass(frozen=True)
class DbActivity:
    """What the PostgreSQL source saw in one collection."""

    collected_at: datetime
    database: str
    server_version: str  # "15.19"
    server_version_num: int  # 150019
    uptime_seconds: float
    max_connections: int
    reserved_connections: int  # superuser_reserved_connections (+ reserved_connections on 16+)
    total: int  # client backends, the cockpit's own excluded, hidden ones included
    by_state: Mapping[str, int]
    by_user: Mapping[str, int]
    by_application: Mapping[str, int]
    by_client: Mapping[str, int]
    connections: tuple[DbConnection, ...]  # every client backend, for the table
    idle_threshold_seconds: float
    idle_over_threshold: tuple[DbConnection, ...]
    longest_queries: tuple[DbConnection, ...]  # non-idle, longest first
    lock_waits: tuple[DbConnection, ...]  # sessions with blocked_by non-empty
    top_by_mean: tuple[StatementStat, ...] = ()
    top_by_total: tuple[StatementStat, ...] = ()
    statements_note: str | None = None  # e.g. "pg_stat_statements not installed"
    database_size_bytes: int | None = None  # slow cadence; None until first measured
    hidden: int = 0  # backends counted whose columns the role may not read (pg_read_all_stats)
    visibility_note: str | None = None  # "5 hidden: role lacks pg_read_all_stats"
    # The source reads full rows only for a window (the longest running first, then the longest
    # idle), the sessions over a threshold and those in a lock chain: `connections` may hold
    # fewer rows than `total`; the counts above are over every backend.
    idle_over_threshold_count: int | None = None  # None: len(idle_over_threshold) is the count
    lock_sessions: tuple[DbConnection, ...] = ()  # waiters and their blockers, last lock sample
    locks_sampled_at: datetime | None = None
    statements_sampled_at: datetime | None = None

    @property
    def idle_over_count(self) -> int:
        """Idle sessions over the threshold, every one of them (the tuple may be a window)."""
        if self.idle_over_threshold_count is None:
            return len(self.idle_over_threshold)
        return self.idle_over_threshold_count

    @property
    def complete(self) -> bool:
        """Whether `connections` holds every client backend."""
        return len(self.connections) >= self.total

    @property
    def usable_connections(self) -> int:
        """Slots ordinary roles can take: max_connections minus the reserved ones."""
        return max(self.max_connections - self.reserved_connections, 1)

    @property
    def usage_percent(self) -> float:
        """Connections in use (the cockpit's own counted back in) over max_connections, in %."""
        if self.max_connections <= 0:
            return 0.0
        return 100.0 * (self.total + 1) / self.max_connections


# --------------------------------------------------------------------------- Redis


@dataclass(frozen=True)
class CacheStats:
    """Redis INFO, with rates computed from the previous sample."""

    collected_at: datetime
    redis_version: str
    role: str
    uptime_seconds: int
    hit_rate_interval: float | None  # 0..1 over the last interval; None without a usable interval
    hit_rate_total: float | None  # 0..1 since the server started
    hits_interval: int | None
    misses_interval: int | None
    interval_seconds: float | None
    ops_per_sec: float | None  # from total_commands_processed deltas (instantaneous when none)
    evicted_per_sec: float | None
    used_memory: int
    maxmemory: int  # 0 = no limit
    mem_fragmentation_ratio: float | None
    connected_clients: int
    blocked_clients: int
    maxclients: int | None
    rejected_connections: int
    evicted_keys: int
    keyspace: Mapping[str, int]  # "db0" -> keys
    connected_replicas: int = 0
    restarted: bool = False  # counters went backwards / run_id changed since the last sample

    @property
    def memory_percent(self) -> float | None:
        """used_memory over maxmemory in %, None when Redis has no limit."""
        return 100.0 * self.used_memory / self.maxmemory if self.maxmemory else None


# --------------------------------------------------------------------------- TLS


class CertState(enum.StrEnum):
    """A certificate's status, worst last."""

    OK = "ok"
    EXPIRING = "expiring"
    UNTRUSTED = "untrusted"
    EXPIRED = "expired"
    ERROR = "error"


@dataclass(frozen=True)
class CertStatus:
    """One endpoint's leaf certificate, read even when expired, self-signed or mismatched."""

    host: str  # the configured name: what operators call the endpoint
    port: int
    server_name: str  # SNI sent
    status: CertState
    not_before: datetime | None = None
    not_after: datetime | None = None
    days_left: float | None = None
    subject: str = ""
    san: tuple[str, ...] = ()
    issuer: str = ""
    serial: str = ""
    chain_verified: bool = False
    hostname_matches: bool = False
    verify_error: str | None = None  # why the chain did not verify
    error: str | None = None  # status ERROR: why nothing could be read
    chain: tuple[str, ...] = ()  # subjects of the presented chain, leaf first
    address: str = ""  # where the handshake went (config `address`, else host)
    client_cert_requested: bool = False  # the server refused us for want of a client certificate


@dataclass(frozen=True)
class CertificatesSnapshot:
    """Every configured endpoint, checked in one collection."""

    collected_at: datetime
    certificates: tuple[CertStatus, ...]


# --------------------------------------------------------------------------- API


@dataclass(frozen=True)
class ApiStatus:
    """/health and /metrics of the API. Rates are per second between two samples."""

    collected_at: datetime
    base_url: str
    health_ok: bool
    health_status_code: int | None
    health_latency_ms: float | None
    health_summary: str  # short text: JSON body's status/checks, or the error
    health_error: str | None = None
    metrics_ok: bool = False
    metrics_error: str | None = None  # "not configured", parse error, HTTP status...
    request_rate: float | None = None  # all requests/s
    rate_by_class: Mapping[str, float] = field(default_factory=dict[str, float])  # "2xx" -> req/s
    rate_429: float | None = None  # 429 responses/s
    rate_limited_rate: float | None = None  # the rate-limit rejection counter/s
    error_ratio: float | None = None  # 5xx / all, 0..1
    latency_ms: Mapping[str, float] = field(
        default_factory=dict[str, float]
    )  # "p50"/"p95"/"p99"/"mean"
    counters_reset: bool = False  # a counter went backwards: the API restarted
    metrics_interval_seconds: float | None = None  # between the two scrapes the rates span
    # [api.metrics] scrape = "pods": each pod's figures; the totals above are their sum over
    # `pods_in_sum` of `pods_scraped` pods (None and () for scrape = "url")
    pods: tuple[ApiPodMetrics, ...] = ()
    pods_scraped: int | None = None
    pods_in_sum: int | None = None
    metrics_notes: tuple[str, ...] = ()  # [prometheus]: failed or empty queries, warnings
    # [prometheus]: on the first snapshot only, trend name -> (time, value) from query_range,
    # which the state takes as the trends' history
    trend_history: Mapping[str, tuple[tuple[datetime, float], ...]] = field(
        default_factory=dict[str, tuple[tuple[datetime, float], ...]]
    )


@dataclass(frozen=True)
class ApiPodMetrics:
    """One pod's /metrics, scraped through the API server's pod proxy; rates from its own
    previous sample (None at its first sample, after a reset, or when this scrape failed)."""

    name: str
    ok: bool
    error: str | None = None  # why this scrape failed
    last_scraped_at: datetime | None = None  # the last scrape that answered
    request_rate: float | None = None
    rate_5xx: float | None = None
    error_ratio: float | None = None  # 5xx / all, 0..1
    rate_429: float | None = None
    p99_ms: float | None = None
    counters_reset: bool = False  # this pod's counters went backwards (its container restarted)


# --------------------------------------------------------------------------- Kubernetes


@dataclass(frozen=True)
class ContainerInfo:
    """One container of a pod (an app container or an init container), with its current and
    last state."""

    name: str
    ready: bool
    restart_count: int
    state: str  # running, waiting, terminated
    reason: str = ""  # waiting/terminated reason: CrashLoopBackOff, ImagePullBackOff, ...
    message: str = ""
    last_state_reason: str = ""  # lastState.terminated.reason: OOMKilled, Error, ...
    last_exit_code: int | None = None
    last_finished_at: datetime | None = None
    cpu_request_m: float | None = None
    cpu_limit_m: float | None = None
    memory_request: int | None = None
    memory_limit: int | None = None
    init: bool = False  # an init container (they run, in order, before the app containers)
    sidecar: bool = False  # a restartable init container (restartPolicy Always): runs alongside
    exit_code: int | None = None  # state terminated: its exit code (None when not reported)
    signal: int | None = None  # state terminated by a signal: its number
    started: bool = False  # the kubelet's `started` (startup probe passed)


@dataclass(frozen=True)
class VolumeUsage:
    """One volume of a pod (or its ephemeral storage), from the kubelet's stats/summary.

    Any figure may be unknown (None): the kubelet omits what it has not measured yet.
    """

    name: str  # the pod's volume name; "ephemeral-storage" for the pod's ephemeral storage
    used_bytes: int | None
    capacity_bytes: int | None
    available_bytes: int | None
    pvc: str = ""  # the PersistentVolumeClaim behind it ("" for emptyDir, projected, ...)
    ephemeral: bool = False  # the pod's ephemeral storage (writable layers, logs, emptyDirs)

    @property
    def percent(self) -> float | None:
        """How full the filesystem is, in %: what is no longer available of its capacity (as
        df's Use%, which counts what only root may still write as used), else used over
        capacity; None when the capacity is unknown."""
        if not self.capacity_bytes or self.capacity_bytes <= 0:
            return None
        if self.available_bytes is not None:
            taken = self.capacity_bytes - min(max(self.available_bytes, 0), self.capacity_bytes)
        elif self.used_bytes is not None:
            taken = min(max(self.used_bytes, 0), self.capacity_bytes)
        else:
            return None
        return 100.0 * taken / self.capacity_bytes


@dataclass(frozen=True)
class PodDisk:
    """A pod's disk use from its node's kubelet summary, read at `read_at`."""

    node: str
    read_at: datetime
    volumes: tuple[VolumeUsage, ...] = ()  # the ephemeral storage first when reported
    stale: bool = False  # the node's last read failed: these are the figures read before

    @property
    def worst(self) -> VolumeUsage | None:
        """The fullest volume (or ephemeral storage) with a known percentage."""
        known = [v for v in self.volumes if v.percent is not None]
        return max(known, key=lambda v: v.percent or 0.0) if known else None

    @property
    def percent(self) -> float | None:
        """The fullest volume's percentage (None when nothing is known)."""
        worst = self.worst
        return worst.percent if worst is not None else None


@dataclass(frozen=True)
class DiskStatus:
    """How the last round of kubelet summaries went (`[refresh] disk_seconds`)."""

    read_at: datetime | None = None  # when the last round finished; None before the first
    nodes_read: tuple[str, ...] = ()  # nodes whose summary answered in that round
    nodes_failed: Mapping[str, str] = field(default_factory=dict[str, str])  # node -> reason
    note: str | None = None  # "disk usage needs nodes/proxy": RBAC denies the read (no data)


@dataclass(frozen=True)
class PodInfo:
    """A pod matching the configured selector, with usage from metrics.k8s.io when available."""

    uid: str
    name: str
    namespace: str
    phase: str
    ready: int
    total: int
    restarts: int
    reason: str  # the most telling reason: CrashLoopBackOff, OOMKilled, Evicted, Unschedulable...
    node: str
    created_at: datetime | None
    containers: tuple[ContainerInfo, ...] = ()  # init containers first (`init`), then the app ones
    cpu_m: float | None = None  # millicores in use
    memory_bytes: int | None = None
    cpu_limit_m: float | None = None  # sum over containers, None if any container has none
    memory_limit: int | None = None
    cpu_request_m: float | None = None
    memory_request: int | None = None
    deleting: bool = False
    disk: PodDisk | None = None  # from the kubelet summary of its node (kube/disk.py)

    @property
    def cpu_percent_of_limit(self) -> float | None:
        """CPU in use over the limit in %."""
        if self.cpu_m is None or not self.cpu_limit_m:
            return None
        return 100.0 * self.cpu_m / self.cpu_limit_m

    @property
    def memory_percent_of_limit(self) -> float | None:
        """Memory in use over the limit in %."""
        if self.memory_bytes is None or not self.memory_limit:
            return None
        return 100.0 * self.memory_bytes / self.memory_limit


@dataclass(frozen=True)
class HpaInfo:
    """The HorizontalPodAutoscaler targeting the deployment."""

    name: str
    min_replicas: int
    max_replicas: int
    current_replicas: int
    desired_replicas: int
    target_cpu_percent: int | None = None


@dataclass(frozen=True)
class DeploymentInfo:
    """The watched deployment's rollout state."""

    name: str
    namespace: str
    desired: int
    updated: int
    ready: int
    available: int
    paused: bool
    rollout: str  # "complete", "progressing", "stuck"
    rollout_message: str = ""
    generation: int = 0
    observed_generation: int = 0
    restarted_at: str | None = None
    hpa: HpaInfo | None = None
    revision: int = 0  # deployment.kubernetes.io/revision
    rollout_finished_at: datetime | None = None  # Progressing NewReplicaSetAvailable's update


@dataclass(frozen=True)
class KubeEvent:
    """A Warning event for the deployment or its pods."""

    type: str
    reason: str
    message: str
    object_kind: str
    object_name: str
    count: int
    last_seen: datetime | None


@dataclass(frozen=True)
class NodeInfo:
    """A node running the deployment's pods."""

    name: str
    ready: bool
    disk_pressure: bool
    memory_pressure: bool
    pid_pressure: bool = False


@dataclass(frozen=True)
class KubeSnapshot:
    """Pods, the deployment, warning events and nodes, as the watch cache holds them."""

    collected_at: datetime
    context: str
    cluster: str
    namespace: str
    selector: str
    deployment: DeploymentInfo | None
    pods: tuple[PodInfo, ...]
    events: tuple[KubeEvent, ...] = ()
    nodes: tuple[NodeInfo, ...] = ()
    permissions: Mapping[str, bool] = field(default_factory=dict[str, bool])  # action id -> allowed
    permission_reasons: Mapping[str, str] = field(default_factory=dict[str, str])
    metrics_error: str | None = None  # metrics.k8s.io unavailable: why
    watch_error: str | None = None  # the watch is reconnecting: why (data may lag)
    disk: DiskStatus | None = None  # the kubelet summaries' last round (None: not polled)

    @property
    def ready_pods(self) -> int:
        """Pods whose every container is ready."""
        return sum(1 for p in self.pods if p.total and p.ready == p.total)


Snapshot = DbActivity | CacheStats | CertificatesSnapshot | ApiStatus | KubeSnapshot

SOURCE_NAMES = ("kubernetes", "database", "cache", "certificates", "api")


# --------------------------------------------------------------------------- JSON


def to_jsonable(value: object) -> Any:
    """Dataclasses, enums, datetimes, mappings and tuples as JSON-ready values (for snapshot
    --json)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out = {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
        return out
    if isinstance(value, enum.Enum):
        return cast(object, value.value)
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, Mapping):
        pairs = cast(Mapping[object, object], value)
        return {str(k): to_jsonable(v) for k, v in pairs.items()}
    if isinstance(value, list | tuple | set | frozenset):
        members = cast(Iterable[object], value)
        return [to_jsonable(v) for v in members]
    return value
