"""The config file: TOML in, frozen dataclasses out, every mistake named by file and dotted key.

The shape of the file is a public contract (see config.example.toml). Every field below carries
its documentation in `meta(...)`; `cockpit init` and the example file are built from the same
defaults. Secrets never live in the file: `${VAR}` references resolve from the environment.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import re
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

APP_NAME = "predictiq-cockpit"


class ConfigError(Exception):
    """A config that cannot be used. `str()` is the whole message an operator needs."""

    def __init__(self, message: str, *, path: str | None = None, key: str | None = None):
        self.path = path
        self.key = key
        where = ""
        if path and key:
            where = f"{path}: {key}: "
        elif path:
            where = f"{path}: "
        elif key:
            where = f"{key}: "
        super().__init__(where + message)


def meta(
    doc: str,
    *,
    min: float | None = None,
    max: float | None = None,
    secret: bool = False,
    choices: tuple[str, ...] | None = None,
) -> dict[str, Any]:
    """Field metadata: documentation, numeric range, choices, and whether the value is a secret."""
    return {"doc": doc, "min": min, "max": max, "secret": secret, "choices": choices}


REQUIRED: Any = dataclasses.MISSING


@dataclass(frozen=True)
class KubernetesConfig:
    """Which cluster, namespace and deployment to watch."""

    context: str = field(
        default="", metadata=meta("kubeconfig context; empty: the current context")
    )
    namespace: str = field(
        default="",
        metadata=meta(
            "namespace of the deployment; empty: the context's namespace, else default (as kubectl)"
        ),
    )
    deployment: str = field(
        default="predictiq-api", metadata=meta("the deployment to watch and act on")
    )
    selector: str = field(default="app=predictiq-api", metadata=meta("label selector of its pods"))
    production_contexts: tuple[str, ...] = field(
        default=("*prod*",),
        metadata=meta(
            "glob patterns of context names that are production "
            "(shown red; actions need the target typed)"
        ),
    )
    kubeconfig: str = field(
        default="",
        metadata=meta("kubeconfig path; empty: $KUBECONFIG or ~/.kube/config, as kubectl"),
    )
    request_timeout_seconds: float = field(
        default=5.0, metadata=meta("timeout of every Kubernetes API call", min=0.5, max=120)
    )


@dataclass(frozen=True)
class DatabaseConfig:
    """The PostgreSQL server the API uses."""

    url: str = field(
        default=REQUIRED, metadata=meta("libpq DSN or URL; use ${DATABASE_URL}", secret=True)
    )
    app_user: str = field(
        default="",
        metadata=meta("role whose idle connections kill-idle may end; empty: the user in url"),
    )
    app_database: str = field(
        default="", metadata=meta("database kill-idle is limited to; empty: the database in url")
    )
    connect_timeout_seconds: float = field(
        default=3.0,
        metadata=meta("connect timeout (libpq raises anything under 2 s to 2 s)", min=1, max=60),
    )
    statement_timeout_ms: int = field(
        default=2000,
        metadata=meta("statement_timeout of the cockpit's session", min=100, max=60000),
    )
    size_interval_seconds: float = field(
        default=300.0,
        metadata=meta("how often to measure the database size (expensive)", min=10, max=86400),
    )
    statements_seconds: float = field(
        default=30.0,
        metadata=meta(
            "how often to read pg_stat_statements (its own, slower cadence)", min=1, max=86400
        ),
    )
    locks_seconds: float = field(
        default=5.0,
        metadata=meta(
            "how often to sample pg_blocking_pids() for the lock tree "
            "(it takes the lock manager's locks)",
            min=1,
            max=3600,
        ),
    )
    explain_timeout_ms: int = field(
        default=10000,
        metadata=meta(
            "statement_timeout of EXPLAIN ANALYZE (it runs the query)", min=100, max=600000
        ),
    )
    lock_timeout_ms: int = field(
        default=5000,
        metadata=meta(
            "lock_timeout of CREATE / DROP INDEX CONCURRENTLY (they wait for older transactions)",
            min=100,
            max=600000,
        ),
    )
    rows_window: int = field(
        default=25,
        metadata=meta(
            "connections read in full per refresh (longest running first); "
            "more are fetched as the table is scrolled",
            min=10,
            max=100000,
        ),
    )


@dataclass(frozen=True)
class CacheConfig:
    """The Redis server in front of the database."""

    url: str = field(
        default=REQUIRED, metadata=meta("redis:// or rediss:// URL; use ${REDIS_URL}", secret=True)
    )
    timeout_seconds: float = field(
        default=2.0, metadata=meta("socket and connect timeout", min=0.1, max=60)
    )


@dataclass(frozen=True)
class MetricNames:
    """Prometheus metric names the API exposes (the counters' `_total` suffix included)."""

    requests_total: str = field(default="http_requests_total", metadata=meta("counter of requests"))
    status_label: str = field(default="status", metadata=meta("label holding the HTTP status code"))
    rate_limited_total: str = field(
        default="rate_limit_rejections_total", metadata=meta("counter of rate-limit rejections")
    )
    latency_histogram: str = field(
        default="http_request_duration_seconds",
        metadata=meta("request latency histogram or summary (seconds)"),
    )
    scrape: str = field(
        default="url",
        metadata=meta(
            '"url": one GET of api.base_url + metrics_path; "pods": every pod of the deployment '
            "through the API server's pod proxy (needs [kubernetes] and get pods/proxy)",
            choices=("url", "pods"),
        ),
    )
    port: int = field(
        default=0,
        metadata=meta(
            'the pods\' metrics port for scrape = "pods"; '
            "0: the container port named metrics, else http",
            min=0,
            max=65535,
        ),
    )


@dataclass(frozen=True)
class ApiConfig:
    """The HTTP API: health, metrics and the admin cache-warm endpoint."""

    base_url: str = field(default=REQUIRED, metadata=meta("scheme://host[:port] of the API"))
    health_path: str = field(default="/health", metadata=meta("health check path"))
    health_json: bool = field(
        default=True,
        metadata=meta("the health check answers JSON: a 2xx that is not JSON is not healthy"),
    )
    metrics_path: str = field(
        default="/metrics", metadata=meta("Prometheus metrics path; empty: no metrics")
    )
    warm_path: str = field(
        default="/api/admin/cache/warm", metadata=meta("POST here warms the cache")
    )
    token: str = field(
        default="",
        metadata=meta(
            "admin token for the warm endpoint; use ${PREDICTIQ_ADMIN_TOKEN}", secret=True
        ),
    )
    auth_header: str = field(
        default="",
        metadata=meta(
            "optional Authorization header value for /health and /metrics; use ${VAR}", secret=True
        ),
    )
    timeout_seconds: float = field(
        default=5.0, metadata=meta("timeout of each request", min=0.1, max=120)
    )
    verify_tls: bool = field(default=True, metadata=meta("verify the API's certificate"))
    ca_file: str = field(
        default="", metadata=meta("extra CA bundle to verify the API with; empty: system store")
    )
    endpoints: tuple[str, ...] = field(
        default=(), metadata=meta("paths that must answer 2xx/3xx (checklists)")
    )
    metrics: MetricNames = field(default_factory=MetricNames, metadata=meta("metric names"))


@dataclass(frozen=True)
class PrometheusQueries:
    """PromQL for the API figures; empty: the built-in query. `{selector}` is the label matcher
    of the API's pods, `{requests}`, `{status}`, `{latency}` and `{rate_limited}` the
    [api.metrics] names (see README, "API figures from Prometheus")."""

    requests_by_pod: str = field(default="", metadata=meta("requests/s per pod"))
    errors_by_pod: str = field(default="", metadata=meta("5xx responses/s per pod"))
    rate_429_by_pod: str = field(default="", metadata=meta("429 responses/s per pod"))
    p99_by_pod: str = field(default="", metadata=meta("p99 latency per pod, seconds"))
    latency_p50: str = field(default="", metadata=meta("p50 latency of all pods, seconds"))
    latency_p95: str = field(default="", metadata=meta("p95 latency of all pods, seconds"))
    latency_p99: str = field(default="", metadata=meta("p99 latency of all pods, seconds"))
    rate_limited: str = field(default="", metadata=meta("rate-limit rejections/s of all pods"))
    cpu_percent: str = field(
        default="",
        metadata=meta("the pods' CPU, % of their limits (cAdvisor, kube-state-metrics); back-fill"),
    )
    memory_percent: str = field(
        default="",
        metadata=meta(
            "the pods' working set, % of their limits (cAdvisor, kube-state-metrics); back-fill"
        ),
    )


@dataclass(frozen=True)
class PrometheusConfig:
    """A Prometheus server that scrapes the API's pods: the API figures come from PromQL."""

    url: str = field(default=REQUIRED, metadata=meta("scheme://host:port of Prometheus' HTTP API"))
    bearer_token: str = field(
        default="", metadata=meta("bearer token; use ${PROMETHEUS_TOKEN}", secret=True)
    )
    username: str = field(default="", metadata=meta("basic auth user"))
    password: str = field(
        default="", metadata=meta("basic auth password; use ${PROMETHEUS_PASSWORD}", secret=True)
    )
    ca_file: str = field(
        default="", metadata=meta("CA bundle to verify Prometheus with; empty: system store")
    )
    timeout_seconds: float = field(
        default=5.0, metadata=meta("timeout of each query", min=0.1, max=120)
    )
    selector: str = field(
        default="",
        metadata=meta(
            "label matcher of the API's pods; empty: "
            'namespace="<kubernetes.namespace>",pod=~"<kubernetes.deployment>-.*"'
        ),
    )
    rate_window: str = field(
        default="1m", metadata=meta("the range of rate() in the built-in queries")
    )
    queries: PrometheusQueries = field(default_factory=PrometheusQueries, metadata=meta("queries"))


@dataclass(frozen=True)
class CertificateConfig:
    """One TLS endpoint whose certificate is watched."""

    host: str = field(
        default=REQUIRED, metadata=meta("host name (also the SNI and the name checked)")
    )
    port: int = field(default=443, metadata=meta("TCP port", min=1, max=65535))
    address: str = field(default="", metadata=meta("address to connect to; empty: host"))
    ca_file: str = field(default="", metadata=meta("CA bundle to verify with; empty: system store"))


@dataclass(frozen=True)
class RefreshConfig:
    """How often each source is polled."""

    interval_seconds: float = field(
        default=2.0,
        metadata=meta(
            "database, cache and API (Kubernetes objects are watched)", min=0.2, max=3600
        ),
    )
    certificates_seconds: float = field(
        default=300.0, metadata=meta("certificate checks", min=1, max=86400)
    )
    metrics_seconds: float = field(
        default=10.0,
        metadata=meta("pod CPU/memory from metrics.k8s.io, which has no watch", min=1, max=3600),
    )
    disk_seconds: float = field(
        default=60.0,
        metadata=meta(
            "pods' volume and ephemeral-storage use from each node's kubelet summary "
            "(the API server's node proxy)",
            min=1,
            max=3600,
        ),
    )
    timeout_seconds: float = field(
        default=5.0, metadata=meta("a collection slower than this is a failure", min=0.2, max=300)
    )
    history_minutes: int = field(
        default=15, metadata=meta("trend history kept for sparklines", min=1, max=240)
    )


@dataclass(frozen=True)
class ThresholdsConfig:
    """When a number becomes an incident. Names carry their unit."""

    cpu_percent: float = field(
        default=80.0, metadata=meta("CPU use over limit, deployment-wide, %", min=1, max=1000)
    )
    memory_percent: float = field(
        default=90.0, metadata=meta("memory use over limit, any pod, %", min=1, max=1000)
    )
    cache_hit_rate: float = field(
        default=0.5, metadata=meta("cache hit rate over the last interval, 0..1", min=0, max=1)
    )
    slow_query_seconds: float = field(
        default=1.0,
        metadata=meta("a query running longer, or a statement mean above", min=0.001, max=86400),
    )
    idle_connection_seconds: float = field(
        default=600.0,
        metadata=meta("idle longer than this counts as idle-over-threshold", min=1, max=864000),
    )
    cert_warning_days: float = field(
        default=30.0, metadata=meta("certificate expiring within: P4", min=0, max=3650)
    )
    cert_critical_days: float = field(
        default=7.0, metadata=meta("certificate expiring within: P2", min=0, max=3650)
    )
    connection_warning_percent: float = field(
        default=80.0, metadata=meta("database connections over max_connections: P2", min=1, max=100)
    )
    connection_critical_percent: float = field(
        default=95.0, metadata=meta("database connections over max_connections: P1", min=1, max=100)
    )
    disk_percent: float = field(
        default=85.0,
        metadata=meta(
            "a pod's volume or ephemeral storage fuller than this, %: P3", min=1, max=100
        ),
    )
    disk_critical_percent: float = field(
        default=95.0,
        metadata=meta(
            "a pod's volume or ephemeral storage fuller than this, %: P2", min=1, max=100
        ),
    )
    rate_limited_per_second: float = field(
        default=1.0, metadata=meta("429 responses per second above which: P3", min=0, max=1e9)
    )
    error_ratio: float = field(
        default=0.05,
        metadata=meta(
            "5xx share of requests above which the error rate counts as raised", min=0, max=1
        ),
    )
    health_latency_ms: float = field(
        default=500.0,
        metadata=meta("/health slower than this counts as degraded", min=1, max=600000),
    )


@dataclass(frozen=True)
class SeverityConfig:
    """Response time per severity level, from the runbook."""

    p1_minutes: int = field(
        default=15, metadata=meta("P1 critical: service down, data loss", min=1, max=100000)
    )
    p2_minutes: int = field(
        default=60, metadata=meta("P2 high: major feature broken", min=1, max=100000)
    )
    p3_minutes: int = field(
        default=240, metadata=meta("P3 medium: minor feature broken", min=1, max=100000)
    )
    p4_minutes: int = field(default=1440, metadata=meta("P4 low: cosmetic", min=1, max=100000))


@dataclass(frozen=True)
class IncidentsConfig:
    """Hysteresis of the incident engine."""

    open_after_samples: int = field(
        default=2,
        metadata=meta("consecutive breaching samples before an incident opens", min=1, max=100),
    )
    close_after_samples: int = field(
        default=3, metadata=meta("consecutive healthy samples before it closes", min=1, max=1000)
    )
    runbook_path: str = field(
        default="", metadata=meta("a team's own runbook data file (TOML); empty: the built-in one")
    )


@dataclass(frozen=True)
class ActionsConfig:
    """Limits of the actions the cockpit can take."""

    scale_min_replicas: int = field(
        default=0,
        metadata=meta(
            "lowest replica count scale accepts (0 needs typing the name)", min=0, max=10000
        ),
    )
    scale_max_replicas: int = field(
        default=50, metadata=meta("highest replica count scale accepts", min=1, max=10000)
    )
    timeout_seconds: float = field(
        default=15.0, metadata=meta("timeout of one action's execution", min=1, max=600)
    )
    rollout_timeout_seconds: float = field(
        default=300.0, metadata=meta("how long rollout progress is followed", min=5, max=7200)
    )
    max_memory_limit: str = field(
        default="4Gi",
        metadata=meta(
            "highest memory limit Resources proposes or accepts for a container (a quantity: 4Gi)"
        ),
    )


@dataclass(frozen=True)
class AuditConfig:
    """Where the audit trail is written."""

    path: str = field(default="", metadata=meta("JSON-lines audit log; empty: the XDG state dir"))
    rotate_mb: float = field(
        default=64.0,
        metadata=meta(
            "start a new audit file (chained from the last) past this size, in MB", min=1, max=65536
        ),
    )


@dataclass(frozen=True)
class TeamConfig:
    """The team store: a PostgreSQL database that cockpits of one team share (issue 16)."""

    url: str = field(
        default=REQUIRED,
        metadata=meta("libpq URL of the team store; use ${COCKPIT_TEAM_URL}", secret=True),
    )
    connect_timeout_seconds: float = field(
        default=3.0,
        metadata=meta("connect timeout (libpq raises anything under 2 s to 2 s)", min=1, max=60),
    )
    statement_timeout_ms: int = field(
        default=2000,
        metadata=meta("statement_timeout of every team store session", min=100, max=60000),
    )
    heartbeat_seconds: float = field(
        default=10.0,
        metadata=meta(
            "how often a live cockpit writes its presence (others drop it after three misses)",
            min=1,
            max=600,
        ),
    )


@dataclass(frozen=True)
class LoggingConfig:
    """Where the cockpit's own diagnostics (tracebacks, worker failures) are written."""

    path: str = field(
        default="", metadata=meta("rotating log file; empty: cockpit.log in the XDG state dir")
    )


@dataclass(frozen=True)
class BackupConfig:
    """Backup verification for the checklists."""

    directory: str = field(
        default="", metadata=meta("directory of pg_dump -Fc files; empty: not checked")
    )
    max_age_hours: float = field(
        default=26.0, metadata=meta("the newest dump must be younger than this", min=0.1, max=8760)
    )
    pattern: str = field(default="*.dump", metadata=meta("glob of dump files"))
    pg_dump: str = field(
        default="",
        metadata=meta(
            "pg_dump for 'Back up the database'; empty: the newest on PATH "
            "or in /usr/lib/postgresql/*/bin"
        ),
    )


@dataclass(frozen=True)
class LinkConfig:
    """A critical URL for the quick reference."""

    name: str = field(default=REQUIRED, metadata=meta("what it is: Production API, Grafana, ..."))
    url: str = field(default=REQUIRED, metadata=meta("where it is"))


@dataclass(frozen=True)
class ContactConfig:
    """An emergency contact for the quick reference."""

    role: str = field(default=REQUIRED, metadata=meta("On-Call Engineer, DevOps Lead, ..."))
    name: str = field(default="", metadata=meta("who"))
    phone: str = field(default="", metadata=meta("how to reach them"))


@dataclass(frozen=True)
class ChecklistsConfig:
    """Where checklists come from."""

    path: str = field(
        default="",
        metadata=meta("a team's own checklists data file (TOML); empty: the built-in one"),
    )


@dataclass(frozen=True)
class LogsConfig:
    """The pod log view (`l` on a pod)."""

    tail_lines: int = field(
        default=200,
        metadata=meta("lines of history a log view starts with (per pod)", min=1, max=100000),
    )
    buffer_lines: int = field(
        default=10000,
        metadata=meta(
            "lines a log view keeps; past it the oldest go (counted as dropped)",
            min=100,
            max=1000000,
        ),
    )
    max_pods: int = field(
        default=20,
        metadata=meta(
            "pods followed at once in the merged deployment view; the rest are listed",
            min=1,
            max=200,
        ),
    )
    save_in_read_only: bool = field(
        default=False, metadata=meta("whether `s` may save logs to a file in read-only mode")
    )


PAGERDUTY_EVENTS_URL = "https://events.pagerduty.com/v2/enqueue"


@dataclass(frozen=True)
class PagingConfig:
    """Paging a human when a P1 or P2 stays unacknowledged (PagerDuty Events API v2 and/or a
    generic JSON webhook). Read-only cockpits never page."""

    events_url: str = field(
        default=PAGERDUTY_EVENTS_URL, metadata=meta("PagerDuty Events API v2 enqueue endpoint")
    )
    routing_key: str = field(
        default="",
        metadata=meta(
            "the PagerDuty integration's routing key; use ${PAGERDUTY_ROUTING_KEY}; "
            "empty: PagerDuty is not paged",
            secret=True,
        ),
    )
    webhook_url: str = field(
        default="",
        metadata=meta(
            "a generic JSON webhook POSTed the same facts; empty: none "
            "(a secret: such URLs often carry a token)",
            secret=True,
        ),
    )
    after_minutes: float | None = field(
        default=None,
        metadata=meta(
            "page a P1/P2 still unacknowledged this long after it opened (or was escalated to "
            "P1/P2); left out: half its response clock; 0: at once",
            min=0,
            max=10080,
        ),
    )
    timeout_seconds: float = field(
        default=10.0, metadata=meta("timeout of one request to the pager", min=1, max=120)
    )
    max_attempts: int = field(
        default=5,
        metadata=meta(
            "attempts per page: 429, 5xx, timeouts and refused connections are retried with "
            "backoff (Retry-After honoured), then given up with the reason",
            min=1,
            max=20,
        ),
    )


@dataclass(frozen=True)
class Config:
    """The whole config. A section left out is None: its pane says "not configured"."""

    read_only: bool = field(default=False, metadata=meta("monitor mode: no action can run"))
    kubernetes: KubernetesConfig | None = field(default=None, metadata=meta("Kubernetes"))
    database: DatabaseConfig | None = field(default=None, metadata=meta("PostgreSQL"))
    cache: CacheConfig | None = field(default=None, metadata=meta("Redis"))
    api: ApiConfig | None = field(default=None, metadata=meta("the HTTP API"))
    prometheus: PrometheusConfig | None = field(
        default=None, metadata=meta("Prometheus: the API figures from PromQL")
    )
    certificates: tuple[CertificateConfig, ...] = field(default=(), metadata=meta("TLS endpoints"))
    refresh: RefreshConfig = field(default_factory=RefreshConfig, metadata=meta("refresh"))
    thresholds: ThresholdsConfig = field(
        default_factory=ThresholdsConfig, metadata=meta("thresholds")
    )
    severity: SeverityConfig = field(default_factory=SeverityConfig, metadata=meta("severity"))
    incidents: IncidentsConfig = field(default_factory=IncidentsConfig, metadata=meta("incidents"))
    actions: ActionsConfig = field(default_factory=ActionsConfig, metadata=meta("actions"))
    audit: AuditConfig = field(default_factory=AuditConfig, metadata=meta("audit"))
    team: TeamConfig | None = field(
        default=None, metadata=meta("the team store (PostgreSQL) shared by a team's cockpits")
    )
    logging: LoggingConfig = field(default_factory=LoggingConfig, metadata=meta("logging"))
    backup: BackupConfig = field(default_factory=BackupConfig, metadata=meta("backup"))
    checklists: ChecklistsConfig = field(
        default_factory=ChecklistsConfig, metadata=meta("checklists")
    )
    logs: LogsConfig = field(default_factory=LogsConfig, metadata=meta("pod logs"))
    paging: PagingConfig | None = field(
        default=None, metadata=meta("paging when nobody acknowledges a P1/P2")
    )
    links: tuple[LinkConfig, ...] = field(default=(), metadata=meta("critical URLs"))
    contacts: tuple[ContactConfig, ...] = field(default=(), metadata=meta("emergency contacts"))
    source_path: str = field(
        default="", metadata=meta("where this config was read from (not a key)")
    )

    def response_minutes(self, severity: str) -> int:
        """Response time for 'P1'..'P4'."""
        return int(getattr(self.severity, f"{severity.lower()}_minutes"))


_NOT_KEYS = {"source_path"}
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if tp is bool:
        return "true or false"
    if tp is int:
        return "an integer"
    if tp is float:
        return "a number"
    if tp is str:
        return "a string"
    if origin is tuple:
        inner = typing.get_args(tp)[0]
        if dataclasses.is_dataclass(inner):
            return "an array of tables ([[...]])"
        return f"an array of {_type_name(inner).removeprefix('a ').removeprefix('an ')}s"
    if dataclasses.is_dataclass(tp):
        return "a table"
    return str(tp)


def _resolve_env(value: str, key: str, path: str, env: typing.Mapping[str, str]) -> str:
    def sub(m: re.Match[str]) -> str:
        name, default = m.group(1), m.group(2)
        if name in env and env[name] != "":
            return env[name]
        if default is not None:
            return default
        raise ConfigError(
            f"environment variable {name} is not set (referenced as ${{{name}}}); "
            f"export {name}=... or remove the reference",
            path=path,
            key=key,
        )

    return _ENV_REF.sub(sub, value)


def _unwrap_optional(tp: Any) -> Any:
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return tp


def _check_scalar(
    value: Any,
    tp: Any,
    key: str,
    path: str,
    m: typing.Mapping[str, Any],
    env: typing.Mapping[str, str],
) -> Any:
    expected = _type_name(tp)
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"expected {expected}, got {value!r}", path=path, key=key)
        return value
    if tp in (int, float):
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or (tp is int and isinstance(value, float))
        ):
            raise ConfigError(f"expected {expected}, got {value!r}", path=path, key=key)
        lo, hi = m.get("min"), m.get("max")
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            raise ConfigError(
                f"expected {expected} from {lo:g} to {hi:g}, got {value!r}", path=path, key=key
            )
        return tp(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"expected {expected}, got {value!r}", path=path, key=key)
        value = _resolve_env(value, key, path, env)
        if m.get("choices") and value not in m["choices"]:
            raise ConfigError(
                f"expected one of {', '.join(m['choices'])}, got {value!r}", path=path, key=key
            )
        return value
    raise ConfigError(f"unsupported type {tp}", path=path, key=key)  # pragma: no cover - schema bug


def _build(cls: Any, data: object, prefix: str, path: str, env: typing.Mapping[str, str]) -> Any:
    """An instance of the dataclass `cls` from a TOML table (Any: the schema is read at run
    time)."""
    if not isinstance(data, dict):
        raise ConfigError(f"expected a table, got {data!r}", path=path, key=prefix or "(top level)")
    table = typing.cast("dict[str, object]", data)  # TOML keys are strings
    fields = {f.name: f for f in dataclasses.fields(cls) if f.name not in _NOT_KEYS}
    hints = typing.get_type_hints(cls)
    for name in table:
        if name not in fields:
            key = f"{prefix}.{name}" if prefix else name
            close = difflib.get_close_matches(name, list(fields), n=1, cutoff=0.6)
            hint = (
                f"; did you mean {(prefix + '.' if prefix else '') + close[0]!s}?"
                if close
                else (f"; known keys here: {', '.join(sorted(fields))}")
            )
            raise ConfigError(f"unknown key{hint}", path=path, key=key)
    kwargs: dict[str, Any] = {}
    for name, f in fields.items():
        key = f"{prefix}.{name}" if prefix else name
        tp = _unwrap_optional(hints[name])
        if name not in table:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise ConfigError(
                    f"missing required value ({_type_name(tp)}: {f.metadata.get('doc', '')})",
                    path=path,
                    key=key,
                )
            continue
        value = table[name]
        if dataclasses.is_dataclass(tp):
            kwargs[name] = _build(tp, value, key, path, env)
        elif typing.get_origin(tp) is tuple:
            inner = typing.get_args(tp)[0]
            if not isinstance(value, list):
                raise ConfigError(f"expected {_type_name(tp)}, got {value!r}", path=path, key=key)
            items = typing.cast("list[object]", value)
            if dataclasses.is_dataclass(inner):
                kwargs[name] = tuple(
                    _build(inner, v, f"{key}[{i}]", path, env) for i, v in enumerate(items)
                )
            else:
                kwargs[name] = tuple(
                    _check_scalar(v, inner, f"{key}[{i}]", path, f.metadata, env)
                    for i, v in enumerate(items)
                )
        else:
            kwargs[name] = _check_scalar(value, tp, key, path, dict(f.metadata), env)
    return cls(**kwargs)


def _check_memory_cap(text: str, path: str) -> None:
    from cockpit.quantity import QuantityError, memory_bytes

    try:
        memory_bytes(text)
    except QuantityError as exc:
        raise ConfigError(str(exc), path=path, key="actions.max_memory_limit") from None


def _cross_checks(cfg: Config, path: str) -> None:
    t = cfg.thresholds
    if t.connection_warning_percent > t.connection_critical_percent:
        raise ConfigError(
            "must not be above thresholds.connection_critical_percent",
            path=path,
            key="thresholds.connection_warning_percent",
        )
    if t.disk_percent > t.disk_critical_percent:
        raise ConfigError(
            "must not be above thresholds.disk_critical_percent",
            path=path,
            key="thresholds.disk_percent",
        )
    if t.cert_critical_days > t.cert_warning_days:
        raise ConfigError(
            "must not be above thresholds.cert_warning_days",
            path=path,
            key="thresholds.cert_critical_days",
        )
    if cfg.actions.scale_min_replicas > cfg.actions.scale_max_replicas:
        raise ConfigError(
            "must not be above actions.scale_max_replicas",
            path=path,
            key="actions.scale_min_replicas",
        )
    _check_memory_cap(cfg.actions.max_memory_limit, path)
    if cfg.api is not None and not re.match(r"^https?://[^/\s]+", cfg.api.base_url):
        raise ConfigError(
            f"expected an http:// or https:// URL, got {cfg.api.base_url!r}",
            path=path,
            key="api.base_url",
        )
    if cfg.prometheus is not None and not re.match(r"^https?://[^/\s]+", cfg.prometheus.url):
        raise ConfigError(
            f"expected an http:// or https:// URL, got {cfg.prometheus.url!r}",
            path=path,
            key="prometheus.url",
        )
    if cfg.paging is not None:
        _check_paging(cfg.paging, path)
    if cfg.api is not None and cfg.api.metrics.scrape == "pods" and cfg.kubernetes is None:
        raise ConfigError(
            '"pods" scrapes through the Kubernetes API: add a [kubernetes] section, '
            'or set scrape = "url"',
            path=path,
            key="api.metrics.scrape",
        )


def _check_paging(paging: PagingConfig, path: str) -> None:
    if not paging.routing_key and not paging.webhook_url:
        raise ConfigError(
            "nothing to page: set routing_key (PagerDuty, use ${PAGERDUTY_ROUTING_KEY}) or "
            "webhook_url, or leave out the [paging] section",
            path=path,
            key="paging.routing_key",
        )
    urls = [("events_url", paging.events_url)]
    if paging.webhook_url:
        urls.append(("webhook_url", paging.webhook_url))
    for name, url in urls:
        if not re.match(r"^https?://[^/\s]+", url):
            shown = mask_dsn(url) if name == "events_url" else "(masked)"
            raise ConfigError(
                f"expected an http:// or https:// URL, got {shown}", path=path, key=f"paging.{name}"
            )


def parse_config(
    data: dict[str, Any], *, path: str = "<config>", env: typing.Mapping[str, str] | None = None
) -> Config:
    """Validate a parsed TOML document into a Config. Raises ConfigError."""
    cfg = _build(Config, data, "", path, os.environ if env is None else env)
    cfg = dataclasses.replace(cfg, source_path=path)
    _cross_checks(cfg, path)
    return cfg


def _read_utf8(p: Path) -> str:
    """The file's text; a file that is not UTF-8 is a ConfigError naming the first bad byte."""
    data = p.read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"not UTF-8 text: byte offset {exc.start} (0x{data[exc.start]:02x}) "
            f"is {exc.reason}; save the file as UTF-8",
            path=str(p),
        ) from None


def load_config(path: str | Path, *, env: typing.Mapping[str, str] | None = None) -> Config:
    """Read and validate one config file. Raises ConfigError naming the file."""
    p = Path(path).expanduser()
    try:
        text = _read_utf8(p)
    except FileNotFoundError:
        raise ConfigError(
            "file not found; create one with `cockpit init` or pass --config PATH", path=str(p)
        ) from None
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror or exc}", path=str(p)) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"not valid TOML: {exc}", path=str(p)) from None
    return parse_config(data, path=str(p), env=env)


def load_data_file(
    path: str | Path | None, builtin: str, what: str, key: str
) -> tuple[dict[str, Any], str]:
    """A data file teams may replace (runbook, checklists): the built-in `cockpit/data/<builtin>`
    when `path` is empty, else theirs. Returns (document, source name for errors)."""
    if not path:
        from importlib import resources

        text = resources.files("cockpit").joinpath(f"data/{builtin}").read_text(encoding="utf-8")
        source = f"built-in {what}"
    else:
        p = Path(path).expanduser()
        source = str(p)
        try:
            text = _read_utf8(p)
        except OSError as exc:
            raise ConfigError(
                f"cannot read {what}: {exc.strerror or exc}", path=source, key=key
            ) from None
    try:
        return tomllib.loads(text), source
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"not valid TOML: {exc}", path=source) from None


def default_config_path() -> Path:
    """The XDG config location: ~/.config/predictiq-cockpit/config.toml."""
    from platformdirs import user_config_path

    return user_config_path(APP_NAME) / "config.toml"


def default_state_dir() -> Path:
    """The XDG state dir (audit log lives here unless configured)."""
    from platformdirs import user_state_path

    return user_state_path(APP_NAME)


def find_config_path(explicit: str | None, env: typing.Mapping[str, str] | None = None) -> Path:
    """--config PATH, then $COCKPIT_CONFIG, then the XDG config dir."""
    env = os.environ if env is None else env
    if explicit:
        return Path(explicit).expanduser()
    if env.get("COCKPIT_CONFIG"):
        return Path(env["COCKPIT_CONFIG"]).expanduser()
    return default_config_path()


def audit_path(cfg: Config) -> Path:
    """The audit log path: configured, or audit.jsonl in the XDG state dir."""
    return (
        Path(cfg.audit.path).expanduser() if cfg.audit.path else default_state_dir() / "audit.jsonl"
    )


def log_path(cfg: Config) -> Path:
    """The cockpit's log file: configured, or cockpit.log in the XDG state dir."""
    return (
        Path(cfg.logging.path).expanduser()
        if cfg.logging.path
        else default_state_dir() / "cockpit.log"
    )


def mask_dsn(url: str) -> str:
    """A DSN/URL with its password replaced by ***: safe to print or log."""
    url = re.sub(r"(://[^:/@\s]*:)([^@\s]*)(@)", r"\1***\3", url)
    return re.sub(r"(password\s*=\s*)('[^']*'|\S+)", r"\1***", url, flags=re.IGNORECASE)


def masked(cfg: Config) -> dict[str, Any]:
    """The resolved config as plain data with every secret masked (for check-config)."""

    def walk(obj: object) -> object:
        if dataclasses.is_dataclass(obj):
            out: dict[str, object] = {}
            for f in dataclasses.fields(obj):
                if f.name in _NOT_KEYS:
                    continue
                v = getattr(obj, f.name)
                if v is None:
                    continue
                if f.metadata.get("secret") and isinstance(v, str) and v:
                    v = mask_dsn(v) if "://" in v or "=" in v else "***"
                out[f.name] = walk(v)
            return out
        if isinstance(obj, tuple):
            return [walk(v) for v in typing.cast("tuple[object, ...]", obj)]
        return obj

    return typing.cast("dict[str, Any]", walk(cfg))


def starter_toml() -> dict[str, Any]:
    """The document `cockpit init` writes: every section with its runbook defaults."""
    return {
        "read_only": False,
        "kubernetes": _defaults(KubernetesConfig),
        "database": {"url": "${DATABASE_URL}"},
        "cache": {"url": "${REDIS_URL}"},
        "api": {
            "base_url": "https://api.predictiq.com",
            "health_path": "/health",
            "metrics_path": "/metrics",
            "warm_path": "/api/admin/cache/warm",
            "token": "${PREDICTIQ_ADMIN_TOKEN}",
        },
        "certificates": [{"host": "predictiq.com", "port": 443}],
        "refresh": _defaults(RefreshConfig),
        "thresholds": _defaults(ThresholdsConfig),
        "severity": _defaults(SeverityConfig),
        "incidents": _defaults(IncidentsConfig),
        "actions": _defaults(ActionsConfig),
        "audit": _defaults(AuditConfig),
    }


def _defaults(cls: type) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if f.default is not dataclasses.MISSING:
            v: object = f.default
            out[f.name] = list(typing.cast("tuple[object, ...]", v)) if isinstance(v, tuple) else v
    return out
