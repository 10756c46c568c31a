"""API pane: /health, request rate, 5xx ratio, 429 rate and latency, with error/429 trends;
read per pod (scrape = "pods" or [prometheus]), a sortable table of the pods under them."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from textual.app import ComposeResult
from textual.widget import Widget

from cockpit.models import ApiPodMetrics, ApiStatus
from widgets.paint import paint
from widgets.panes import api_pods
from widgets.panes.base import FocusableStatic
from widgets.panes.common import number, short, trend_line
from widgets.panes.steady import LATENCY_MS, RATE_PER_S, Steady
from widgets.panes.table import Row, TablePane


def health_word(a: ApiStatus) -> str:
    """'healthy', or 'DOWN' with the short cause first: 'DOWN (HTTP 401)', 'DOWN (not JSON)'."""
    if a.health_ok:
        return "healthy"
    if a.health_error:
        return f"DOWN ({short(a.health_error, 28)})"
    if a.health_status_code is not None and 200 <= a.health_status_code < 300:
        return "DOWN (not JSON)"
    if a.health_status_code is not None:
        return f"DOWN (HTTP {a.health_status_code})"
    return "DOWN"


def _latency(a: ApiStatus, steady: Steady) -> str:
    parts = [
        f"{k} {steady.value(f'api.{k}', a.latency_ms[k], LATENCY_MS):.0f}ms"
        for k in ("p50", "p95", "p99")
        if k in a.latency_ms
    ]
    return " ".join(parts) or "-"


class ApiPane(TablePane[ApiStatus]):
    """The API's health and traffic, and each pod's share of it when read per pod."""

    source = "api"
    title = "API"
    number = 5
    COLUMNS = api_pods.COLUMNS
    DEFAULT_SORT = ("rate", True)  # the busiest pod first; failed pods (no rate) last
    DROP_FIRST = api_pods.DROP_FIRST
    FLEX = "scrape"
    FLEX_MIN = 26  # 'failed: connection refused' whole matters more than the p99 column

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._rows_at: datetime | None = None  # the `now` of the rows shown (the detail's ages)
        # req/s and latencies as shown: they move on screen when they move by a band
        self.steady = Steady()
        self.pod_steady = Steady()  # the pods' own, which forgets pods that went away

    def _rate_and_health(self, a: ApiStatus) -> tuple[float | None, float | None]:
        """The request rate and the /health latency to show (`widgets.panes.steady`)."""
        return (
            self.steady.value("api.request_rate", a.request_rate, RATE_PER_S),
            self.steady.value("api.health_ms", a.health_latency_ms, LATENCY_MS),
        )

    def compose_body(self) -> ComposeResult:
        yield FocusableStatic(classes="figures")
        yield from self.compose_table()

    def on_mount(self) -> None:
        super().on_mount()
        self.table.display = False  # until the API is read per pod

    def focus_target(self) -> Widget:
        table = self.table
        return table if table.display else self.query_one(".figures", FocusableStatic)

    def summarize(self, a: ApiStatus, trends: dict[str, list[float]]) -> str:
        health = health_word(a)
        err = number(None if a.error_ratio is None else 100 * a.error_ratio, "{:.1f}%")
        rate, health_ms = self._rate_and_health(a)
        return (
            f"{health} · {number(rate, '{:.1f}')} req/s · 5xx {err} · "
            f"429 {number(a.rate_429, '{:.1f}')}/s · {number(health_ms, '{:.0f}')}ms"
        )

    def render_body(self, a: ApiStatus, now: datetime, trends: dict[str, list[float]]) -> None:
        errors = trends.get("api.error_ratio") or []
        limited = trends.get("api.rate_429") or []
        code = a.health_status_code if a.health_status_code is not None else "-"
        health = "healthy" if a.health_ok else "DOWN"
        err = number(None if a.error_ratio is None else 100 * a.error_ratio, "{:.2f}%")
        rate, health_ms = self._rate_and_health(a)
        lines = [
            f"/health {health} ({code}, {number(health_ms, '{:.0f}')} ms) "
            f"{short(a.health_error or a.health_summary, 50)}",
            f"requests {number(rate, '{:.1f}')}/s   5xx {err}   "
            f"429 {number(a.rate_429, '{:.2f}')}/s",
            f"latency {_latency(a, self.steady)}",
            f"5xx 15m {trend_line(errors, 30, fmt='{:.1f}')}" if errors else "5xx 15m: collecting",
            f"429 15m {trend_line(limited, 30, fmt='{:.1f}')}"
            if limited
            else "429 15m: collecting",
        ]
        if not a.metrics_ok:
            lines.append(f"metrics: {a.metrics_error or 'unavailable'}")
        if a.counters_reset:
            lines.append("counters went backwards: the API restarted")
        lines += [f"prometheus: {short(note, 68)}" for note in a.metrics_notes[:3]]
        per_pod = api_pods.sum_line(a)  # scrape = "pods" or [prometheus]
        if per_pod:
            lines.append(per_pod)
        figures = self.query_one(".figures", FocusableStatic)
        paint(figures, "\n".join(lines))
        table = self.table
        if bool(per_pod) != table.display:
            table.display = bool(per_pod)
            if table.display and figures.has_focus:
                table.focus()  # the pane's keys (sort, enter) act on the table from now on
        self._rows_at = now
        super().render_body(a, now, trends)

    def rows(self, a: ApiStatus, now: datetime) -> Iterable[Row]:
        steady = self.pod_steady
        steady.forget_except({f"pod {p.name} {what}" for p in a.pods for what in ("req/s", "p99")})
        for pod in a.pods:
            yield pod.name, pod, api_pods.pod_cells(pod, now, steady)

    def detail(self, key: str) -> tuple[str, str] | None:
        pod: ApiPodMetrics | None = self.items.get(key)
        at = self._rows_at
        if pod is None or at is None:
            return None
        return api_pods.pod_detail(pod, at)
