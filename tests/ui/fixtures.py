"""Fixed snapshots, a frozen clock and our own Source implementations for UI tests.

`FixedSource` returns the same frozen snapshot on every collect; `HungSource` never answers
(it awaits an Event that is only set on close), like a backend whose network went silent.
They implement the Source protocol for real; nothing here patches a library.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from cockpit.config import (
    ApiConfig,
    CacheConfig,
    CertificateConfig,
    Config,
    DatabaseConfig,
    IncidentsConfig,
    KubernetesConfig,
    RefreshConfig,
)
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
    KubeEvent,
    KubeSnapshot,
    PodInfo,
    Snapshot,
    SourceFailure,
    StatementStat,
)

NOW = datetime(2025, 3, 14, 10, 42, 13, tzinfo=UTC)


def frozen_clock() -> datetime:
    """The tests' 'now'."""
    return NOW


def make_config(read_only: bool = False, context: str = "kind-prod-eu") -> Config:
    """A config with every section, pointing nowhere (sources are injected)."""
    return Config(
        read_only=read_only,
        kubernetes=KubernetesConfig(context=context, namespace="predictiq"),
        database=DatabaseConfig(url="postgresql://predictiq@db.invalid/predictiq"),
        cache=CacheConfig(url="redis://cache.invalid:6379/0"),
        api=ApiConfig(base_url="https://api.invalid"),
        certificates=(CertificateConfig(host="api.predictiq.example"),),
    )


def snapshot_config(read_only: bool = False) -> Config:
    """For screenshots: one poll per source (long intervals) and incidents that open on their
    first breaching sample, so the picture does not depend on timing."""
    return replace(
        make_config(read_only=read_only),
        refresh=RefreshConfig(interval_seconds=3600, certificates_seconds=3600),
        incidents=IncidentsConfig(open_after_samples=1),
    )


def _pod(
    i: int,
    *,
    reason: str = "",
    ready: int = 1,
    restarts: int = 0,
    cpu: float = 120.0,
    last: str = "",
) -> PodInfo:
    container = ContainerInfo(
        name="api",
        ready=bool(ready),
        restart_count=restarts,
        state="running" if not reason else "waiting",
        reason=reason,
        last_state_reason=last,
        last_exit_code=137 if last else None,
        last_finished_at=NOW - timedelta(minutes=3) if last else None,
        cpu_limit_m=500,
        memory_limit=512 * 2**20,
    )
    return PodInfo(
        uid=f"uid-{i:04d}",
        name=f"predictiq-api-7d9f8-{i:05d}",
        namespace="predictiq",
        phase="Running",
        ready=ready,
        total=1,
        restarts=restarts,
        reason=reason,
        node=f"node-{i % 3}",
        created_at=NOW - timedelta(hours=2, minutes=i),
        containers=(container,),
        cpu_m=cpu,
        memory_bytes=(200 + 10 * i) * 2**20,
        cpu_limit_m=500,
        memory_limit=512 * 2**20,
    )


def kube_snapshot() -> KubeSnapshot:
    """Five pods, one in CrashLoopBackOff after an OOM kill, with a warning event."""
    pods = tuple(_pod(i) for i in range(1, 5)) + (
        _pod(5, reason="CrashLoopBackOff", ready=0, restarts=7, cpu=0.0, last="OOMKilled"),
    )
    return KubeSnapshot(
        collected_at=NOW - timedelta(seconds=2),
        context="kind-prod-eu",
        cluster="kind-prod-eu",
        namespace="predictiq",
        selector="app=predictiq-api",
        deployment=DeploymentInfo(
            name="predictiq-api",
            namespace="predictiq",
            desired=5,
            updated=5,
            ready=4,
            available=4,
            paused=False,
            rollout="complete",
        ),
        pods=pods,
        events=(
            KubeEvent(
                "Warning",
                "BackOff",
                "Back-off restarting failed container api",
                "Pod",
                pods[-1].name,
                7,
                NOW - timedelta(seconds=30),
            ),
        ),
    )


def _conn(
    pid: int,
    state: str,
    seconds: float,
    query: str,
    user: str = "predictiq",
    blocked: tuple[int, ...] = (),
) -> DbConnection:
    idle = state.startswith("idle")
    return DbConnection(
        pid=pid,
        user=user,
        application="predictiq-api",
        client_addr="10.0.0.7",
        database="predictiq",
        state=state,
        query=query,
        backend_start=NOW - timedelta(hours=1),
        query_start=NOW - timedelta(seconds=seconds),
        state_change=NOW - timedelta(seconds=seconds),
        query_seconds=None if idle else seconds,
        idle_seconds=seconds if idle else None,
        wait_event_type="Lock" if blocked else None,
        wait_event="transactionid" if blocked else None,
        blocked_by=blocked,
    )


def db_snapshot() -> DbActivity:
    """Twelve connections: a slow report, a blocked update, idle ones over the threshold."""
    slow = _conn(
        4242,
        "active",
        754.0,
        "SELECT customer_id, sum(amount) FROM predictions "
        "JOIN invoices USING (customer_id) GROUP BY customer_id ORDER BY 2 DESC",
    )
    blocked = _conn(
        4243, "active", 42.0, "UPDATE models SET status = 'retired' WHERE id = 7", blocked=(4250,)
    )
    holder = _conn(4250, "idle in transaction", 60.0, "UPDATE models SET version = 3 WHERE id = 7")
    idle = tuple(_conn(4300 + i, "idle", 900.0 + 60 * i, "SELECT 1") for i in range(6))
    fresh = tuple(_conn(4400 + i, "idle", 5.0 + i, "COMMIT") for i in range(3))
    conns = (slow, blocked, holder) + idle + fresh
    return DbActivity(
        collected_at=NOW - timedelta(seconds=1),
        database="predictiq",
        server_version="15.6",
        server_version_num=150006,
        uptime_seconds=86400.0,
        max_connections=100,
        reserved_connections=3,
        total=len(conns),
        by_state={"active": 2, "idle": 9, "idle in transaction": 1},
        by_user={"predictiq": 12},
        by_application={"predictiq-api": 12},
        by_client={"10.0.0.7": 12},
        connections=conns,
        idle_threshold_seconds=600.0,
        idle_over_threshold=idle,
        longest_queries=(slow, blocked),
        lock_waits=(blocked,),
        top_by_mean=(
            StatementStat(
                1, "SELECT customer_id, sum(amount) FROM predictions ...", 40, 120000.0, 3000.0, 400
            ),
            StatementStat(2, "SELECT * FROM models WHERE id = $1", 90000, 900.0, 0.4, 90000),
        ),
    )


def cache_snapshot() -> CacheStats:
    """A cache with a falling hit rate."""
    return CacheStats(
        collected_at=NOW - timedelta(seconds=1),
        redis_version="7.2.4",
        role="master",
        uptime_seconds=172800,
        hit_rate_interval=0.62,
        hit_rate_total=0.91,
        hits_interval=620,
        misses_interval=380,
        interval_seconds=2.0,
        ops_per_sec=500.0,
        evicted_per_sec=0.0,
        used_memory=300 * 2**20,
        maxmemory=1024 * 2**20,
        mem_fragmentation_ratio=1.1,
        connected_clients=24,
        blocked_clients=0,
        maxclients=10000,
        rejected_connections=0,
        evicted_keys=0,
        keyspace={"db0": 12000},
    )


def certs_snapshot() -> CertificatesSnapshot:
    """Three endpoints: fine, expiring in 5 days, expired."""

    def cert(host: str, days: float, status: CertState) -> CertStatus:
        return CertStatus(
            host=host,
            port=443,
            server_name=host,
            status=status,
            not_before=NOW - timedelta(days=80),
            not_after=NOW + timedelta(days=days),
            days_left=days,
            subject=f"CN={host}",
            san=(host,),
            issuer="CN=PredictIQ Test CA",
            serial="0a1b2c",
            chain_verified=status != CertState.EXPIRED,
            hostname_matches=True,
            verify_error="certificate has expired" if days < 0 else None,
            chain=(f"CN={host}", "CN=PredictIQ Test CA"),
        )

    return CertificatesSnapshot(
        NOW - timedelta(seconds=40),
        (
            cert("api.predictiq.example", 61.0, CertState.OK),
            cert("app.predictiq.example", 5.0, CertState.EXPIRING),
            cert("old.predictiq.example", -2.0, CertState.EXPIRED),
        ),
    )


def api_snapshot() -> ApiStatus:
    """A healthy API with some 429s."""
    return ApiStatus(
        collected_at=NOW - timedelta(seconds=1),
        base_url="https://api.invalid",
        health_ok=True,
        health_status_code=200,
        health_latency_ms=38.0,
        health_summary="ok: database ok, cache ok",
        metrics_ok=True,
        request_rate=85.5,
        rate_by_class={"2xx": 80.0, "4xx": 5.0, "5xx": 0.5},
        rate_429=2.5,
        error_ratio=0.0058,
        latency_ms={"p50": 21.0, "p95": 140.0, "p99": 380.0},
    )


def fixed_snapshots() -> dict[str, Snapshot]:
    """One snapshot per source."""
    return {
        "kubernetes": kube_snapshot(),
        "database": db_snapshot(),
        "cache": cache_snapshot(),
        "certificates": certs_snapshot(),
        "api": api_snapshot(),
    }


@dataclass
class FixedSource:
    """A Source that returns the same result every time (and counts the calls)."""

    name: str
    result: Snapshot | SourceFailure
    calls: int = 0
    closed: bool = False

    async def collect(self) -> Snapshot | SourceFailure:
        self.calls += 1
        return self.result

    async def aclose(self) -> None:
        self.closed = True


class HungSource:
    """A Source whose collect never returns until it is closed: a silent backend."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.started = 0
        self._release = asyncio.Event()

    async def collect(self) -> Snapshot | SourceFailure:
        self.started += 1
        await self._release.wait()
        return SourceFailure(self.name, "collect", "released at close")

    async def aclose(self) -> None:
        self._release.set()


def fixed_sources(**overrides: Snapshot | SourceFailure) -> dict[str, FixedSource]:
    """A FixedSource per source, each result replaceable by keyword (database=SourceFailure...)."""
    snaps: dict[str, Snapshot | SourceFailure] = dict(fixed_snapshots())
    snaps.update(overrides)
    return {name: FixedSource(name, snap) for name, snap in snaps.items()}


async def wait_until(pilot, condition, timeout: float = 5.0) -> None:
    """Let the app run until `condition()` holds (polled with a deadline; never a bare sleep)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        await pilot.pause(0.02)
    await pilot.pause()
