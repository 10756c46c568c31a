"""Detection: one pure rule per runbook failure, over the cockpit's state.

A rule is `(state, cfg, now) -> list[Finding]`. It reads only snapshots (no I/O) and returns what
breaches *now*; hysteresis, lifecycle and clocks live in the engine. Evidence holds live numbers
under stable names: the runbook's diagnosis templates (cockpit/data/runbook.toml) use them.

Rules whose data comes from a failing source return nothing: the engine then holds the incident
as it was (see `RuleSpec.data_sources`), because stale data proves neither breach nor health.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from cockpit.config import Config
from cockpit.incidents import api_pods
from cockpit.incidents.api_pods import carrying_pods
from cockpit.incidents.pod_index import pod_index
from cockpit.incidents.severity import severity_rank
from cockpit.models import (
    ApiStatus,
    CacheStats,
    CertificatesSnapshot,
    CertState,
    DbActivity,
    KubeSnapshot,
    PodInfo,
    Snapshot,
    VolumeUsage,
)
from cockpit.state import CockpitState

S = TypeVar("S", bound=Snapshot)

# a container whose last termination was an OOM kill counts for this long after it restarted:
# Kubernetes keeps lastState until the next termination, which could be days later
OOM_RECENT_SECONDS = 600.0


@dataclass(frozen=True)
class Finding:
    """One breach seen in one evaluation: what, how bad, and the numbers that prove it."""

    rule: str  # rule id, also the runbook entry id
    key: str  # rule + target ("certificate:api.predictiq.com:443"): one incident per key
    severity: str  # "P1".."P4"
    title: str  # stable for a key (numbers go in evidence)
    evidence: Mapping[str, Any] = field(default_factory=dict[str, Any])
    impact: str = ""
    affected: tuple[str, ...] = ()


def _usable(state: CockpitState, source: str, kind: type[S]) -> S | None:
    """The source's latest snapshot, or None while it is failing (stale) or never answered."""
    if state.failure(source):
        return None
    snap = state.latest(source)
    return snap if isinstance(snap, kind) else None


def _failure_evidence(state: CockpitState, source: str, now: datetime) -> dict[str, Any]:
    f = state.failure(source)
    assert f is not None
    return {
        "what": f.what,
        "reason": f.reason,
        "since": f.first_seen.isoformat(),
        "down_seconds": round(max((now - f.first_seen).total_seconds(), 0.0), 1),
    }


def api_down(state: CockpitState, cfg: Config, now: datetime) -> list[Finding]:
    """P1: /health unreachable or failing, or the deployment wants pods and none is ready."""
    ev: dict[str, Any] = {}
    if state.failure("api"):
        ev.update(_failure_evidence(state, "api", now))
    elif (api := state.api) is not None and not api.health_ok:
        ev.update(
            what="GET /health",
            reason=api.health_error or api.health_summary,
            status_code=api.health_status_code,
        )
    kube = _usable(state, "kubernetes", KubeSnapshot)
    if kube and kube.deployment and kube.deployment.desired > 0 and kube.ready_pods == 0:
        ev.update(ready_pods=0, desired=kube.deployment.desired, deployment=kube.deployment.name)
        ev.setdefault("reason", f"0 of {kube.deployment.desired} pods ready")
    if not ev:
        return []
    return [
        Finding(
            "api_down",
            "api_down",
            "P1",
            "API down",
            ev,
            "Users cannot reach PredictIQ: every request fails.",
            ("API",),
        )
    ]


def database_unreachable(state: CockpitState, cfg: Config, now: datetime) -> list[Finding]:
    """P1: the PostgreSQL source cannot connect or query."""
    if not state.failure("database"):
        return []
    return [
        Finding(
            "database_unreachable",
            "database_unreachable",
            "P1",
            "Database unreachable",
            _failure_evidence(state, "database", now),
            "Anything that reads or writes data fails.",
            ("PostgreSQL", "API"),
        )
    ]


def connection_exhaustion(state: CockpitState, cfg: Config, now: datetime) -> list[Finding]:
    """P1 at ≥ critical %, P2 at ≥ warning % of max_connections."""
    db = _usable(state, "database", DbActivity)
    if db is None:
        return []
    t = cfg.thresholds
    usage = db.usage_percent
    if usage >= t.connection_critical_percent:
        severity = "P1"
    elif usage >= t.connection_warning_percent:
        severity = "P2"
    else:
        return []
    longest = db.longest_queries[0] if db.longest_queries else None
    by_user = db.by_user
    ev: dict[str, Any] = {
        "total": db.total + 1,  # the cockpit's own backend uses a slot too
        "max_connections": db.max_connections,
        "usage_percent": round(usage, 1),
        "by_state": dict(db.by_state),
        "idle": int(db.by_state.get("idle", 0)),
        "idle_in_transaction": int(db.by_state.get("idle in transaction", 0)),
        "active": int(db.by_state.get("active", 0)),
        "idle_over_threshold": db.idle_over_count,
        "idle_threshold_minutes": round(db.idle_threshold_seconds / 60.0, 1),
        "longest_query_seconds": round(longest.query_seconds or 0.0, 1) if longest else None,
        "longest_query_pid": longest.pid if longest else None,
        "top_user": max(by_user, key=lambda user: by_user[user]) if by_user else None,
    }
    return [
        Finding(
            "connection_exhaustion",
            "connection_exhaustion",
            severity,
            "Database connection exhaustion",
            ev,
            "New database connections are refused ('too many connections'); "
            "API requests fail with 503.",
            ("PostgreSQL", "API"),
        )
    ]


def _recent_oom(last_finished: datetime | None, now: datetime) -> bool:
    return last_finished is None or (now - last_finished).total_seconds() <= OOM_RECENT_SECONDS


def oom(state: CockpitState, cfg: Config, now: datetime) -> list[Finding]:
    """P2: a pod OOMKilled recently or in CrashLoopBackOff; P3: memory ≥ threshold of limit."""
    kube = _usable(state, "kubernetes", KubeSnapshot)
    if kube is None:
        return []
    index = pod_index(kube)
    crashing = list(index.crashing)
    # the pod's summary reason may come from an old lastState: trust containers when known
    oom_killed = [
        pod.name
        for pod in index.oom_candidates
        if (
            any(
                c.reason == "OOMKilled"
                or (c.last_state_reason == "OOMKilled" and _recent_oom(c.last_finished_at, now))
                for c in pod.containers
            )
            if pod.containers
            else pod.reason == "OOMKilled"
        )
    ]
    high = [
        (name, round(pct, 1))
        for name, pct in itertools.takewhile(
            lambda item: item[1] >= cfg.thresholds.memory_percent, index.by_memory
        )
    ]
    if not (crashing or oom_killed or high):
        return []
    severity = "P2" if crashing or oom_killed else "P3"
    ev = {
        "crash_looping": crashing,
        "oom_killed": oom_killed,
        "high_memory": [f"{n} {p} %" for n, p in high],
        "max_memory_percent": max((p for _, p in high), default=None),
        "memory_threshold_percent": cfg.thresholds.memory_percent,
        "pods": len(kube.pods),
        "restarts": index.restarts,
    }
    return [
        Finding(
            "oom",
            "oom",
            severity,
            "Out of memory (OOM)",
            ev,
            "Pods restart and drop in-flight requests; capacity shrinks.",
            ("API pods",),
        )
    ]


def deployment_cpu_percent(kube: KubeSnapshot) -> float | None:
    """Sum of CPU used over sum of CPU limits across the pods that report both, in %."""
    index = pod_index(kube)
    return 100.0 * index.cpu_used_m / index.cpu_limit_m if index.cpu_limit_m else None


def high_cpu(state: CockpitState, cfg: Config, now: datetime) -> list[Finding]:
    """P3 at ≥ cpu_percent deployment-wide; P2 when /health latency is also above its threshold."""
    kube = _usable(state, "kubernetes", KubeSnapshot)
    if kube is None:
        return []
    pct = deployment_cpu_percent(kube)
    if pct is None or pct < cfg.thresholds.cpu_percent:
        return []
    api = _usable(state, "api", ApiStatus)
    latency = api.health_latency_ms if api else None
    degraded = latency is not None and latency > cfg.thresholds.health_latency_ms
    hottest = pod_index(kube).hottest
    ev = {
        "cpu_percent": round(pct, 1),
        "cpu_threshold_percent": cfg.thresholds.cpu_percent,
        "health_latency_ms": None if latency is None else round(latency, 1),
        "latency_threshold_ms": cfg.thresholds.health_latency_ms,
        "latency_degraded": degraded,
        "replicas": len(kube.pods),
        "hottest_pod": hottest.name if hottest else None,
        "hottest_pod_percent": round(hottest.cpu_percent_of_limit or 0.0, 1) if hottest else None,
    }
    return [
        Finding(
            "high_cpu",
            "high_cpu",
            "P2" if degraded else "P3",
            "High CPU usage",
            ev,
            "API responses slow down" + (" (/health is slow)." if degraded else "."),
            ("API pods",),
        )
    ]


def _lock_root(db: Any) -> dict[str, Any]:
    """When sessions wait on locks: the root blocker holding up the most of them (the blocking
    tree's first root), so the incident names who to look at, not only who waits."""
    from cockpit.sources.postgres.locks import lock_tree

    trees = lock_tree(db.lock_sessions)
    if not trees:
        return {}
    root = trees[0].session
    how_long = root.idle_seconds if root.state.startswith("idle") else root.query_seconds
    return {
        "lock_waiting": sum(1 for c in db.lock_sessions if c.blocked_by),
        "lock_root_pid": root.pid,
        "lock_root_state": root.state,
        "lock_root_seconds": round(how_long or 0.0, 1),
        "lock_root_query": root.query[:120],
        "lock_root_waiting_behind": trees[0].behind,
    }


def slow_queries(state: CockpitState, cfg: Config, now: datetime) -> list[Finding]:
    """P3: a query running longer than slow_query_seconds, or a statement whose mean is above it."""
    db = _usable(state, "database", DbActivity)
    if db is None:
        return []
    limit = cfg.thresholds.slow_query_seconds
    running = [c for c in db.longest_queries if (c.query_seconds or 0.0) > limit]
    statements = [s for s in db.top_by_mean if s.mean_ms > limit * 1000.0]
    if not running and not statements:
        return []
    worst = running[0] if running else None
    stmt = max(statements, key=lambda s: s.mean_ms) if statements else None
    ev = {
        "threshold_seconds": limit,
        "running_over_threshold": len(running),
        "longest_query_seconds": round(worst.query_seconds or 0.0, 1) if worst else None,
        "longest_query_pid": worst.pid if worst else None,
        "longest_query": (worst.query[:120] if worst else None),
        "slow_statements": len(statements),
        "worst_mean_ms": round(stmt.mean_ms, 1) if stmt else None,
        "worst_statement": stmt.query[:120] if stmt else None,
        "server_version_num": db.server_version_num,
    }
    ev.update(_lock_root(db))
    return [
        Finding(
            "slow_queries",
            "slow_queries",
            "P3",
            "Slow queries",
            ev,
            "Some API requests are slow; the database is busy.",
            ("PostgreSQL", "API"),
        )
    ]


def rate_limit(state: CockpitState, cfg: Config, now: datetime) -> list[Finding]:
    """P3: 429 responses (or the rate-limit rejection counter) per second above the threshold."""
    api = _usable(state, "api", ApiStatus)
    if api is None:
        return []
    rates = [r for r in (api.rate_429, api.rate_limited_rate) if r is not None]
    rate = max(rates, default=None)
    if rate is None or rate <= cfg.thresholds.rate_limited_per_second:
        return []
    ev: dict[str, Any] = {
        "rate_429_per_second": None if api.rate_429 is None else round(api.rate_429, 2),
        "rate_limited_per_second": round(rate, 2),
        "threshold_per_second": cfg.thresholds.rate_limited_per_second,
        "request_rate": None if api.request_rate is None else round(api.request_rate, 2),
    }
    pods = carrying_pods(api, lambda p: p.rate_429)  # [] unless scrape = "pods"
    if pods:
        ev["pods_with_most_429"] = pods
    return [
        Finding(
            "rate_limit",
            "rate_limit",
            "P3",
            "Rate-limit errors",
            ev,
            "Some users get 429 Too Many Requests.",
            ("API", *pods),
        )
    ]


def api_errors(state: CockpitState, cfg: Config, now: datetime) -> list[Finding]:
    """P2: the 5xx share of requests above thresholds.error_ratio (the pods carrying most of it
    named when the API is scraped per pod)."""
    api = _usable(state, "api", ApiStatus)
    found = api_pods.api_errors(api, cfg.thresholds.error_ratio) if api is not None else None
    if found is None:
        return []
    ev, pods = found
    return [
        Finding(
            "api_errors",
            "api_errors",
            "P2",
            "API errors (5xx)",
            ev,
            "Some requests fail with a server error.",
            ("API", *pods),
        )
    ]


def cache_miss_storm(state: CockpitState, cfg: Config, now: datetime) -> list[Finding]:
    """P2: hit rate over the last interval below cache_hit_rate (with lookups in that interval)."""
    cache = _usable(state, "cache", CacheStats)
    if cache is None or cache.hit_rate_interval is None:
        return []
    lookups = None
    if cache.hits_interval is not None and cache.misses_interval is not None:
        lookups = cache.hits_interval + cache.misses_interval
        if lookups == 0:
            return []  # no traffic is not a storm
    if cache.hit_rate_interval >= cfg.thresholds.cache_hit_rate:
        return []
    ev = {
        "hit_rate_percent": round(100.0 * cache.hit_rate_interval, 1),
        "threshold_percent": round(100.0 * cfg.thresholds.cache_hit_rate, 1),
        "hits": cache.hits_interval,
        "misses": cache.misses_interval,
        "lookups": lookups,
        "interval_seconds": cache.interval_seconds,
        "keys": sum(cache.keyspace.values()),
        "evicted_per_sec": cache.evicted_per_sec,
    }
    return [
        Finding(
            "cache_miss_storm",
            "cache_miss_storm",
            "P2",
            "Cache miss storm",
            ev,
            "Requests fall through to the database: latency and database CPU rise.",
            ("Redis", "PostgreSQL", "API"),
        )
    ]


def redis_unreachable(state: CockpitState, cfg: Config, now: datetime) -> list[Finding]:
    """P2: the Redis source cannot connect or read INFO."""
    if not state.failure("cache"):
        return []
    return [
        Finding(
            "redis_unreachable",
            "redis_unreachable",
            "P2",
            "Redis unreachable",
            _failure_evidence(state, "cache", now),
            "Every request goes to the database; latency rises.",
            ("Redis", "API"),
        )
    ]


def certificate(state: CockpitState, cfg: Config, now: datetime) -> list[Finding]:
    """Per endpoint: P1 expired, P2 within cert_critical_days, P4 within cert_warning_days."""
    certs = _usable(state, "certificates", CertificatesSnapshot)
    if certs is None:
        return []
    out: list[Finding] = []
    t = cfg.thresholds
    for c in certs.certificates:
        if c.status == CertState.ERROR or (c.days_left is None and c.status != CertState.EXPIRED):
            continue  # nothing was read: the endpoint itself is down, not the certificate
        days = c.days_left if c.days_left is not None else 0.0
        if c.status == CertState.EXPIRED or days <= 0:
            severity, title = "P1", f"Certificate expired: {c.host}"
        elif days <= t.cert_critical_days:
            severity, title = "P2", f"Certificate expiring: {c.host}"
        elif days <= t.cert_warning_days:
            severity, title = "P4", f"Certificate expiring: {c.host}"
        else:
            continue
        ev = {
            "host": c.host,
            "port": c.port,
            "days_left": round(days, 1),
            "not_after": c.not_after.isoformat() if c.not_after else None,
            "issuer": c.issuer,
            "status": str(c.status),
        }
        impact = (
            f"Clients reaching {c.host} get TLS errors now: it expired {_days_ago(-days)}."
            if severity == "P1"
            else (
                f"Clients reaching {c.host} will get TLS errors once it expires in {days:.0f} days."
            )
        )
        out.append(
            Finding(
                "certificate",
                f"certificate:{c.host}:{c.port}",
                severity,
                title,
                ev,
                impact,
                (f"{c.host}:{c.port}",),
            )
        )
    return out


def _days_ago(days: float) -> str:
    """'10 days ago', '1 day ago', 'today' for a certificate that expired."""
    n = int(days)
    return "today" if n < 1 else f"{n} day{'s' if n != 1 else ''} ago"


def _full_volumes(kube: KubeSnapshot, threshold: float) -> list[tuple[PodInfo, VolumeUsage, float]]:
    """(pod, volume, %) of every volume or ephemeral storage at or over `threshold`, fullest
    first (a pod on a node that could not be read counts with the figures read before)."""
    found = [
        (pod, volume, pct)
        for pod in kube.pods
        if pod.disk is not None
        for volume in pod.disk.volumes
        if (pct := volume.percent) is not None and pct >= threshold
    ]
    return sorted(found, key=lambda item: (-item[2], item[0].name, item[1].name))


def _volume_line(pod: PodInfo, volume: VolumeUsage, pct: float) -> str:
    """'predictiq-api-7d9f-x2 data 91 % (9.1Gi free of 10.0Gi)': the pod's name first (the
    log evidence takes the first word as the pod)."""
    free, capacity = volume.available_bytes, volume.capacity_bytes
    figures = f" ({_gib(free)} free of {_gib(capacity)})" if free is not None else ""
    return f"{pod.name} {volume.name} {pct:.0f} %{figures}"


def _gib(n: int | None) -> str:
    return "?" if n is None else f"{n / 1024**3:.1f}Gi"


def disk(state: CockpitState, cfg: Config, now: datetime) -> list[Finding]:
    """P2: DiskPressure on a node running the deployment's pods, or a pod's volume (or ephemeral
    storage) at ≥ disk_critical_percent; P3: one at ≥ disk_percent — before the node is under
    DiskPressure and evicting. One incident: the worst of them sets the severity."""
    kube = _usable(state, "kubernetes", KubeSnapshot)
    if kube is None:
        return []
    t = cfg.thresholds
    pod_nodes = pod_index(kube).nodes
    nodes = [
        n.name for n in kube.nodes if n.disk_pressure and (not pod_nodes or n.name in pod_nodes)
    ]
    full = _full_volumes(kube, t.disk_percent)
    if not nodes and not full:
        return []
    critical = bool(full) and full[0][2] >= t.disk_critical_percent
    status = kube.disk
    ev: dict[str, Any] = {}
    if full:  # a volume filling up: which pod, which volume, how full
        pod, volume, pct = full[0]
        ev.update(
            volumes_over=[_volume_line(*item) for item in full],
            volume_pods=sorted({item[0].name for item in full}),
            worst_pod=pod.name,
            worst_volume=volume.name,
            worst_pvc=volume.pvc or None,
            worst_node=pod.node,
            worst_percent=round(pct, 1),
            disk_threshold_percent=t.disk_percent,
            disk_critical_percent=t.disk_critical_percent,
            disk_read_at=status.read_at.isoformat() if status and status.read_at else None,
            unread_nodes=sorted(status.nodes_failed) if status else [],
        )
    if nodes:  # the node itself is full: the kubelet is evicting
        pods = [p.name for p in kube.pods if p.node in nodes]
        ev.update(nodes=nodes, node_count=len(nodes), pods_on_nodes=pods, pod_count=len(pods))
        title, impact = "Disk pressure", "Writes fail and pods may be evicted from the nodes."
        affected: tuple[str, ...] = ("nodes", "API pods")
    else:
        title, affected = "Disk filling up", ("API pods", *ev["volume_pods"])
        impact = (
            f"Writes to {ev['worst_volume']} of {ev['worst_pod']} fail once it is full "
            f"({ev['worst_percent']:.0f} % now); the node is not under DiskPressure yet."
        )
    return [
        Finding(
            "disk",
            "disk",
            "P2" if nodes or critical else "P3",
            title,
            ev,
            impact,
            affected,
        )
    ]


@dataclass(frozen=True)
class RuleSpec:
    """A rule and the sources it depends on.

    `sources`: a new sample from any of them counts as one evaluation for hysteresis.
    `data_sources`: while any of them is failing the rule is not counted (its data is stale).
    """

    rule: str
    check: Callable[[CockpitState, Config, datetime], list[Finding]]
    sources: tuple[str, ...]
    data_sources: tuple[str, ...]
    actions: tuple[str, ...]  # action ids that fix it


RULES: tuple[RuleSpec, ...] = (
    RuleSpec("api_down", api_down, ("api", "kubernetes"), (), ("restart", "scale")),
    RuleSpec("database_unreachable", database_unreachable, ("database",), (), ()),
    RuleSpec(
        "connection_exhaustion",
        connection_exhaustion,
        ("database",),
        ("database",),
        ("kill_idle", "terminate_query"),
    ),
    RuleSpec("oom", oom, ("kubernetes",), ("kubernetes",), ("restart", "scale")),
    RuleSpec("high_cpu", high_cpu, ("kubernetes",), ("kubernetes",), ("scale",)),
    RuleSpec(
        "slow_queries",
        slow_queries,
        ("database",),
        ("database",),
        ("cancel_query", "terminate_query"),
    ),
    RuleSpec("rate_limit", rate_limit, ("api",), ("api",), ("scale",)),
    RuleSpec("api_errors", api_errors, ("api",), ("api",), ("restart",)),
    RuleSpec("cache_miss_storm", cache_miss_storm, ("cache",), ("cache",), ("warm_cache",)),
    RuleSpec("redis_unreachable", redis_unreachable, ("cache",), (), ()),
    RuleSpec("certificate", certificate, ("certificates",), ("certificates",), ()),
    RuleSpec("disk", disk, ("kubernetes",), ("kubernetes",), ("restart",)),
)
RULES_BY_ID: dict[str, RuleSpec] = {r.rule: r for r in RULES}


def evaluate_rules(state: CockpitState, cfg: Config, now: datetime) -> list[Finding]:
    """Every rule's findings for this state, worst first."""
    found = [f for spec in RULES for f in spec.check(state, cfg, now)]
    return sorted(found, key=lambda f: (severity_rank(f.severity), f.key))
