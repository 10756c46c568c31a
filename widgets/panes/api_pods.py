"""The API pane's per-pod lines (scrape = "pods"): req/s, 5xx %, 429/s, p99 and scrape age."""

from __future__ import annotations

from datetime import datetime

from cockpit.models import ApiPodMetrics, ApiStatus
from widgets.panes.common import number, short
from widgets.panes.steady import LATENCY_MS, RATE_PER_S, Steady

HEADER = f"{'pod':<24} {'req/s':>7} {'5xx%':>6} {'429/s':>6} {'p99ms':>6} {'age':>5}"


def _age(pod: ApiPodMetrics, now: datetime) -> str:
    if pod.last_scraped_at is None:
        return "-"
    seconds = max((now - pod.last_scraped_at).total_seconds(), 0.0)
    return f"{seconds:.0f}s" if seconds < 120 else f"{seconds / 60:.0f}m"


def _name(name: str, width: int = 24) -> str:
    """A pod name cut at the front: replica set pods differ only in their suffix."""
    return name if len(name) <= width else "…" + name[-(width - 1) :]


def _row(pod: ApiPodMetrics, now: datetime, rate: float | None, p99: float | None) -> str:
    name = _name(pod.name)
    if not pod.ok:
        return f"{name:<24} FAILED {short(pod.error or '', 30)} {_age(pod, now):>5}"
    err = None if pod.error_ratio is None else 100 * pod.error_ratio
    return (
        f"{name:<24} {number(rate, '{:.1f}'):>7} {number(err, '{:.1f}'):>6} "
        f"{number(pod.rate_429, '{:.2f}'):>6} {number(p99, '{:.0f}'):>6} "
        f"{_age(pod, now):>5}"
    )


def pod_lines(a: ApiStatus, now: datetime, steady: Steady | None = None) -> list[str]:
    """'sum of 2 of 3 pods', a header and one line per pod, busiest first (failed pods last).

    With `steady` (the pane's own for its pods: names of pods gone are forgotten), each pod's
    req/s and p99 are shown, and ordered, by the rule of
    `widgets.panes.steady`: jitter neither changes the numbers nor swaps two equally busy pods.
    """
    if a.pods_scraped is None:
        return []
    steady = steady or Steady()
    steady.forget_except({f"pod {p.name} {what}" for p in a.pods for what in ("req/s", "p99")})
    answered = sum(1 for p in a.pods if p.ok)
    lines = [
        f"pods: sum of {a.pods_in_sum or 0} of {a.pods_scraped} pods"
        + (f" ({a.pods_scraped - answered} failed)" if answered < a.pods_scraped else ""),
        HEADER,
    ]
    shown = {
        p.name: (
            steady.value(f"pod {p.name} req/s", p.request_rate, RATE_PER_S),
            steady.value(f"pod {p.name} p99", p.p99_ms, LATENCY_MS),
        )
        for p in a.pods
    }
    ordered = sorted(a.pods, key=lambda p: (not p.ok, -(shown[p.name][0] or 0.0), p.name))
    # each pod's age as of the collection that read it (not of this redraw): a pod scraped by
    # every collection stays at "0s", one whose scrapes fail shows how old its numbers are
    at = a.collected_at or now
    return lines + [_row(p, at, *shown[p.name]) for p in ordered]
