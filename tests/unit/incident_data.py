"""Real snapshot objects for the incident tests: frozen model data, built as a source would."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from cockpit.models import (
    ApiStatus,
    CacheStats,
    CertificatesSnapshot,
    CertState,
    CertStatus,
    ContainerInfo,
    DbActivity,
    DbConnection,
    DeploymentInfo,
    KubeSnapshot,
    NodeInfo,
    PodInfo,
    SourceFailure,
    StatementStat,
)

T0 = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
GIB = 1024**3


def conn(
    pid: int,
    state: str,
    *,
    query_seconds: float | None = None,
    idle_seconds: float | None = None,
    query: str = "SELECT 1",
) -> DbConnection:
    """One pg_stat_activity row."""
    return DbConnection(
        pid=pid,
        user="predictiq",
        application="api",
        client_addr="10.0.0.5",
        database="predictiq",
        state=state,
        query=query,
        backend_start=T0,
        query_start=T0,
        state_change=T0,
        query_seconds=query_seconds,
        idle_seconds=idle_seconds,
    )


def db(
    active: int = 3,
    idle: int = 5,
    idle_old: int = 0,
    *,
    max_connections: int = 100,
    longest_seconds: float | None = None,
    mean_ms: float | None = None,
    version_num: int = 150004,
) -> DbActivity:
    """A database sample: `idle_old` of the idle connections are idle longer than 10 minutes;
    the cockpit's own backend is excluded from total (usage counts it back in)."""
    conns = [conn(1000 + i, "active", query_seconds=0.01) for i in range(active)]
    if longest_seconds is not None and conns:
        conns[0] = conn(
            4242,
            "active",
            query_seconds=longest_seconds,
            query="SELECT * FROM bets WHERE market_id = $1",
        )
    conns += [
        conn(2000 + i, "idle", idle_seconds=900.0 if i < idle_old else 30.0) for i in range(idle)
    ]
    longest = tuple(
        sorted(
            (c for c in conns if c.state != "idle"),
            key=lambda c: c.query_seconds or 0.0,
            reverse=True,
        )
    )
    stats = (
        ()
        if mean_ms is None
        else (
            StatementStat(
                queryid=7,
                query="SELECT * FROM markets ORDER BY volume",
                calls=40,
                total_ms=mean_ms * 40,
                mean_ms=mean_ms,
                rows=400,
            ),
        )
    )
    return DbActivity(
        collected_at=T0,
        database="predictiq",
        server_version="15.4",
        server_version_num=version_num,
        uptime_seconds=3600.0,
        max_connections=max_connections,
        reserved_connections=3,
        total=len(conns),
        by_state={"active": active, "idle": idle},
        by_user={"predictiq": len(conns)},
        by_application={"api": len(conns)},
        by_client={"10.0.0.5": len(conns)},
        connections=tuple(conns),
        idle_threshold_seconds=600.0,
        idle_over_threshold=tuple(c for c in conns if (c.idle_seconds or 0) > 600),
        longest_queries=longest,
        lock_waits=(),
        top_by_mean=stats,
        top_by_total=stats,
    )


def cache(hits: int, misses: int) -> CacheStats:
    """A Redis sample with `hits`/`misses` over a 2 s interval."""
    total = hits + misses
    return CacheStats(
        collected_at=T0,
        redis_version="7.2.4",
        role="master",
        uptime_seconds=3600,
        hit_rate_interval=(hits / total) if total else None,
        hit_rate_total=0.9,
        hits_interval=hits,
        misses_interval=misses,
        interval_seconds=2.0,
        ops_per_sec=50.0,
        evicted_per_sec=0.0,
        used_memory=10 * 1024 * 1024,
        maxmemory=0,
        mem_fragmentation_ratio=1.1,
        connected_clients=5,
        blocked_clients=0,
        maxclients=10000,
        rejected_connections=0,
        evicted_keys=0,
        keyspace={"db0": 120},
    )


def certs(*days_left: float, status: CertState | None = None) -> CertificatesSnapshot:
    """One endpoint per value of days_left (host certN.predictiq.test)."""
    out = []
    for i, days in enumerate(days_left):
        st = status or (
            CertState.EXPIRED if days <= 0 else CertState.EXPIRING if days <= 30 else CertState.OK
        )
        out.append(
            CertStatus(
                host=f"cert{i}.predictiq.test",
                port=443,
                server_name=f"cert{i}.predictiq.test",
                status=st,
                not_after=T0 + timedelta(days=days),
                days_left=days,
                issuer="CN=PredictIQ Test CA",
                chain_verified=True,
                hostname_matches=True,
            )
        )
    return CertificatesSnapshot(collected_at=T0, certificates=tuple(out))


def api(ok: bool = True, *, latency_ms: float = 40.0, rate_429: float = 0.0) -> ApiStatus:
    """An API sample: /health answer, latency and the 429 rate."""
    return ApiStatus(
        collected_at=T0,
        base_url="http://api.predictiq.test",
        health_ok=ok,
        health_status_code=200 if ok else 503,
        health_latency_ms=latency_ms,
        health_summary="ok" if ok else "database: down",
        health_error=None if ok else "HTTP 503",
        metrics_ok=True,
        request_rate=100.0,
        rate_429=rate_429,
        rate_limited_rate=rate_429,
        error_ratio=0.0,
    )


def pod(
    i: int,
    *,
    cpu_m: float = 200.0,
    mem_gib: float = 0.5,
    reason: str = "",
    last_state: str = "",
    ready: bool = True,
    node: str = "node-a",
    finished_at: datetime | None = None,
) -> PodInfo:
    """One API pod with a 1000m CPU and 1 GiB memory limit."""
    c = ContainerInfo(
        name="api",
        ready=ready,
        restart_count=1 if last_state else 0,
        state="running" if ready else "waiting",
        reason=reason,
        last_state_reason=last_state,
        last_finished_at=finished_at,
        cpu_limit_m=1000.0,
        memory_limit=GIB,
    )
    return PodInfo(
        uid=f"uid-{i}",
        name=f"predictiq-api-{i}",
        namespace="predictiq",
        phase="Running",
        ready=1 if ready else 0,
        total=1,
        restarts=c.restart_count,
        reason=reason or last_state,
        node=node,
        created_at=T0,
        containers=(c,),
        cpu_m=cpu_m,
        memory_bytes=int(mem_gib * GIB),
        cpu_limit_m=1000.0,
        memory_limit=GIB,
    )


def kube(
    pods: tuple[PodInfo, ...] | None = None,
    *,
    desired: int = 3,
    disk_pressure: tuple[str, ...] = (),
) -> KubeSnapshot:
    """The deployment with its pods (three healthy ones by default) and nodes a, b."""
    pods = tuple(pod(i) for i in range(3)) if pods is None else pods
    ready = sum(1 for p in pods if p.ready == p.total)
    dep = DeploymentInfo(
        name="predictiq-api",
        namespace="predictiq",
        desired=desired,
        updated=desired,
        ready=ready,
        available=ready,
        paused=False,
        rollout="complete",
    )
    nodes = tuple(
        NodeInfo(name=n, ready=True, disk_pressure=n in disk_pressure, memory_pressure=False)
        for n in ("node-a", "node-b")
    )
    return KubeSnapshot(
        collected_at=T0,
        context="lab",
        cluster="lab",
        namespace="predictiq",
        selector="app=predictiq-api",
        deployment=dep,
        pods=pods,
        nodes=nodes,
    )


def failure(
    source: str, what: str = "connect", reason: str = "connection refused"
) -> SourceFailure:
    """A source that did not answer."""
    return SourceFailure(source=source, what=what, reason=reason, at=T0)
