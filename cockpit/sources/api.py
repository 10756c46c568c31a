"""The HTTP API: `/health` (status, latency, a summary of a JSON body) and `/metrics` (parsed with
prometheus_client's parser; counters turned into rates between this scrape and the previous one).

An API that answered anything (even 503, or garbage on /metrics) is an `ApiStatus`; only when no
request got an HTTP response at all (refused, timed out, TLS failure) is it a `SourceFailure`.
`health_error` is set only when /health got no HTTP response; a 503 shows as `health_ok=False`
with its status code and body summary. The optional Authorization header is sent and never
logged or put into an error.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

import httpx

from cockpit.config import ApiConfig, ThresholdsConfig, mask_dsn
from cockpit.models import ApiPodMetrics, ApiStatus, SourceFailure, utcnow
from cockpit.sources.base import describe_error, error_detail, guarded
from cockpit.sources.fields import as_items, as_mapping, as_text, get, is_object, text
from cockpit.sources.promrates import Rates, Scrape, compute_rates, parse_scrape

if TYPE_CHECKING:
    from cockpit.sources.podscrape import PodScraper
    from cockpit.sources.prommetrics import PromMetrics

_OK_WORDS = {"ok", "pass", "passed", "up", "healthy", "green", "true"}


@dataclass(frozen=True)
class _Health:
    answered: bool
    status_code: int | None = None
    latency_ms: float | None = None
    summary: str = ""
    error: str | None = None
    detail: str = ""  # the full transport error, for the pane's detail view
    not_json: bool = False  # a health document expected as JSON that was not


@dataclass(frozen=True)
class _Metrics:
    answered: bool
    ok: bool = False
    error: str | None = None
    rates: Rates = Rates()
    interval: float | None = None  # seconds since the previous good scrape
    pods: tuple[ApiPodMetrics, ...] = ()  # scrape = "pods" only
    pods_scraped: int | None = None
    pods_in_sum: int | None = None
    notes: tuple[str, ...] = ()
    trend_history: dict[str, tuple[tuple[datetime, float], ...]] = field(default_factory=dict)


def _word_ok(value: object) -> bool:
    if isinstance(value, bool):
        return value
    return as_text(value).strip().lower() in _OK_WORDS


def _check_ok(check: object) -> bool:
    """One entry of a health body's checks: `true`, `"ok"`, `{"ok": true}`, `{"status": "up"}`."""
    if is_object(check):
        if get(check, "ok") is not None:
            return _word_ok(get(check, "ok"))
        return _word_ok(get(check, "status"))
    return _word_ok(check)


def summarize_health(body: object) -> str:
    """'ok' or 'down; failing: cache (ConnectionError: ...)' from a JSON health body."""
    if not is_object(body):
        return _one_line(json.dumps(body, ensure_ascii=False))
    doc = as_mapping(body)
    status = get(doc, "status")
    parts = [as_text(status) or json.dumps(status)] if "status" in doc else []
    raw_checks = get(doc, "checks")
    checks: dict[str, object]
    if is_object(raw_checks):
        checks = dict(as_mapping(raw_checks))
    else:  # [{"name": ..., "status": ...}, ...]
        checks = {text(c, "name") or str(i): c for i, c in enumerate(as_items(raw_checks))}
    failing: list[str] = []
    for name, check in checks.items():
        if not _check_ok(check):
            why = get(check, "error")
            failing.append(
                f"{name} ({_one_line(as_text(why) or json.dumps(why), 80)})"
                if why not in (None, "")
                else name
            )
    if failing:
        parts.append("failing: " + ", ".join(failing))
    return _one_line("; ".join(parts) or json.dumps(doc, ensure_ascii=False))


def _one_line(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


class ApiSource:
    """Polls the API's health and metrics concurrently, each request under a timeout."""

    name = "api"

    def __init__(
        self,
        cfg: ApiConfig,
        thresholds: ThresholdsConfig,
        *,
        timeout: float = 5.0,
        pods: PodScraper | None = None,
        prom: PromMetrics | None = None,
    ) -> None:
        self.cfg = cfg
        self.prom = prom  # [prometheus]: the figures from PromQL instead of any scrape
        self.pods = pods  # scrape = "pods": /metrics of every pod through the pod proxy
        self.thresholds = thresholds
        self.timeout = timeout
        # requests run in parallel; leave room inside `timeout` (the scheduler's limit too) so a
        # hanging /health is reported as such rather than the whole collection timing out
        self.request_timeout = min(cfg.timeout_seconds, timeout * 0.8)
        self._client: httpx.AsyncClient | None = None
        self._previous: tuple[float, Scrape] | None = None  # (monotonic time, scrape)

    def _new_client(self) -> httpx.AsyncClient:
        verify: bool | ssl.SSLContext = self.cfg.verify_tls
        if self.cfg.verify_tls and self.cfg.ca_file:
            verify = ssl.create_default_context(cafile=self.cfg.ca_file)
        headers = {"User-Agent": "predictiq-cockpit", "Accept": "text/plain, application/json"}
        if self.cfg.auth_header:
            headers["Authorization"] = self.cfg.auth_header
        return httpx.AsyncClient(
            base_url=self.cfg.base_url,
            verify=verify,
            headers=headers,
            timeout=httpx.Timeout(self.request_timeout),
            follow_redirects=False,
        )

    async def collect(self) -> ApiStatus | SourceFailure:
        """GET /health and /metrics; see the module docstring for what counts as a failure."""
        if self._client is None:
            try:
                self._client = self._new_client()
            except (OSError, ssl.SSLError) as exc:
                return SourceFailure(
                    self.name,
                    "configure",
                    f"cannot load CA file {self.cfg.ca_file}: {describe_error(exc)}",
                )
        return await guarded(
            self.name, f"GET {self.cfg.health_path}", self._collect(self._client), self.timeout
        )

    async def aclose(self) -> None:
        """Close the HTTP client's connections; safe to call twice."""
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()
        if self.pods is not None:
            await asyncio.to_thread(self.pods.close)
        if self.prom is not None:
            await self.prom.aclose()

    async def _collect(self, client: httpx.AsyncClient) -> ApiStatus | SourceFailure:
        if self.prom is not None:
            scrape_metrics = self._prom_metrics(self.prom)
        elif self.pods is not None:
            scrape_metrics = self._pod_metrics(self.pods)
        else:
            scrape_metrics = self._metrics(client)
        health, metrics = await asyncio.gather(self._health(client), scrape_metrics)
        if not health.answered and not metrics.answered:
            return SourceFailure(
                self.name,
                f"GET {self.cfg.health_path}",
                health.error or "no answer",
                detail=health.detail,
            )
        return ApiStatus(
            collected_at=utcnow(),
            base_url=mask_dsn(self.cfg.base_url),
            health_ok=(
                health.status_code is not None
                and 200 <= health.status_code < 300
                and not health.not_json
            ),
            health_status_code=health.status_code,
            health_latency_ms=health.latency_ms,
            health_summary=health.summary if health.answered else (health.error or ""),
            health_error=health.error,
            metrics_ok=metrics.ok,
            metrics_error=metrics.error,
            request_rate=metrics.rates.request_rate,
            rate_by_class=metrics.rates.rate_by_class,
            rate_429=metrics.rates.rate_429,
            rate_limited_rate=metrics.rates.rate_limited_rate,
            error_ratio=metrics.rates.error_ratio,
            latency_ms=metrics.rates.latency_ms,
            counters_reset=metrics.rates.counters_reset,
            metrics_interval_seconds=metrics.interval,
            pods=metrics.pods,
            pods_scraped=metrics.pods_scraped,
            pods_in_sum=metrics.pods_in_sum,
            metrics_notes=metrics.notes,
            trend_history=metrics.trend_history,
        )

    def _transport_error(self, exc: httpx.HTTPError) -> str:
        """One line for a request that got no HTTP response (never includes headers)."""
        if isinstance(exc, httpx.TimeoutException):
            return f"timed out after {self.request_timeout:g}s"
        if isinstance(exc, httpx.RemoteProtocolError):
            words = describe_error(exc)
            if "disconnected" in words.lower():
                return "connection closed by the server"
            return f"not an HTTP server: unreadable reply ({words})"
        cause: BaseException | None = exc
        seen: set[int] = set()
        # httpx wraps httpcore wraps anyio's "All connection attempts failed" wraps the OSError
        # (with an errno) or SSLError that says why
        while cause is not None and id(cause) not in seen:
            seen.add(id(cause))
            if isinstance(cause, ssl.SSLCertVerificationError):
                return f"TLS: {cause.verify_message or cause}"
            if isinstance(cause, ssl.SSLError) or (isinstance(cause, OSError) and cause.errno):
                return describe_error(cause)
            cause = cause.__cause__ or cause.__context__
        text = describe_error(exc)
        return "connection refused" if "connection refused" in text.lower() else text

    async def _health(self, client: httpx.AsyncClient) -> _Health:
        started = time.perf_counter()
        try:
            response = await client.get(self.cfg.health_path)
        except httpx.HTTPError as exc:
            return _Health(
                answered=False, error=self._transport_error(exc), detail=error_detail(exc)
            )
        latency = (time.perf_counter() - started) * 1000.0
        code = response.status_code
        try:
            summary = summarize_health(response.json())
        except ValueError:  # not JSON: say so first (a 200 from a proxy's page is not "healthy")
            kind = response.headers.get("content-type", "") or "no content type"
            words = _one_line(response.text, 80)
            if self.cfg.health_json and 200 <= code < 300:
                what = "HTML" if "html" in kind.lower() else f"not JSON ({kind})"
                return _Health(
                    True,
                    code,
                    latency,
                    f"HTTP {code} but {what}, not the JSON health document: {words}",
                    not_json=True,
                )
            summary = f"HTTP {code}: {words}" if words else f"HTTP {code}"
            return _Health(True, code, latency, summary)
        return _Health(True, code, latency, summary)

    async def _prom_metrics(self, prom: PromMetrics) -> _Metrics:
        result, history = await asyncio.gather(prom.scrape(), prom.backfill())
        return _Metrics(
            True,
            ok=result.ok,
            error=result.error,
            rates=result.rates,
            pods=result.pods,
            pods_scraped=len(result.pods) if result.ok else None,
            pods_in_sum=result.pods_in_sum if result.ok else None,
            notes=result.notes + prom.backfill_notes(),
            trend_history=history,
        )

    async def _pod_metrics(self, pods: PodScraper) -> _Metrics:
        result = await pods.scrape(self.request_timeout)
        return _Metrics(
            True,
            ok=result.ok,
            error=result.error,
            rates=result.rates,
            interval=result.interval,
            pods=result.pods,
            pods_scraped=len(result.pods),
            pods_in_sum=result.pods_in_sum,
        )

    async def _metrics(self, client: httpx.AsyncClient) -> _Metrics:
        path = self.cfg.metrics_path
        if not path:
            return _Metrics(answered=False, error="not configured")
        try:
            response = await client.get(path)
        except httpx.HTTPError as exc:
            return _Metrics(answered=False, error=f"GET {path}: {self._transport_error(exc)}")
        if response.status_code != 200:
            return _Metrics(True, error=f"GET {path}: HTTP {response.status_code}")
        content_type = response.headers.get("content-type", "")
        if "html" in content_type.lower():
            return _Metrics(
                True, error=f"GET {path} returned HTML ({content_type}), not Prometheus text"
            )
        try:
            # a big exposition takes a while to parse: keep it off the event loop
            scrape = await asyncio.to_thread(parse_scrape, response.text)
        except ValueError as exc:
            return _Metrics(
                True, error=f"GET {path}: not Prometheus text format ({_one_line(str(exc), 100)})"
            )
        if not scrape.names:
            return _Metrics(True, error=f"GET {path}: no metrics in the response")
        now = time.monotonic()
        previous, self._previous = self._previous, (now, scrape)
        interval = now - previous[0] if previous else None
        names = self.cfg.metrics
        rates = compute_rates(
            previous[1] if previous else None,
            scrape,
            interval,
            requests=names.requests_total,
            status_label=names.status_label,
            rate_limited=names.rate_limited_total,
            latency=names.latency_histogram,
        )
        return _Metrics(True, ok=True, rates=rates, interval=interval)
