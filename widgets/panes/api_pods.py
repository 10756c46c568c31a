"""The API pane's per-pod table (scrape = "pods" or [prometheus]): req/s, 5xx %, 429/s, p99,
scrape age and how the scrape went, one row per pod keyed by its name; and the pod's detail."""

from __future__ import annotations

from datetime import datetime

from cockpit.models import ApiPodMetrics, ApiStatus
from cockpit.state import SourceView
from widgets.panes.common import Cell, number, utc_time
from widgets.panes.steady import LATENCY_MS, RATE_PER_S, Steady

NAME_WIDTH = 24  # cells of the Pod column: longer names keep their end (the part that differs)

COLUMNS = (
    ("name", "Pod"),
    ("rate", "Req/s"),
    ("err", "5xx%"),
    ("r429", "429/s"),
    ("p99", "p99ms"),
    ("age", "Age"),
    ("scrape", "Scrape"),
)
# left out first as the pane narrows: the name, the rate and how the scrape went always show
DROP_FIRST = ("age", "p99", "r429", "err")


def pod_name(name: str, width: int = NAME_WIDTH) -> str:
    """A pod name cut at the front: replica set pods differ only in their suffix."""
    return name if len(name) <= width else "…" + name[-(width - 1) :]


def scrape_age(pod: ApiPodMetrics, now: datetime) -> float | None:
    """Seconds since the pod's last scrape that answered (None: it never answered)."""
    if pod.last_scraped_at is None:
        return None
    return max((now - pod.last_scraped_at).total_seconds(), 0.0)


def _age_text(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    return f"{seconds:.0f}s" if seconds < 120 else f"{seconds / 60:.0f}m"


def scrape_word(pod: ApiPodMetrics) -> str:
    """How the pod's scrape went: 'ok', 'first sample' (no rate yet), 'restarted' (its counters
    went backwards) or 'failed: <the reason's first words>' (in full in the detail)."""
    if not pod.ok:
        return f"failed: {(pod.error or 'no answer').split(':')[0]}"
    if pod.counters_reset:
        return "restarted"
    if pod.request_rate is None:
        return "first sample"
    return "ok"


def _error_percent(pod: ApiPodMetrics) -> float | None:
    return None if pod.error_ratio is None else 100.0 * pod.error_ratio


def pod_cells(pod: ApiPodMetrics, now: datetime, steady: Steady | None = None) -> dict[str, Cell]:
    """One pod's row: each cell sorts by its value (a failed pod's missing figures last).

    With `steady` (the pane's own for its pods), the req/s and p99 are shown, and sorted, by the
    rule of `widgets.panes.steady`: jitter neither changes the numbers nor swaps two equally
    busy pods."""
    err, age, word = _error_percent(pod), scrape_age(pod, now), scrape_word(pod)
    style = "bold red" if not pod.ok else "yellow" if pod.counters_reset else ""
    rate, p99 = pod.request_rate, pod.p99_ms
    if steady is not None:
        rate = steady.value(f"pod {pod.name} req/s", rate, RATE_PER_S)
        p99 = steady.value(f"pod {pod.name} p99", p99, LATENCY_MS)
    return {
        "name": Cell(pod_name(pod.name), pod.name),
        "rate": Cell(number(rate, "{:.1f}"), rate),
        "err": Cell(number(err, "{:.1f}"), err),
        "r429": Cell(number(pod.rate_429, "{:.2f}"), pod.rate_429),
        "p99": Cell(number(p99, "{:.0f}"), p99),
        "age": Cell(_age_text(age), age),
        "scrape": Cell(word, word, style),
    }


def sum_line(a: ApiStatus) -> str:
    """'pods: sum of 2 of 3 pods (1 failed)', or '' when the API is not read per pod."""
    if a.pods_scraped is None:
        return ""
    failed = sum(1 for p in a.pods if not p.ok)
    return f"pods: sum of {a.pods_in_sum or 0} of {a.pods_scraped} pods" + (
        f" ({failed} failed)" if failed else ""
    )


def pod_detail(pod: ApiPodMetrics, now: datetime) -> tuple[str, str]:
    """(title, text) of one pod's figures and, for a failed scrape, the reason in full."""
    err = _error_percent(pod)
    lines = [
        f"requests {number(pod.request_rate, '{:.2f}')}/s   "
        f"5xx {number(pod.rate_5xx, '{:.2f}')}/s ({number(err, '{:.2f}')} %)   "
        f"429 {number(pod.rate_429, '{:.2f}')}/s",
        f"p99 latency {number(pod.p99_ms, '{:.0f} ms')}",
        f"scrape: {scrape_word(pod)}",
        f"last answered {utc_time(pod.last_scraped_at)} ({_age_text(scrape_age(pod, now))} ago)",
    ]
    if not pod.ok:
        lines += ["", f"reason: {pod.error or 'no answer'}"]
    if pod.counters_reset:
        lines += ["", "its counters went backwards: the container restarted; its rate starts"]
        lines.append("again at its next sample")
    if pod.ok and pod.request_rate is None and not pod.counters_reset:
        lines += ["", "one sample so far: its rates start at its second sample"]
    return f"API pod {pod.name}", "\n".join(lines)


def request_rates(view: SourceView) -> dict[str, float | None]:
    """Each pod's req/s by name while the API is read per pod and its data fresh; {} when it
    is read from one URL, not yet read or stale (a pod shows `-` then, never an old rate)."""
    api = view.snapshot
    if view.failure is not None or not isinstance(api, ApiStatus) or api.pods_scraped is None:
        return {}
    return {p.name: p.request_rate if p.ok else None for p in api.pods}
