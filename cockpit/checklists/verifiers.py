"""Checklist verifiers: each answers one runbook item from the cockpit's own data, with evidence.

A verifier is pure over (CockpitState, Config) and returns a `Verdict`: pass, fail, or unknown.
A source that is not configured, failing, or has not answered yet gives *unknown* with the
reason — never a pass the cockpit cannot back up. Two checks need I/O and live elsewhere:
the endpoints (cockpit.checklists.endpoints, async HTTP) and the backup (cockpit.checklists.backup,
a subprocess).
"""

from __future__ import annotations

import enum
import statistics
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from cockpit.config import Config, MetricNames
from cockpit.incidents.rules import deployment_cpu_percent
from cockpit.models import (
    ApiStatus,
    CacheStats,
    CertificatesSnapshot,
    CertState,
    DbActivity,
    KubeSnapshot,
    Snapshot,
)
from cockpit.state import CockpitState

S = TypeVar("S", bound=Snapshot)

IDLE_FLOOD_SHARE = 0.2  # idle-over-threshold sessions holding a fifth of the slots is a flood
ERROR_RISE_POINTS = 1.0  # a rise of less than one percentage point over the baseline is noise


class CheckState(enum.StrEnum):
    """The outcome of one live check."""

    PASS = "pass"
    FAIL = "fail"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class Verdict:
    """A check's answer and the evidence behind it, in operator words."""

    state: CheckState
    evidence: str


def unknown(text: str) -> Verdict:
    """An unknown verdict with its reason."""
    return Verdict(CheckState.UNKNOWN, text)


def _source(state: CockpitState, name: str, section: object, kind: type[S]) -> S | Verdict:
    """The source's snapshot, or an unknown verdict saying why there is none to judge."""
    if not section:
        return unknown(f"{name}: not configured")
    failure = state.failure(name)
    if failure is not None:
        return unknown(f"{name} failing: {failure.describe()}")
    snap = state.latest(name)
    if not isinstance(snap, kind):
        return unknown(f"{name}: no data yet")
    return snap


def health_check(state: CockpitState, cfg: Config) -> Verdict:
    """/health answered healthy."""
    api = _source(state, "api", cfg.api, ApiStatus)
    if isinstance(api, Verdict):
        return api
    code = api.health_status_code if api.health_status_code is not None else "no answer"
    ms = f" in {api.health_latency_ms:.0f} ms" if api.health_latency_ms is not None else ""
    health_path = cfg.api.health_path if cfg.api else "/health"
    text = f"GET {health_path} → {code}{ms}: {api.health_error or api.health_summary}"
    return Verdict(CheckState.PASS if api.health_ok else CheckState.FAIL, text)


def error_rate(state: CockpitState, cfg: Config) -> Verdict:
    """5xx share below thresholds.error_ratio and not risen against its recent history."""
    api = _source(state, "api", cfg.api, ApiStatus)
    if isinstance(api, Verdict):
        return api
    if not api.metrics_ok:
        return unknown(f"metrics unavailable: {api.metrics_error or 'no /metrics'}")
    if api.error_ratio is None:
        return unknown("no requests in the last interval: no error ratio to judge")
    pct, limit = 100.0 * api.error_ratio, 100.0 * cfg.thresholds.error_ratio
    history = state.trend("api.error_ratio")[:-1]  # percent; the last point is `pct` itself
    baseline = statistics.median(history) if history else None
    text = f"5xx {pct:.2f}% of {api.request_rate or 0:.1f} req/s (limit {limit:g}%)"
    if baseline is not None:
        text += f"; baseline {baseline:.2f}% over {len(history)} samples"
    risen = baseline is not None and pct - baseline >= ERROR_RISE_POINTS
    if pct > limit or risen:
        return Verdict(CheckState.FAIL, text + ("; risen" if risen else ""))
    return Verdict(CheckState.PASS, text)


def response_times(state: CockpitState, cfg: Config) -> Verdict:
    """/health latency (and the requests' p95 when exposed) below thresholds.health_latency_ms."""
    api = _source(state, "api", cfg.api, ApiStatus)
    if isinstance(api, Verdict):
        return api
    if api.health_latency_ms is None:
        return unknown(f"no /health latency: {api.health_error or api.health_summary}")
    limit = cfg.thresholds.health_latency_ms
    parts = [f"/health {api.health_latency_ms:.0f} ms"]
    slow = api.health_latency_ms > limit
    p95 = api.latency_ms.get("p95")
    if p95 is not None:
        parts.append(f"p95 {p95:.0f} ms")
        slow = slow or p95 > limit
    text = ", ".join(parts) + f" (limit {limit:g} ms)"
    return Verdict(CheckState.FAIL if slow else CheckState.PASS, text)


def db_connections(state: CockpitState, cfg: Config) -> Verdict:
    """Connection usage below the warning level and no flood of long-idle sessions."""
    db = _source(state, "database", cfg.database, DbActivity)
    if isinstance(db, Verdict):
        return db
    limit = cfg.thresholds.connection_warning_percent
    idle = db.idle_over_count
    flood = idle >= max(1, IDLE_FLOOD_SHARE * db.usable_connections)
    text = (
        f"{db.total + 1} of {db.max_connections} connections ({db.usage_percent:.0f}%, "
        f"warning at {limit:g}%); {idle} idle > {db.idle_threshold_seconds:.0f}s"
    )
    bad = db.usage_percent >= limit or flood
    return Verdict(
        CheckState.FAIL if bad else CheckState.PASS, text + ("; idle flood" if flood else "")
    )


def cache_hit_rate(state: CockpitState, cfg: Config) -> Verdict:
    """Hit rate over the last interval at or above thresholds.cache_hit_rate."""
    cache = _source(state, "cache", cfg.cache, CacheStats)
    if isinstance(cache, Verdict):
        return cache
    if cache.hit_rate_interval is None:
        return unknown("no cache lookups in the last interval: no hit rate to judge")
    rate, limit = 100.0 * cache.hit_rate_interval, 100.0 * cfg.thresholds.cache_hit_rate
    text = (
        f"hit rate {rate:.1f}% ({cache.hits_interval} hits, {cache.misses_interval} misses"
        f" in {cache.interval_seconds or 0:.1f}s; minimum {limit:g}%)"
    )
    return Verdict(CheckState.PASS if rate >= limit else CheckState.FAIL, text)


def rate_limiting(state: CockpitState, cfg: Config) -> Verdict:
    """The limiter's counter is exposed and 429s stay below thresholds.rate_limited_per_second."""
    api = _source(state, "api", cfg.api, ApiStatus)
    if isinstance(api, Verdict):
        return api
    if not api.metrics_ok:
        return unknown(f"metrics unavailable: {api.metrics_error or 'no /metrics'}")
    counter = (cfg.api.metrics if cfg.api else MetricNames()).rate_limited_total
    if api.rate_429 is None:
        return unknown("no metrics interval yet: no 429 rate")
    if api.rate_limited_rate is None:
        return unknown(f"counter {counter} not exposed: cannot tell the limiter is running")
    rate, limit = max(api.rate_429, api.rate_limited_rate), cfg.thresholds.rate_limited_per_second
    text = f"429s {api.rate_429:.2f}/s, {counter} {api.rate_limited_rate:.2f}/s (limit {limit:g}/s)"
    return Verdict(CheckState.FAIL if rate > limit else CheckState.PASS, text)


def certificates_valid(state: CockpitState, cfg: Config) -> Verdict:
    """Every watched certificate is OK (not expiring, expired, untrusted or unreadable)."""
    snap = _source(state, "certificates", cfg.certificates, CertificatesSnapshot)
    if isinstance(snap, Verdict):
        return snap
    if not snap.certificates:
        return unknown("certificates: none checked")
    bad = [c for c in snap.certificates if c.status != CertState.OK]
    if bad:
        return Verdict(
            CheckState.FAIL,
            "; ".join(
                f"{c.server_name}:{c.port} {c.status.value}"
                + (f" ({c.error or c.verify_error})" if c.error or c.verify_error else "")
                for c in bad
            ),
        )
    soonest = min((c.days_left for c in snap.certificates if c.days_left is not None), default=None)
    tail = f"; soonest expiry in {soonest:.0f} days" if soonest is not None else ""
    return Verdict(CheckState.PASS, f"{len(snap.certificates)} certificate(s) ok{tail}")


def pods_ready(state: CockpitState, cfg: Config) -> Verdict:
    """Every pod of the deployment ready (and as many as it wants)."""
    kube = _source(state, "kubernetes", cfg.kubernetes, KubeSnapshot)
    if isinstance(kube, Verdict):
        return kube
    pods = [p for p in kube.pods if not p.deleting]
    ready = sum(1 for p in pods if p.total and p.ready == p.total)
    desired = kube.deployment.desired if kube.deployment else None
    text = f"{ready}/{len(pods)} pods ready" + (
        f", {desired} desired" if desired is not None else ""
    )
    not_ready = [
        f"{p.name} ({p.reason or p.phase})" for p in pods if not (p.total and p.ready == p.total)
    ]
    if not_ready:
        text += "; not ready: " + ", ".join(not_ready[:5])
    ok = bool(pods) and not not_ready and (desired is None or ready >= desired)
    return Verdict(CheckState.PASS if ok else CheckState.FAIL, text)


def disk_pressure(state: CockpitState, cfg: Config) -> Verdict:
    """No node running the deployment reports DiskPressure."""
    kube = _source(state, "kubernetes", cfg.kubernetes, KubeSnapshot)
    if isinstance(kube, Verdict):
        return kube
    if not kube.nodes:
        return unknown("no node information (the cockpit may not be allowed to read nodes)")
    pressed = [n.name for n in kube.nodes if n.disk_pressure]
    if pressed:
        return Verdict(CheckState.FAIL, "DiskPressure on " + ", ".join(pressed))
    return Verdict(CheckState.PASS, f"{len(kube.nodes)} node(s), none under disk pressure")


def critical_metrics(state: CockpitState, cfg: Config) -> Verdict:
    """Deployment CPU and every pod's memory under their thresholds."""
    kube = _source(state, "kubernetes", cfg.kubernetes, KubeSnapshot)
    if isinstance(kube, Verdict):
        return kube
    cpu = deployment_cpu_percent(kube)
    mems = [p.memory_percent_of_limit for p in kube.pods if p.memory_percent_of_limit is not None]
    if cpu is None or not mems:
        return unknown(f"no pod metrics: {kube.metrics_error or 'no usage or limits reported'}")
    t = cfg.thresholds
    text = (
        f"CPU {cpu:.0f}% of limits (limit {t.cpu_percent:g}%), "
        f"max pod memory {max(mems):.0f}% (limit {t.memory_percent:g}%)"
    )
    bad = cpu >= t.cpu_percent or max(mems) >= t.memory_percent
    return Verdict(CheckState.FAIL if bad else CheckState.PASS, text)


STATE_VERIFIERS: dict[str, Callable[[CockpitState, Config], Verdict]] = {
    "health_check": health_check,
    "error_rate": error_rate,
    "response_times": response_times,
    "db_connections": db_connections,
    "cache_hit_rate": cache_hit_rate,
    "rate_limiting": rate_limiting,
    "certificates_valid": certificates_valid,
    "pods_ready": pods_ready,
    "disk_pressure": disk_pressure,
    "critical_metrics": critical_metrics,
}
IO_VERIFIERS = ("endpoints_responding", "backup_completed")  # need the network / a subprocess
VERIFIER_IDS = (*STATE_VERIFIERS, *IO_VERIFIERS)
