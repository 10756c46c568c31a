"""The API figures from Prometheus (`[prometheus] url`): PromQL per pod, summed, instead of
scraping /metrics; and, at start, the trends back-filled from `query_range` over the history.

Queries come from `[prometheus.queries]` or the built-in ones below, written with the
placeholders `{selector}` (the API pods' label matcher), `{requests}`, `{status}`, `{latency}`,
`{rate_limited}` (the [api.metrics] names) and `{window}` (`rate_window`). A query that fails is
named with Prometheus' own words; `requests_by_pod` returning nothing is an error naming the
query (nothing else can be computed), another query returning nothing is a note (no 5xx series
yet means no 5xx; no histogram means no latency).

The back-fill also asks for the pods' CPU and memory as % of their limits, from cAdvisor's
container series over kube-state-metrics' limits (`cpu_percent`, `memory_percent`): the pods
pane's trends then open with history too. A back-fill query that fails or returns nothing is a
note naming the trend and the query, kept while the trend's window still holds that gap.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from datetime import UTC, datetime

from cockpit.config import KubernetesConfig, MetricNames, PrometheusConfig
from cockpit.models import ApiPodMetrics, utcnow
from cockpit.sources.podscrape import PodsScrape
from cockpit.sources.prometheus import Answer, PromClient, PromError
from cockpit.sources.promrates import Rates

DEFAULT_QUERIES: dict[str, str] = {
    "requests_by_pod": "sum by (pod) (rate({requests}{{selector}}[{window}]))",
    "errors_by_pod": 'sum by (pod) (rate({requests}{{selector},{status}=~"5.."}[{window}]))',
    "rate_429_by_pod": 'sum by (pod) (rate({requests}{{selector},{status}="429"}[{window}]))',
    "p99_by_pod": "histogram_quantile(0.99, sum by (pod, le) "
    "(rate({latency}_bucket{{selector}}[{window}])))",
    "latency_p50": "histogram_quantile(0.5, sum by (le) "
    "(rate({latency}_bucket{{selector}}[{window}])))",
    "latency_p95": "histogram_quantile(0.95, sum by (le) "
    "(rate({latency}_bucket{{selector}}[{window}])))",
    "latency_p99": "histogram_quantile(0.99, sum by (le) "
    "(rate({latency}_bucket{{selector}}[{window}])))",
    "rate_limited": "sum(rate({rate_limited}{{selector}}[{window}]))",
}
# back-fill only (range queries at start): the pods' usage against their limits
USAGE_QUERIES: dict[str, str] = {
    "cpu_percent": "100 * sum(rate(container_cpu_usage_seconds_total"
    '{{selector},container!="",container!="POD"}[{window}])) / '
    'sum(kube_pod_container_resource_limits{{selector},resource="cpu"})',
    "memory_percent": "100 * sum(container_memory_working_set_bytes"
    '{{selector},container!="",container!="POD"}) / '
    'sum(kube_pod_container_resource_limits{{selector},resource="memory"})',
}
ESSENTIAL = "requests_by_pod"
# trend name in CockpitState -> (query, scale): back-filled at start
BACKFILL = {
    "api.request_rate": ("sum({requests_by_pod})", 1.0),
    "api.error_ratio": ("sum({errors_by_pod}) / sum({requests_by_pod})", 100.0),
    "api.rate_429": ("sum({rate_429_by_pod})", 1.0),
    "kube.cpu_percent": ("{cpu_percent}", 1.0),
    "kube.memory_percent": ("{memory_percent}", 1.0),
}
MAX_POINTS = 500  # per back-filled trend (Prometheus refuses more than 11,000)


def default_selector(kube: KubernetesConfig | None) -> str:
    """`namespace="ns",pod=~"deployment-.*"` from the Kubernetes section (pod=~".+" without)."""
    if kube is None:
        return 'pod=~".+"'
    parts = [f'namespace="{kube.namespace}"'] if kube.namespace else []
    return ",".join([*parts, f'pod=~"{kube.deployment}-.*"'])


def render_queries(
    cfg: PrometheusConfig, names: MetricNames, kube: KubernetesConfig | None
) -> dict[str, str]:
    """Every query with its placeholders filled in."""
    values = {
        "{selector}": cfg.selector or default_selector(kube),
        "{requests}": names.requests_total,
        "{status}": names.status_label,
        "{latency}": names.latency_histogram,
        "{rate_limited}": names.rate_limited_total,
        "{window}": cfg.rate_window,
    }
    out: dict[str, str] = {}
    for name, default in {**DEFAULT_QUERIES, **USAGE_QUERIES}.items():
        text = getattr(cfg.queries, name) or default
        for key, value in values.items():
            text = text.replace(key, value)
        out[name] = text
    return out


def _by_pod(answer: Answer | None) -> dict[str, float]:
    if answer is None:
        return {}
    return {s.labels.get("pod", ""): s.value for s in answer.samples}


def _one(answer: Answer | None) -> float | None:
    return answer.samples[0].value if answer is not None and answer.samples else None


class PromMetrics:
    """Runs the queries for one collect; back-fills the trends once."""

    def __init__(
        self,
        cfg: PrometheusConfig,
        names: MetricNames,
        kube: KubernetesConfig | None,
        history_minutes: int,
        step: float = 2.0,
    ) -> None:
        self.cfg = cfg
        self.step = step  # the back-filled points' spacing: the refresh interval
        rendered = render_queries(cfg, names, kube)
        self.queries = {k: v for k, v in rendered.items() if k in DEFAULT_QUERIES}  # each poll
        self.usage_queries = {k: v for k, v in rendered.items() if k in USAGE_QUERIES}
        self.history_minutes = history_minutes
        self._client: PromClient | None = None
        self._backfilled = False
        self._backfill_notes: tuple[str, ...] = ()
        self._notes_until = 0.0  # monotonic: the back-filled window has scrolled away then

    def client(self) -> PromClient:
        """The HTTP client, built on first use (a bad CA file raises here, in collect)."""
        if self._client is None:
            self._client = PromClient(self.cfg)
        return self._client

    async def _run(self, name: str) -> Answer | PromError:
        try:
            return await self.client().query(self.queries[name])
        except PromError as exc:
            return exc

    async def scrape(self) -> PodsScrape:
        """The API figures now, per pod and summed."""
        names = list(self.queries)
        try:
            results = dict(
                zip(names, await asyncio.gather(*(self._run(n) for n in names)), strict=True)
            )
        except (OSError, ValueError) as exc:  # a CA file that cannot be read
            return PodsScrape(ok=False, error=f"Prometheus: {exc}")
        notes: list[str] = []
        answers: dict[str, Answer] = {}
        for name, result in results.items():
            if isinstance(result, PromError):
                notes.append(f"{name}: {result}")
                continue
            answers[name] = result
            notes += [f"{name}: warning: {w}" for w in result.warnings]
            if not result.samples and name != ESSENTIAL:
                notes.append(f"query {name} returned nothing: {self.queries[name]}")
        requests = answers.get(ESSENTIAL)
        if requests is None:  # every other query failing the same way says nothing more
            return PodsScrape(
                ok=False, error=f"Prometheus: {notes[0]}", notes=tuple(notes[1:]) if answers else ()
            )
        if not requests.samples:
            return PodsScrape(
                ok=False,
                error=f"Prometheus: query {ESSENTIAL} returned nothing: {self.queries[ESSENTIAL]}",
                notes=tuple(notes),
            )
        return self._figures(answers, tuple(notes))

    def _figures(self, answers: Mapping[str, Answer], notes: tuple[str, ...]) -> PodsScrape:
        req, err = _by_pod(answers.get("requests_by_pod")), _by_pod(answers.get("errors_by_pod"))
        r429, p99 = _by_pod(answers.get("rate_429_by_pod")), _by_pod(answers.get("p99_by_pod"))
        now = utcnow()
        rows = tuple(
            ApiPodMetrics(
                pod,
                ok=True,
                last_scraped_at=now,
                request_rate=rate,
                rate_5xx=err.get(pod, 0.0),
                error_ratio=err.get(pod, 0.0) / rate if rate > 0 else None,
                rate_429=r429.get(pod, 0.0),
                p99_ms=None if pod not in p99 else p99[pod] * 1000.0,
            )
            for pod, rate in sorted(req.items())
        )
        total, total_5xx = sum(req.values()), sum(err.get(p, 0.0) for p in req)
        latency = {
            key: v * 1000.0
            for key in ("p50", "p95", "p99")
            if (v := _one(answers.get(f"latency_{key}"))) is not None
        }
        rates = Rates(
            request_rate=total,
            rate_by_class={"5xx": total_5xx},
            rate_429=sum(r429.get(p, 0.0) for p in req),
            rate_limited_rate=_one(answers.get("rate_limited")),
            error_ratio=total_5xx / total if total > 0 else None,
            latency_ms=latency,
        )
        return PodsScrape(ok=True, rates=rates, pods=rows, pods_in_sum=len(rows), notes=notes)

    def backfill_promql(self, trend: str) -> str:
        """The range query that back-fills `trend` (a key of BACKFILL)."""
        promql = BACKFILL[trend][0]
        for name, text in {**self.queries, **self.usage_queries}.items():
            promql = promql.replace("{" + name + "}", text)
        return promql

    async def backfill(self) -> dict[str, tuple[tuple[datetime, float], ...]]:
        """Once: the API's and the pods' trends over the last history_minutes from query_range;
        {} afterwards. A trend Prometheus cannot fill grows from now, as without it, and says
        why in `backfill_notes`."""
        if self._backfilled:
            return {}
        self._backfilled = True
        end = time.time()
        start = end - self.history_minutes * 60.0
        step = max(self.step, (end - start) / MAX_POINTS)
        out: dict[str, tuple[tuple[datetime, float], ...]] = {}
        notes: list[str] = []
        for trend, (_, scale) in BACKFILL.items():
            promql = self.backfill_promql(trend)
            try:
                answer = await self.client().query_range(promql, start, end, step)
            except PromError as exc:
                notes.append(f"back-fill {trend}: {exc}")
                continue
            notes += [f"back-fill {trend}: warning: {w}" for w in answer.warnings]
            points = answer.series[0].points if answer.series else ()
            if not points:
                notes.append(f"back-fill {trend}: query returned nothing: {promql}")
                continue
            out[trend] = tuple((datetime.fromtimestamp(at, UTC), v * scale) for at, v in points)
        self._backfill_notes = tuple(notes)
        self._notes_until = time.monotonic() + self.history_minutes * 60.0
        return out

    def backfill_notes(self) -> tuple[str, ...]:
        """What the back-fill could not fill, while the trends' window still shows that gap."""
        return self._backfill_notes if time.monotonic() < self._notes_until else ()

    async def aclose(self) -> None:
        """Close the client."""
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()
