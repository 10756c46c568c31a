"""`[api.metrics] scrape = "pods"`: every pod of the deployment scraped through the API server's
pod proxy, so N replicas behind a Service are N series, not one that jumps between pods.

`GET /api/v1/namespaces/{ns}/pods/{pod}:{port}/proxy{metrics_path}` with the Kubernetes source's
client setup (kubeconfig, context, auth, `request_timeout_seconds`), all pods at once, each request
under its own timeout. Rates are computed per pod from that pod's own previous sample (by uid), then
summed: a new pod joins the sum at its second sample, a vanished pod is forgotten (never read as
a counter reset), a pod whose scrape fails is listed with the reason and left out of the sum,
which says how many pods it covers. Latency quantiles come from every pod's bucket increases
together, as PromQL's `histogram_quantile(sum by (le) (rate(...)))` does.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote

from cockpit.config import KubernetesConfig, MetricNames
from cockpit.models import ApiPodMetrics, utcnow
from cockpit.sources import fields
from cockpit.sources.promrates import Rates, Scrape, compute_rates, parse_scrape

PORT_NAMES = ("metrics", "http")  # container port names tried, in order, without [api.metrics] port


@dataclass(frozen=True)
class PodTarget:
    """A running pod and the port its metrics are read on (None: no port found)."""

    uid: str
    name: str
    port: int | None


@dataclass(frozen=True)
class PodsScrape:
    """One round over the pods: the summed rates, each pod's figures, and what went wrong."""

    ok: bool
    error: str | None = None
    rates: Rates = Rates()
    interval: float | None = None
    pods: tuple[ApiPodMetrics, ...] = ()
    pods_in_sum: int = 0
    notes: tuple[str, ...] = ()  # what else went wrong (Prometheus: failed or empty queries)


@dataclass
class _PodState:
    previous: tuple[float, Scrape] | None = None  # (monotonic time, scrape) of its last answer
    last_ok: datetime | None = None


def metrics_port(pod: Mapping[str, object], configured: int) -> int | None:
    """`configured` if set, else the first container port named metrics, else http."""
    if configured:
        return configured
    ports: dict[str, int] = {}
    for container in fields.items(fields.mapping(pod, "spec"), "containers"):
        for port in fields.items(container, "ports"):
            number = fields.optional_integer(port, "containerPort")
            name = fields.text(port, "name")
            if number is not None and name and name not in ports:
                ports[name] = number
    return next((ports[n] for n in PORT_NAMES if n in ports), None)


def running_targets(pod_list: Mapping[str, object], configured_port: int) -> list[PodTarget]:
    """The pods that serve traffic (Running, with an IP, not being deleted), sorted by name."""
    out: list[PodTarget] = []
    for pod in fields.items(pod_list, "items"):
        meta, status = fields.mapping(pod, "metadata"), fields.mapping(pod, "status")
        if (
            fields.text(status, "phase") != "Running"
            or not fields.text(status, "podIP")
            or fields.optional_text(meta, "deletionTimestamp")
        ):
            continue
        out.append(
            PodTarget(
                fields.text(meta, "uid") or fields.text(meta, "name"),
                fields.text(meta, "name"),
                metrics_port(pod, configured_port),
            )
        )
    return sorted(out, key=lambda t: t.name)


def _status_message(exc: BaseException) -> str:
    """The `message` of a Kubernetes Status body, or ''."""
    body = getattr(exc, "body", None)
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    if not isinstance(body, str) or not body:
        return ""
    try:
        return fields.text(json.loads(body), "message")
    except ValueError:
        return " ".join(body.split())[:160]


def scrape_error(exc: BaseException, namespace: str) -> str:
    """One line for a failed pod proxy request, naming the missing permission on a 403."""
    from kubernetes.client.exceptions import ApiException

    from cockpit.sources.kube.watch import error_text

    if isinstance(exc, ApiException):
        status: object = getattr(exc, "status", None)
        code = status if isinstance(status, int) else None
        if code == 403:
            return f'forbidden: the cockpit\'s user needs "get pods/proxy" in namespace {namespace}'
        message = _status_message(exc)
        return f"HTTP {code}: {message}" if message else error_text(exc)
    return error_text(exc)


def _sum_rates(per_pod: list[Rates]) -> tuple[float, dict[str, float], float, float | None]:
    total, n429 = 0.0, 0.0
    by_class: dict[str, float] = {}
    limited: float | None = None
    for r in per_pod:
        total += r.request_rate or 0.0
        for cls, v in r.rate_by_class.items():
            by_class[cls] = by_class.get(cls, 0.0) + v
        n429 += r.rate_429 or 0.0
        if r.rate_limited_rate is not None:
            limited = (limited or 0.0) + r.rate_limited_rate
    return total, by_class, n429, limited


def _labelled(scrapes: list[tuple[str, Scrape]]) -> Scrape:
    """Several pods' scrapes as one, each series labelled with its pod (so none collide)."""
    samples: dict[Any, float] = {}
    names: set[str] = set()
    for pod, scrape in scrapes:
        names |= scrape.names
        for (name, labels), value in scrape.samples.items():
            samples[(name, tuple(sorted((*labels, ("pod", pod)))))] = value
    return Scrape(samples, frozenset(names))


class PodScraper:
    """Scrapes the deployment's pods through the pod proxy; keeps each pod's previous sample."""

    def __init__(self, cfg: KubernetesConfig, metrics_path: str, names: MetricNames) -> None:
        self.cfg, self.metrics_path, self.names = cfg, metrics_path or "/metrics", names
        self.namespace = ""
        self._raw: Any = None  # RawApi, built in a thread on the first scrape
        self._api_client: Any = None
        self._state: dict[str, _PodState] = {}

    def _start(self) -> None:
        from cockpit.sources.kube.client import new_api_client, resolve_target
        from cockpit.sources.kube.http import RawApi

        self.namespace = resolve_target(self.cfg).namespace
        self._api_client = new_api_client(self.cfg)
        self._raw = RawApi(self._api_client)

    def _timeout(self, limit: float) -> float:
        return min(self.cfg.request_timeout_seconds, limit)

    def _list(self, timeout: float) -> list[PodTarget]:
        query = [("labelSelector", self.cfg.selector)] if self.cfg.selector else []
        body = self._raw.get_json(
            f"/api/v1/namespaces/{quote(self.namespace, safe='')}/pods", query, timeout
        )
        return running_targets(body, self.names.port)

    def _get_metrics(self, target: PodTarget, timeout: float) -> str:
        path = (
            f"/api/v1/namespaces/{quote(self.namespace, safe='')}/pods/"
            f"{quote(target.name, safe='')}:{target.port}/proxy{self.metrics_path}"
        )
        resp = self._raw.request("GET", path, timeout=timeout)
        try:
            return resp.data.decode("utf-8", "replace")
        finally:
            resp.release_conn()

    async def _one(self, target: PodTarget, timeout: float) -> tuple[float, Scrape] | str:
        if target.port is None:
            return "no container port named metrics or http: set [api.metrics] port"
        try:
            body = await asyncio.wait_for(
                asyncio.to_thread(self._get_metrics, target, timeout), timeout + 0.5
            )
            scrape = await asyncio.to_thread(parse_scrape, body)
        except TimeoutError:
            return f"timed out after {timeout:g}s"
        except ValueError as exc:
            return f"not Prometheus text format ({' '.join(str(exc).split())[:100]})"
        except Exception as exc:  # one pod's failure is that pod's row
            return scrape_error(exc, self.namespace)
        if not scrape.names:
            return "no metrics in the response"
        return time.monotonic(), scrape

    async def scrape(self, limit: float) -> PodsScrape:
        """One round: list the pods, scrape each (concurrently, `limit` s at most each), sum."""
        timeout = self._timeout(limit)
        try:
            if self._raw is None:
                await asyncio.to_thread(self._start)
            targets = await asyncio.wait_for(asyncio.to_thread(self._list, timeout), timeout + 0.5)
        except Exception as exc:  # reported as the metrics error
            from cockpit.sources.kube.watch import error_text

            what = "timed out" if isinstance(exc, TimeoutError) else error_text(exc)
            return PodsScrape(ok=False, error=f"list pods: {what}")
        answers = await asyncio.gather(*(self._one(t, timeout) for t in targets))
        return self._combine(targets, answers)

    def _combine(
        self, targets: list[PodTarget], answers: list[tuple[float, Scrape] | str]
    ) -> PodsScrape:
        n = self.names
        live = {t.uid for t in targets}
        self._state = {uid: s for uid, s in self._state.items() if uid in live}  # vanished: gone
        rows: list[ApiPodMetrics] = []
        summed: list[Rates] = []
        intervals: list[float] = []
        prev_pairs: list[tuple[str, Scrape]] = []
        cur_pairs: list[tuple[str, Scrape]] = []
        now = utcnow()
        for target, answer in zip(targets, answers, strict=True):
            state = self._state.setdefault(target.uid, _PodState())
            if isinstance(answer, str):
                rows.append(
                    ApiPodMetrics(
                        target.name, ok=False, error=answer, last_scraped_at=state.last_ok
                    )
                )
                continue
            at, scrape = answer
            previous, state.previous, state.last_ok = state.previous, answer, now
            seconds = at - previous[0] if previous else None
            rates = compute_rates(
                previous[1] if previous else None,
                scrape,
                seconds,
                requests=n.requests_total,
                status_label=n.status_label,
                rate_limited=n.rate_limited_total,
                latency=n.latency_histogram,
            )
            if previous and seconds and not rates.counters_reset and rates.request_rate is not None:
                summed.append(rates)
                intervals.append(seconds)
                prev_pairs.append((target.name, previous[1]))
                cur_pairs.append((target.name, scrape))
            rows.append(
                ApiPodMetrics(
                    target.name,
                    ok=True,
                    last_scraped_at=now,
                    request_rate=rates.request_rate,
                    rate_5xx=rates.rate_by_class.get("5xx", 0.0)
                    if rates.request_rate is not None
                    else None,
                    error_ratio=rates.error_ratio,
                    rate_429=rates.rate_429,
                    p99_ms=rates.latency_ms.get("p99"),
                    counters_reset=rates.counters_reset,
                )
            )
        answered = sum(1 for r in rows if r.ok)
        if not answered:
            reason = next((r.error for r in rows if r.error), None) or "no running pods"
            if rows:
                reason = f"0 of {len(rows)} pods answered: {reason}"
            return PodsScrape(ok=False, error=reason, pods=tuple(rows))
        return PodsScrape(
            ok=True,
            rates=self._total(summed, intervals, prev_pairs, cur_pairs),
            interval=sum(intervals) / len(intervals) if intervals else None,
            pods=tuple(rows),
            pods_in_sum=len(summed),
        )

    def _total(
        self,
        summed: list[Rates],
        intervals: list[float],
        prev_pairs: list[tuple[str, Scrape]],
        cur_pairs: list[tuple[str, Scrape]],
    ) -> Rates:
        if not summed:
            return Rates()
        n = self.names
        total, by_class, n429, limited = _sum_rates(summed)
        # quantiles do not add up: take them from every pod's bucket increases together
        latency = compute_rates(
            _labelled(prev_pairs),
            _labelled(cur_pairs),
            sum(intervals) / len(intervals),
            requests=n.requests_total,
            status_label=n.status_label,
            rate_limited=n.rate_limited_total,
            latency=n.latency_histogram,
        ).latency_ms
        return Rates(
            request_rate=total,
            rate_by_class=dict(sorted(by_class.items())),
            rate_429=n429,
            rate_limited_rate=limited,
            error_ratio=by_class.get("5xx", 0.0) / total if total > 0 else None,
            latency_ms=latency,
        )

    def close(self) -> None:
        """Close the client's connection pool."""
        client, self._api_client, self._raw = self._api_client, None, None
        if client is not None:
            client.close()
