"""The fault matrix (issue 20): five backends x six faults, each behind a switchable TCP proxy.

Every cell runs the real source under the real Scheduler into a CockpitState, at a 0.5 s refresh,
and checks what the operator would see:
1. the pane says why (the status line's reason, or the row's) within two refreshes of the fault
   (plus one timeout for a fault that is only known when a timeout runs out);
2. healthy data arrives within two refreshes of the fault's end, after a short outage (a few
   failed polls) and after a long one (the backoff state 60+ s of failures leave behind, set
   through `Scheduler.assume_failures` and the watches' `failures` instead of waited for).
Auth errors use the servers' own mechanisms: PostgreSQL password auth (scram, pg_hba.conf) for a
role created here, Redis requirepass, a 401 from the API simulator, a rotated bearer token on the
Kubernetes simulator; the TLS endpoint's "auth error" is a server that wants a client certificate.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
import redis

from cockpit.config import (
    ApiConfig,
    CacheConfig,
    CertificateConfig,
    DatabaseConfig,
    KubernetesConfig,
    RefreshConfig,
    ThresholdsConfig,
)
from cockpit.lab.apisim.sim import ApiSimulator
from cockpit.lab.kubesim.sim import KubeSim
from cockpit.lab.services import ThrowawayPostgres, ThrowawayRedis
from cockpit.lab.tlssim import TlsLab
from cockpit.models import (
    ApiStatus,
    CacheStats,
    CertificatesSnapshot,
    CertState,
    DbActivity,
    KubeSnapshot,
    Snapshot,
    SourceFailure,
)
from cockpit.scheduler import Scheduler, policies_from_config
from cockpit.sources.api import ApiSource
from cockpit.sources.base import Source
from cockpit.sources.certs import CLIENT_CERT_ASKED, CertificateSource
from cockpit.sources.kube.source import KubeSource
from cockpit.sources.postgres.source import PostgresSource
from cockpit.sources.redis import RedisSource
from cockpit.state import CockpitState
from tests.faultproxy import HTML_200, FaultProxy
from tests.tlsclientcert import ClientCertEndpoint
from widgets.panes.api import health_word
from widgets.panes.common import status_line

INTERVAL = 0.5  # refresh interval of every source in the matrix
TIMEOUT = 1.0  # collection timeout
TWO_REFRESHES = 2 * INTERVAL
# A shared 2-core machine: scheduling noise on top of the bounds (never a reason to pass a cell
# whose backoff is wrong: the old doubling backoff misses these by seconds).
SLACK = 1.0
DETECT_SLACK = 2.0  # detection has more room: the code it guards against never detects at all
RESTART_SECONDS = 4.0  # how long a restarted backend refuses connections
SHORT_OUTAGE_FAILURES = 4  # a short outage: this many failed polls in a row
LONG_OUTAGE_FAILURES = 200  # what 60+ s of failures at 0.5 s leave in the backoff state
VISIBLE_STATUS = 64  # characters of a status line visible in an 80-column summary line
ROLE, PASSWORD = "cockpit_fault", "fault-pass-1"
APP, NS = "predictiq-api", "predictiq"
FAULTS = ("down", "hang", "slow", "auth", "restart", "garbage")
BACKENDS = ("kubernetes", "database", "cache", "certificates", "api")
# what the pane must say under each fault (lowercase words; auth is per backend)
EXPECTED = {
    "down": ("connection refused",),
    "hang": ("timed out",),
    "slow": ("timed out",),
    "restart": ("connection refused", "connection closed", "connection reset"),
}
EXPECTED_AUTH = {
    "kubernetes": ("http 401",),
    "database": ("password authentication failed",),
    "cache": ("authentication",),
    "certificates": (CLIENT_CERT_ASKED,),
    "api": ("http 401",),
}
EXPECTED_GARBAGE = {
    "kubernetes": ("not json",),
    "database": ("not a postgresql server",),
    "cache": ("not a redis server",),
    "certificates": ("tls handshake failed",),
    "api": ("not json",),
}


# --------------------------------------------------------------------------- the servers


@pytest.fixture(scope="module")
def pg_server() -> Iterator[ThrowawayPostgres]:
    """A throwaway PostgreSQL whose pg_hba.conf asks ROLE for a scram password over TCP."""
    with ThrowawayPostgres(max_connections=40) as server:
        with psycopg.connect(server.url, connect_timeout=5, autocommit=True) as conn:
            conn.execute(f"CREATE ROLE {ROLE} LOGIN PASSWORD '{PASSWORD}'")
            conn.execute(f"GRANT pg_read_all_stats TO {ROLE}")
            hba = Path(conn.execute("SHOW hba_file").fetchone()[0])
            hba.write_text(f"host all {ROLE} 127.0.0.1/32 scram-sha-256\n" + hba.read_text())
            conn.execute("SELECT pg_reload_conf()")
        yield server


@pytest.fixture(scope="module")
def redis_srv() -> Iterator[ThrowawayRedis]:
    with ThrowawayRedis() as server:
        yield server


@pytest.fixture(scope="module")
def kube_sim() -> Iterator[KubeSim]:
    with KubeSim(
        namespace=NS, deployment=APP, replicas=3, delay=0.05, bookmark_interval=0.2, seed=20
    ) as sim:
        yield sim


@pytest.fixture(scope="module")
def api_sim(pg_server: ThrowawayPostgres, redis_srv: ThrowawayRedis) -> Iterator[ApiSimulator]:
    sim = ApiSimulator(pg_server.url, redis_srv.url, rate_limit_rps=None).start()
    yield sim
    sim.stop()


@pytest.fixture(scope="module")
def client_cert_endpoint(tls_lab: TlsLab) -> Iterator[ClientCertEndpoint]:
    with ClientCertEndpoint(tls_lab) as endpoint:
        yield endpoint


def _port(url: str) -> int:
    return int(url.split("://", 1)[1].split("/", 1)[0].rsplit(":", 1)[1])


# --------------------------------------------------------------------------- one cell's world


@dataclass
class Cell:
    """One backend behind its proxy, its source under a scheduler, and how to read its pane."""

    backend: str
    proxy: FaultProxy
    source: Source
    start_auth_fault: Callable[[], None]
    end_auth_fault: Callable[[], None]
    garbage_options: dict[str, Any] = field(default_factory=dict)
    state: CockpitState = field(default_factory=lambda: CockpitState(interval_seconds=INTERVAL))
    delivered: list[tuple[float, Snapshot | SourceFailure]] = field(default_factory=list)
    scheduler: Scheduler | None = None

    def deliver(self, name: str, result: Snapshot | SourceFailure) -> None:
        self.state.update(name, result)
        self.delivered.append((time.monotonic(), result))

    def reason(self) -> str | None:
        """What the pane says is wrong now (None: nothing), as the operator reads it."""
        view = self.state.view(self.backend)
        if view.failure is not None:
            return status_line(view, datetime.now(UTC), True)[0]
        snap = view.snapshot
        if isinstance(snap, ApiStatus) and not snap.health_ok:
            return f"{health_word(snap)} {snap.health_summary}"
        if isinstance(snap, CertificatesSnapshot):
            cert = snap.certificates[0]
            if cert.client_cert_requested:
                return CLIENT_CERT_ASKED
            if cert.status == CertState.ERROR:
                return cert.error
        return None

    def healthy_since(self, since: float) -> bool:
        """Whether a result delivered after `since` (monotonic) is healthy data."""
        return any(at > since and _healthy(result) for at, result in self.delivered)

    def failures_since(self, since: float) -> int:
        return sum(1 for at, result in self.delivered if at > since and not _healthy(result))


def _healthy(result: Snapshot | SourceFailure) -> bool:
    if isinstance(result, SourceFailure):
        return False
    if isinstance(result, KubeSnapshot):
        return len(result.pods) == 3 and result.deployment is not None
    if isinstance(result, ApiStatus):
        return result.health_ok
    if isinstance(result, CertificatesSnapshot):
        cert = result.certificates[0]
        return cert.status == CertState.OK and not cert.client_cert_requested
    return isinstance(result, DbActivity | CacheStats)


@pytest.fixture
async def cell(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Cell]:
    backend: str = request.param
    built = _build(backend, request, tmp_path)
    # the cockpit's own policy for this refresh config (interval, timeout, backoff cap)
    refresh = RefreshConfig(
        interval_seconds=INTERVAL, timeout_seconds=TIMEOUT, certificates_seconds=INTERVAL
    )
    built.scheduler = Scheduler(
        {backend: built.source}, built.deliver, policies_from_config(refresh, [backend])
    )
    built.scheduler.start()
    try:
        yield built
    finally:
        await built.scheduler.stop()
        built.end_auth_fault()
        built.proxy.stop()


def _build(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Cell:
    if backend == "database":
        server: ThrowawayPostgres = request.getfixturevalue("pg_server")
        proxy = FaultProxy("127.0.0.1", server.port).start()
        url = f"postgresql://{ROLE}:{PASSWORD}@127.0.0.1:{proxy.port}/postgres?sslmode=disable"
        source = PostgresSource(
            DatabaseConfig(url=url, connect_timeout_seconds=2), ThresholdsConfig(), timeout=TIMEOUT
        )

        def rotate(password: str) -> Callable[[], None]:
            def run() -> None:
                with psycopg.connect(server.url, connect_timeout=5, autocommit=True) as conn:
                    conn.execute(f"ALTER ROLE {ROLE} PASSWORD '{password}'")
                    # a rotated password ends the sessions too: the source must log in again
                    conn.execute(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s",
                        (ROLE,),
                    )

            return run

        return Cell(backend, proxy, source, rotate("rotated-elsewhere"), rotate(PASSWORD))
    if backend == "cache":
        rsrv: ThrowawayRedis = request.getfixturevalue("redis_srv")
        proxy = FaultProxy("127.0.0.1", _port(rsrv.url)).start()
        source = RedisSource(
            CacheConfig(url=f"redis://127.0.0.1:{proxy.port}/0", timeout_seconds=TIMEOUT),
            timeout=TIMEOUT,
        )

        def require_password() -> None:
            admin = redis.Redis.from_url(rsrv.url, socket_timeout=5)
            admin.config_set("requirepass", "s3cret-rotated")
            admin.close()
            with redis.Redis.from_url(rsrv.url, password="s3cret-rotated", socket_timeout=5) as r:
                r.client_kill_filter(_type="normal", skipme=True)

        def no_password() -> None:
            with redis.Redis.from_url(rsrv.url, socket_timeout=5) as r:
                try:
                    r.ping()
                    return  # no password is set: nothing to undo
                except redis.AuthenticationError:
                    pass
            with redis.Redis.from_url(rsrv.url, password="s3cret-rotated", socket_timeout=5) as r:
                r.config_set("requirepass", "")

        return Cell(backend, proxy, source, require_password, no_password)
    if backend == "kubernetes":
        sim: KubeSim = request.getfixturevalue("kube_sim")
        proxy = FaultProxy("127.0.0.1", _port(sim.url)).start()
        config = sim.write_kubeconfig(tmp_path / "kubeconfig", context="lab")
        config.write_text(config.read_text().replace(sim.url, f"http://127.0.0.1:{proxy.port}"))
        source = KubeSource(
            KubernetesConfig(
                kubeconfig=str(config),
                namespace=NS,
                deployment=APP,
                selector=f"app={APP}",
                request_timeout_seconds=TIMEOUT,
            ),
            RefreshConfig(interval_seconds=INTERVAL, timeout_seconds=TIMEOUT),
            metrics_interval=1.0,
        )
        token = sim.token

        def rotate_token() -> None:
            sim.token = "rotated-token"

        def restore_token() -> None:
            sim.token = token

        return Cell(
            backend,
            proxy,
            source,
            rotate_token,
            restore_token,
            {"payload": HTML_200, "close_after_garbage": True},
        )
    if backend == "api":
        api: ApiSimulator = request.getfixturevalue("api_sim")
        proxy = FaultProxy("127.0.0.1", api.port).start()
        source = ApiSource(
            ApiConfig(
                base_url=f"http://127.0.0.1:{proxy.port}",
                auth_header="Bearer metrics-token-1",
                timeout_seconds=TIMEOUT,
            ),
            ThresholdsConfig(),
            timeout=TIMEOUT,
        )
        return Cell(
            backend,
            proxy,
            source,
            lambda: api.set_required_auth("Bearer metrics-token-2"),
            lambda: api.set_required_auth(None),
            {"payload": HTML_200, "close_after_garbage": True},
        )
    assert backend == "certificates"
    lab: TlsLab = request.getfixturevalue("tls_lab")
    wants_cert: ClientCertEndpoint = request.getfixturevalue("client_cert_endpoint")
    valid = lab.endpoints["valid"]
    proxy = FaultProxy("127.0.0.1", valid.port).start()
    source = CertificateSource(
        (
            CertificateConfig(
                host=valid.server_name,
                port=proxy.port,
                address="127.0.0.1",
                ca_file=str(lab.ca_path),
            ),
        ),
        ThresholdsConfig(),
        timeout=TIMEOUT,
    )

    def to_client_cert_endpoint() -> None:
        proxy.upstream = ("127.0.0.1", wants_cert.port)

    def to_valid() -> None:
        proxy.upstream = ("127.0.0.1", valid.port)

    return Cell(backend, proxy, source, to_client_cert_endpoint, to_valid)


# --------------------------------------------------------------------------- the faults


def _start(cell: Cell, fault: str) -> None:
    proxy = cell.proxy
    if fault == "auth":
        cell.start_auth_fault()
    elif fault == "slow":
        proxy.set_mode("slow", latency=TIMEOUT * 1.2)
    elif fault == "garbage":
        proxy.set_mode("garbage", **cell.garbage_options)
    elif fault == "restart":
        # cut every connection; nothing listens for a while (long enough for the pane to say it
        # and for a doubling backoff to drift past the restart), then the same port answers again
        proxy.set_mode("restart", down_for=RESTART_SECONDS)
    else:
        proxy.set_mode(fault)


async def _end(cell: Cell, fault: str) -> float:
    """End the fault; returns when it ended (monotonic). A restart ends on its own: wait for the
    port to answer again without blocking the loop the sources run on."""
    if fault == "auth":
        cell.end_auth_fault()
    elif fault == "restart":
        await _until(
            lambda: cell.proxy.mode == "pass",
            RESTART_SECONDS + 5.0,
            f"{cell.backend}: the restarted backend back up",
        )
    else:
        cell.proxy.pass_through()
    return time.monotonic()


def _expected(backend: str, fault: str) -> tuple[str, ...]:
    if fault == "auth":
        return EXPECTED_AUTH[backend]
    if fault == "garbage":
        return EXPECTED_GARBAGE[backend]
    return EXPECTED[fault]


async def _until(condition: Callable[[], object], seconds: float, what: str) -> float:
    """Poll `condition` on the loop; the time it took. Fails with `what` after `seconds`."""
    began = time.monotonic()
    while not condition():
        if time.monotonic() - began > seconds:
            pytest.fail(f"{what}: not within {seconds:.1f} s")
        await asyncio.sleep(0.02)
    return time.monotonic() - began


def _long_outage(cell: Cell) -> None:
    """Put every retry loop in the state a 60+ s outage leaves: many failures in a row, and the
    failure's first sighting a minute and a half ago (the pane's 'stale since')."""
    assert cell.scheduler is not None
    cell.scheduler.assume_failures(cell.backend, LONG_OUTAGE_FAILURES, expensive=True)
    if isinstance(cell.source, KubeSource):
        for watch in cell.source.watches.values():
            watch.failures, watch.expensive = LONG_OUTAGE_FAILURES, True
    failure = cell.state.failure(cell.backend)
    if failure is not None:
        cell.state.update(
            cell.backend,
            SourceFailure(
                failure.source, failure.what, failure.reason, at=failure.at - timedelta(seconds=90)
            ),
        )


@pytest.mark.parametrize("fault", FAULTS)
@pytest.mark.parametrize("cell", BACKENDS, indirect=True)
async def test_fault_is_shown_within_two_refreshes_and_recovery_takes_two(
    cell: Cell, fault: str
) -> None:
    name = f"{cell.backend} / {fault}"
    detect = TWO_REFRESHES + DETECT_SLACK + (TIMEOUT if fault in ("hang", "slow") else 0.0)
    recover = TWO_REFRESHES + SLACK + (TIMEOUT if fault == "slow" else 0.0)
    await _until(lambda: cell.healthy_since(0.0), 15.0, f"{name}: healthy data before the fault")

    for outage in ("short", "long"):
        began = time.monotonic()
        _start(cell, fault)
        await _until(
            lambda: any(w in (cell.reason() or "").lower() for w in _expected(cell.backend, fault)),
            detect,
            f"{name} ({outage} outage): the pane's reason {_expected(cell.backend, fault)}"
            f" (it says {cell.reason()!r})",
        )
        reason = cell.reason() or ""
        assert "\n" not in reason and "Traceback" not in reason, reason
        if cell.state.failure(cell.backend) is not None:
            # the summary line gives the status 64 of its 80 columns: the cause must end in them
            words = next(w for w in _expected(cell.backend, fault) if w in reason.lower())
            assert reason.lower().index(words) + len(words) <= VISIBLE_STATUS, reason
        if fault != "restart":
            # a short outage is a few failed polls; a long one is that plus the backoff state
            # of a minute and more of failures
            await _until(
                lambda began=began: cell.failures_since(began) >= SHORT_OUTAGE_FAILURES,
                SHORT_OUTAGE_FAILURES * (TIMEOUT + TWO_REFRESHES) + SLACK,
                f"{name}: {SHORT_OUTAGE_FAILURES} polls during the outage (a source that "
                "backs off this far misses the recovery bound too)",
            )
        if outage == "long":
            _long_outage(cell)
        ended = await _end(cell, fault)
        took = await _until(
            lambda ended=ended: cell.healthy_since(ended),
            recover + 2 * SLACK,
            f"{name} ({outage} outage): healthy data after the fault's end",
        )
        assert took <= recover, f"{name} ({outage} outage): recovered after {took:.1f} s"
        assert cell.reason() is None, cell.reason()
