"""Fault drills: each runbook failure injected into a running Lab for real, and cleared again.

drill                  | injected                                               | fix in the cockpit
-----------------------|--------------------------------------------------------|---------------
connection-exhaustion  | idle connections as the app role up to 95 % of max     | kill idle
slow-query             | `SELECT pg_sleep(600)` as the app role                 | cancel/terminate
cache-miss-storm       | FLUSHDB while traffic runs, misses no longer refill    | warm cache
cpu-spike              | the deployment's CPU load pinned at 95 % of its limits | scale
oom-crashloop          | the container needs more than its memory limit: a pod  | resources
                       | OOMKilled, then CrashLoopBackOff (new pods too)        |
rate-limit-storm       | traffic at twice the API's rate limit                  | set env
cert-expiring/-expired | the API's cert switched to one expiring / expired      | runbook advice
disk-pressure          | DiskPressure=True on a node                            | runbook advice
volume-filling         | one pod's volume filled step by step past 85 then 95 % | runbook advice
api-down               | /health forced to 503                                  | restart

`DrillRunner(lab)` injects and clears them (thread-safe); `DRILLS` is the catalogue with the
rule and severity the incident engine is expected to raise.
"""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import psycopg

from cockpit.lab.control import DrillError
from cockpit.lab.rows import one_row
from cockpit.lab.schema import REPORT_QUERY, install_report_table

if TYPE_CHECKING:
    from cockpit.lab.apisim.sim import ApiSimulator
    from cockpit.lab.certswitch import SwitchableTlsEndpoint
    from cockpit.lab.diskdrill import VolumeFill
    from cockpit.lab.kubesim.sim import KubeSim

_Part = TypeVar("_Part")


class DrillLab(Protocol):
    """What the drills use of a started lab (lab.py's Lab, which imports this module)."""

    @property
    def admin_url(self) -> str: ...
    @property
    def app_url(self) -> str: ...
    @property
    def monitor_url(self) -> str: ...
    @property
    def app_user(self) -> str: ...
    @property
    def redis_url(self) -> str: ...
    @property
    def rate_limit_rps(self) -> float: ...
    @property
    def traffic_rps(self) -> float: ...
    @property
    def connection_target(self) -> int: ...
    @property
    def api(self) -> ApiSimulator | None: ...
    @property
    def cert(self) -> SwitchableTlsEndpoint | None: ...
    @property
    def kube(self) -> KubeSim | None: ...


CPU_LOAD_FRACTION = 0.95  # of the deployment's total CPU limit, spread over its running pods
STORM_FACTOR = 2.0  # rate-limit-storm traffic, as a multiple of the rate limit
POD_5XX_RATE, POD_5XX_SHARE = 0.3, 0.9  # pod-5xx: share of reads failing, share of those in one pod


@dataclass(frozen=True)
class Drill:
    """One drill: what it injects, how the cockpit fixes it, what the incident engine should say."""

    name: str
    description: str
    fix: str
    rule: str  # the incident rule id that detects it
    severity: str  # the severity that rule raises for it


DRILLS: tuple[Drill, ...] = (
    Drill(
        "connection-exhaustion",
        "idle app-role connections up to 95 % of max_connections",
        "kill idle connections (database pane)",
        "connection_exhaustion",
        "P1",
    ),
    Drill(
        "slow-query",
        "a 10-minute pg_sleep running as the app role",
        "cancel or terminate the query (database pane)",
        "slow_queries",
        "P3",
    ),
    Drill(
        "cache-miss-storm",
        "Redis flushed under traffic; misses no longer refill the cache",
        "warm the cache (cache pane)",
        "cache_miss_storm",
        "P2",
    ),
    Drill(
        "cpu-spike",
        "the deployment's CPU load pinned at 95 % of its limits",
        "scale the deployment out (pods pane)",
        "high_cpu",
        "P3",
    ),
    Drill(
        "oom-crashloop",
        "the container needs a quarter more than its memory limit: OOMKilled, CrashLoopBackOff",
        "raise the memory limit (Resources…, M); a restart alone crash-loops again",
        "oom",
        "P2",
    ),
    Drill(
        "rate-limit-storm",
        "API traffic at twice its rate limit (429s)",
        "raise RATE_LIMIT_GLOBAL (Set environment…, V) above the traffic",
        "rate_limit",
        "P3",
    ),
    Drill(
        "cert-expiring",
        "the API's certificate switched to one expiring in 5 days",
        "runbook: renew the certificate",
        "certificate",
        "P2",
    ),
    Drill(
        "cert-expired",
        "the API's certificate switched to one expired 10 days ago",
        "runbook: renew the certificate now",
        "certificate",
        "P1",
    ),
    Drill(
        "disk-pressure",
        "DiskPressure=True on a node",
        "runbook: free disk on the node; restart evicted pods",
        "disk",
        "P2",
    ),
    Drill(
        "volume-filling",
        "one pod's data volume filled step by step past 85 %, then 95 %",
        "runbook: clean old logs or expand the claim (clearing the drill cleans them)",
        "disk",
        "P3",
    ),
    Drill("api-down", "/health forced to answer 503", "restart the deployment", "api_down", "P1"),
    Drill(
        "pod-5xx",
        "30 % of market reads fail with 500, 90 % of them in one pod",
        'runbook: delete the pod carrying the 5xx (API pane, scrape = "pods")',
        "api_errors",
        "P2",
    ),
)
DRILLS_BY_NAME: dict[str, Drill] = {d.name: d for d in DRILLS}
_EXCLUSIVE = {"cert-expiring": "cert-expired", "cert-expired": "cert-expiring"}


class _CpuLoad:
    """Keeps the deployment's pods pinned at load / running pods, so scaling out really helps."""

    def __init__(self, kube: KubeSim, deployment: str, total: float) -> None:
        self.kube, self.deployment, self.total = kube, deployment, total
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="drill-cpu", daemon=True)

    def start(self) -> _CpuLoad:
        self._apply()
        self._thread.start()
        return self

    def _apply(self) -> None:
        pods = [
            p["metadata"]["name"]
            for p in self.kube.pods(self.deployment)
            if p["status"].get("phase") == "Running"
        ]
        fraction = min(1.05, self.total / max(len(pods), 1))
        overrides = self.kube.usage.cpu_overrides
        for key in [k for k in overrides if k[0] == self.kube.namespace and k[1] not in pods]:
            overrides.pop(key, None)
        for name in pods:
            overrides[(self.kube.namespace, name)] = fraction

    def _run(self) -> None:
        while not self._stop.wait(0.25):  # re-spread as pods come and go (scale, restart)
            self._apply()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.kube.clear_cpu_spike(None)


class _SlowQuery:
    """A connection as the app role running pg_sleep in a thread until cancelled or cleared,
    and a second one running the nightly report (a sequential scan of 200,000 rows) over and
    over, so that its statement tops pg_stat_statements' lists and can be explained and fixed
    with an index."""

    def __init__(self, url: str, admin_url: str, app_user: str) -> None:
        with psycopg.connect(admin_url, connect_timeout=5, autocommit=True) as admin:
            install_report_table(admin, app_user)
        self.conn = psycopg.connect(
            url, connect_timeout=5, autocommit=True, application_name="predictiq-report"
        )
        try:
            self.report = psycopg.connect(
                url, connect_timeout=5, autocommit=True, application_name="predictiq-report"
            )
        except psycopg.Error:
            self.conn.close()
            raise
        self.pid = self.conn.info.backend_pid
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="drill-slow-query", daemon=True)
        self._thread.start()
        self._reports = threading.Thread(target=self._run_reports, name="drill-report", daemon=True)
        self._reports.start()

    def _run_reports(self) -> None:
        market = 0
        while not self._stop.wait(0.5):
            market = market % 50 + 1
            try:
                self.report.execute(REPORT_QUERY, (market,))
            except psycopg.Error:
                return  # terminated by the cockpit, or the lab is going down

    def _run(self) -> None:
        try:
            self.conn.execute("SELECT pg_sleep(600) /* nightly market report */")
        except psycopg.Error:
            pass  # cancelled or terminated: the fix (or the clear) worked

    def stop(self) -> None:
        self._stop.set()
        if not self.conn.closed:
            try:
                self.conn.cancel_safe(timeout=3)
            except psycopg.Error:
                pass  # already terminated by the cockpit
        self._thread.join(5)
        self._reports.join(5)
        self.conn.close()
        self.report.close()


def _running(part: _Part | None, what: str) -> _Part:
    if part is None:
        raise DrillError(f"the lab's {what} is not running")
    return part


class DrillRunner:
    """Injects and clears drills on a started Lab. Every method is safe from any thread."""

    def __init__(self, lab: DrillLab) -> None:
        self.lab = lab
        self._lock = threading.Lock()
        self._active: dict[str, Any] = {}  # name -> what clear() needs

    # The lab's parts: a DrillRunner is made once they all run, so these never raise in use.
    @property
    def _api(self) -> ApiSimulator:
        return _running(self.lab.api, "API simulator")

    @property
    def _cert(self) -> SwitchableTlsEndpoint:
        return _running(self.lab.cert, "switchable TLS endpoint")

    @property
    def _kube(self) -> KubeSim:
        return _running(self.lab.kube, "Kubernetes simulator")

    def catalogue(self) -> list[dict[str, str]]:
        """Every drill as a dict (name, description, fix, rule, severity)."""
        return [asdict(d) for d in DRILLS]

    def active(self) -> list[str]:
        """Names of the drills injected and not cleared, in catalogue order."""
        with self._lock:
            return [d.name for d in DRILLS if d.name in self._active]

    def inject(self, name: str) -> str:
        """Inject a drill; returns what was done. Injecting an active drill does nothing."""
        if name not in DRILLS_BY_NAME:
            raise DrillError(f"unknown drill {name!r}; see `cockpit lab drill --list`")
        with self._lock:
            if name in self._active:
                return f"{name} is already active"
            other = _EXCLUSIVE.get(name)
            if other in self._active:
                self._active.pop(other)  # both drive the same endpoint: the new one replaces it
            handle, detail = getattr(self, "_inject_" + name.replace("-", "_"))()
            self._active[name] = handle
            return detail

    def clear(self, name: str) -> str:
        """End a drill; clearing one that is not active does nothing."""
        if name not in DRILLS_BY_NAME:
            raise DrillError(f"unknown drill {name!r}; see `cockpit lab drill --list`")
        with self._lock:
            if name not in self._active:
                return f"{name} was not active"
            handle = self._active.pop(name)
            getattr(self, "_clear_" + name.replace("-", "_"))(handle)
            return f"{name} cleared"

    def clear_all(self) -> None:
        """Clear every active drill (teardown)."""
        for name in self.active():
            self.clear(name)

    # -- database ------------------------------------------------------------------------------

    def _client_backends(self) -> int:
        """Client backends of ordinary (non-superuser) roles: the slots the app competes for."""
        with psycopg.connect(self.lab.admin_url, connect_timeout=5, autocommit=True) as conn:
            return int(
                one_row(
                    conn.execute(
                        "SELECT count(*) FROM pg_stat_activity a "
                        "JOIN pg_roles r ON r.oid = a.usesysid"
                        " WHERE a.backend_type = 'client backend' AND NOT r.rolsuper"
                    )
                )[0]
            )

    def _inject_connection_exhaustion(self) -> tuple[Any, str]:
        target = self.lab.connection_target
        held: list[psycopg.Connection] = []
        try:
            for _round in range(3):  # others connect and disconnect meanwhile: re-count
                missing = target - self._client_backends()
                if missing <= 0:
                    break
                for _ in range(missing):
                    held.append(
                        psycopg.connect(
                            self.lab.app_url,
                            connect_timeout=5,
                            autocommit=True,
                            application_name="predictiq-worker",
                        )
                    )
        except psycopg.OperationalError:
            pass  # the ordinary slots are all taken: exhausted is what we wanted
        return (
            held,
            f"holding {len(held)} idle connections as {self.lab.app_user} (target {target})",
        )

    def _clear_connection_exhaustion(self, held: list[psycopg.Connection]) -> None:
        for conn in held:
            conn.close()

    def _inject_slow_query(self) -> tuple[Any, str]:
        try:
            query = _SlowQuery(self.lab.app_url, self.lab.monitor_url, self.lab.app_user)
        except psycopg.OperationalError as exc:  # e.g. connection-exhaustion is active
            raise DrillError(f"cannot connect as {self.lab.app_user}: {exc}") from None
        return query, f"pg_sleep(600) running as {self.lab.app_user}, pid {query.pid}"

    def _clear_slow_query(self, query: _SlowQuery) -> None:
        query.stop()

    # -- cache and API -------------------------------------------------------------------------

    def _inject_cache_miss_storm(self) -> tuple[Any, str]:
        from cockpit.lab import redisconn

        self._api.set_fill_on_miss(False)
        with redisconn.client(self.lab.redis_url, timeout=3) as client:
            client.flushdb()
        return None, "Redis flushed; misses no longer fill the cache until it is warmed"

    def _clear_cache_miss_storm(self, _handle: None) -> None:
        self._api.set_fill_on_miss(True)

    def _inject_rate_limit_storm(self) -> tuple[Any, str]:
        rps = STORM_FACTOR * self.lab.rate_limit_rps
        self._api.set_traffic_rps(rps)
        return None, f"traffic at {rps:g} rps against a limit of {self.lab.rate_limit_rps:g}"

    def _clear_rate_limit_storm(self, _handle: None) -> None:
        self._api.set_traffic_rps(self.lab.traffic_rps)

    def _inject_api_down(self) -> tuple[Any, str]:
        self._api.set_health_failure(True)
        return None, "/health answers 503"

    def _clear_api_down(self, _handle: None) -> None:
        self._api.set_health_failure(False)

    def _inject_pod_5xx(self) -> tuple[Any, str]:
        from cockpit.lab.apisim.pods import running_pods

        pods = running_pods(self._kube)
        bad = pods[0] if pods else None
        self._api.pod_metrics.concentrate_errors(bad, POD_5XX_SHARE)
        self._api.set_error_rate(POD_5XX_RATE)
        return None, (
            f"{POD_5XX_RATE:.0%} of market reads fail, {POD_5XX_SHARE:.0%} of them in {bad}"
            if bad
            else f"{POD_5XX_RATE:.0%} of market reads fail (no pods to pin them on)"
        )

    def _clear_pod_5xx(self, _handle: None) -> None:
        self._api.set_error_rate(0.0)
        self._api.pod_metrics.concentrate_errors(None)

    # -- certificates --------------------------------------------------------------------------

    def _inject_cert_expiring(self) -> tuple[Any, str]:
        self._cert.switch("expiring")
        return None, f"{self._cert.server_name} now serves a certificate expiring in 5 days"

    def _inject_cert_expired(self) -> tuple[Any, str]:
        self._cert.switch("expired")
        return None, f"{self._cert.server_name} now serves a certificate expired 10 days ago"

    def _clear_cert_expiring(self, _handle: None) -> None:
        self._cert.switch("valid")

    _clear_cert_expired = _clear_cert_expiring

    # -- Kubernetes ----------------------------------------------------------------------------

    def _inject_cpu_spike(self) -> tuple[Any, str]:
        kube = self._kube
        running = [p for p in kube.pods() if p["status"].get("phase") == "Running"]
        load = _CpuLoad(kube, kube.default_deployment, CPU_LOAD_FRACTION * len(running)).start()
        return load, f"CPU load of {len(running)} pods' limits pinned at 95 %"

    def _clear_cpu_spike(self, load: _CpuLoad) -> None:
        load.stop()

    def _inject_oom_crashloop(self) -> tuple[Any, str]:
        from cockpit.quantity import human_bytes

        need = self._kube.memory_hungry()
        pod = self._kube.oom_crashloop(self._kube.default_deployment)
        return pod, (
            f"pod {pod} OOMKilled and crash-looping: the container needs {human_bytes(need)}, "
            "more than its limit"
        )

    def _clear_oom_crashloop(self, _pod: str) -> None:
        self._kube.clear_memory_hungry()
        self._kube.clear_oom_crashloop(None)

    def _inject_disk_pressure(self) -> tuple[Any, str]:
        node = self._kube.disk_pressure()
        return node, f"node {node} reports DiskPressure"

    def _clear_disk_pressure(self, node: str) -> None:
        self._kube.clear_disk_pressure(node)

    def _inject_volume_filling(self) -> tuple[Any, str]:
        from cockpit.lab.diskdrill import VolumeFill

        fill = VolumeFill(self._kube, self._kube.default_deployment).start()
        return fill, f"volume data of pod {fill.pod} filling: {fill.steps[0]:.0%}, then higher"

    def _clear_volume_filling(self, fill: VolumeFill) -> None:
        fill.stop()
