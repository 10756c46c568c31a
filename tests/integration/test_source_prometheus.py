"""`[prometheus] url`: the API figures from a real Prometheus (Debian's package) that scrapes
every simulated pod through the Kubernetes simulator's pod proxy each second, under real traffic
through the API simulator."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from cockpit.config import ApiConfig, Config, KubernetesConfig, MetricNames, PrometheusConfig
from cockpit.config import PrometheusQueries as Queries
from cockpit.lab.apisim.pods import running_pods
from cockpit.lab.apisim.sim import ApiSimulator
from cockpit.lab.kubesim.cadvisor import ContainerExporter
from cockpit.lab.kubesim.sim import KubeSim
from cockpit.models import ApiStatus
from cockpit.sources.api import ApiSource
from cockpit.sources.prommetrics import PromMetrics
from cockpit.state import CockpitState
from tests.faultproxy import FaultProxy
from tests.integration.lab_helpers import api_over_pods
from tests.prometheus_server import PrometheusServer, scrape_config, skip_reason
from tests.waiting import wait_for

pytestmark = pytest.mark.skipif(skip_reason() is not None, reason=skip_reason() or "")
NS, APP = "predictiq", "predictiq-api"
KUBE = KubernetesConfig(namespace=NS, deployment=APP)


@pytest.fixture(scope="module")
def lab_pods(pg, redis_server) -> Iterator[tuple[ApiSimulator, KubeSim]]:
    with api_over_pods(pg, redis_server, rps=30.0, seed=23, namespace=NS, deployment=APP) as pair:
        yield pair


@pytest.fixture(scope="module")
def api_sim(lab_pods) -> ApiSimulator:
    return lab_pods[0]


@pytest.fixture(scope="module")
def kube(lab_pods) -> KubeSim:
    return lab_pods[1]


@pytest.fixture(scope="module")
def containers(kube) -> Iterator[ContainerExporter]:
    with ContainerExporter(kube) as exporter:  # the pods' cAdvisor and kube-state-metrics series
        yield exporter


@pytest.fixture(scope="module")
def prom(kube, containers) -> Iterator[PrometheusServer]:
    server = PrometheusServer(
        scrape_config(kube.url, kube.token, NS, running_pods(kube), containers.target)
    )
    try:
        server.wait_ready()
        # rate() needs two scrapes of every pod inside its window
        by_pod = f'sum by (pod) (rate(http_requests_total{{namespace="{NS}"}}[1m]))'
        wait_for(lambda: len(server.query(by_pod)) == 3, 30, what="two scrapes of every pod")
        cpu = f'sum by (pod) (rate(container_cpu_usage_seconds_total{{namespace="{NS}"}}[1m]))'
        wait_for(lambda: len(server.query(cpu)) == 3, 30, what="two cAdvisor scrapes")
        yield server
    finally:
        server.stop()


def source(
    prom_url: str, api_sim: ApiSimulator, rate_window: str = "1m", **queries: str
) -> ApiSource:
    cfg = PrometheusConfig(url=prom_url, rate_window=rate_window, queries=Queries(**queries))
    api = ApiConfig(base_url=api_sim.url, metrics=MetricNames())
    return ApiSource(
        api,
        Config().thresholds,
        timeout=5.0,
        prom=PromMetrics(cfg, api.metrics, KUBE, history_minutes=15, step=1.0),
    )


async def collect(src: ApiSource) -> ApiStatus:
    try:
        result = await src.collect()
    finally:
        await src.aclose()
    assert isinstance(result, ApiStatus), result
    return result


async def test_instant_figures_per_pod_match_prometheus_and_the_simulator(prom, kube, api_sim):
    status = await collect(source(prom.url, api_sim))
    assert status.metrics_ok, (status.metrics_error, status.metrics_notes)
    assert sorted(p.name for p in status.pods) == sorted(running_pods(kube))
    assert all(p.request_rate and p.request_rate > 0 for p in status.pods)
    assert status.request_rate == pytest.approx(sum(p.request_rate for p in status.pods))
    assert status.pods_scraped == status.pods_in_sum == 3
    assert status.latency_ms.get("p99") is not None
    # Prometheus' own series for the same selector: one per simulated pod, nothing else
    own = prom.query(f'sum by (pod) (http_requests_total{{namespace="{NS}",pod=~"{APP}-.*"}})')
    assert {r["metric"]["pod"] for r in own} == {p.name for p in status.pods}
    # the counters Prometheus scraped are the simulator's own per-pod counters (never ahead)
    for r in own:
        assert 0 < float(r["value"][1]) <= api_sim.pod_metrics.requests(r["metric"]["pod"])


async def test_the_pod_carrying_the_5xx_is_first(prom, kube, api_sim):
    bad = running_pods(kube)[2]
    api_sim.pod_metrics.concentrate_errors(bad, 0.95)
    api_sim.set_error_rate(0.3)
    try:

        def worst() -> str | None:
            rows = prom.query('sum by (pod) (rate(http_requests_total{status=~"5.."}[1m]))')
            return max(rows, key=lambda r: float(r["value"][1]))["metric"]["pod"] if rows else None

        wait_for(lambda: worst() == bad, 30, what="5xx series in Prometheus")
        status = await collect(source(prom.url, api_sim))
        top = max(status.pods, key=lambda p: p.rate_5xx or 0.0)
        assert top.name == bad and (status.error_ratio or 0) > 0
    finally:
        api_sim.set_error_rate(0.0)
        api_sim.pod_metrics.clear_faults()


async def test_trends_are_back_filled_from_query_range(prom, api_sim):
    status = await collect(source(prom.url, api_sim))
    history = status.trend_history["api.request_rate"]
    assert len(history) >= 2 and all(v > 0 for _, v in history[1:])
    assert history == tuple(sorted(history))
    state = CockpitState(history_minutes=15, interval_seconds=1.0)
    state.update("api", status)
    assert len(state.trend("api.request_rate")) == len(history) + 1  # the history, then now
    assert "api.error_ratio" in status.trend_history


async def test_pod_cpu_and_memory_trends_are_back_filled_from_cadvisor(prom, kube, api_sim):
    # rate() over a window older than the series reads low (it divides by the whole window):
    # a 5 s window is full after 5 s of these young series
    samples = f'min(count_over_time(container_cpu_usage_seconds_total{{namespace="{NS}"}}[1m]))'
    wait_for(
        lambda: (rows := prom.query(samples)) and float(rows[0]["value"][1]) >= 10,
        30,
        what="10 s of cAdvisor series",
    )
    src = source(prom.url, api_sim, rate_window="5s")
    status = await collect(src)
    assert not [n for n in status.metrics_notes if "kube." in n], status.metrics_notes
    state = CockpitState(history_minutes=15, interval_seconds=1.0)
    state.update("api", status)
    bounds = {"kube.cpu_percent": (2, 80), "kube.memory_percent": (15, 80)}
    for trend, (low, high) in bounds.items():
        history = status.trend_history[trend]
        assert len(history) >= 2 and history == tuple(sorted(history)), history
        # the simulator's usage model keeps each pod between these shares of its limits
        full = [v for at, v in history if (at - history[0][0]).total_seconds() >= 6]
        assert full and all(low - 1 <= v <= high + 1 for v in full), (trend, history)
        # Prometheus' own answer to the same query at the last back-filled point
        at, value = history[-1]
        [own] = prom.query(src.prom.backfill_promql(trend), at.timestamp())
        assert value == pytest.approx(float(own["value"][1]))
        assert len(state.trend(trend)) == len(history)  # the pods pane's trend opens with it


async def test_a_back_fill_query_returning_nothing_says_which(prom, api_sim):
    status = await collect(source(prom.url, api_sim, memory_percent="sum(no_such_series)"))
    assert status.metrics_ok and "kube.cpu_percent" in status.trend_history
    assert "kube.memory_percent" not in status.trend_history
    assert (
        "back-fill kube.memory_percent: query returned nothing: sum(no_such_series)"
        in status.metrics_notes
    ), status.metrics_notes


async def test_an_error_body_is_shown_in_prometheus_words(prom, api_sim):
    status = await collect(
        source(prom.url, api_sim, requests_by_pod="sum(rate(http_requests_total[1m]")
    )
    assert not status.metrics_ok
    assert "bad_data" in (status.metrics_error or "") and "requests_by_pod" in status.metrics_error


async def test_an_execution_error_is_shown_with_its_http_status(prom, api_sim):
    # every pod's series share the namespace label: Prometheus refuses the match with a 422
    many = "sum by (pod) (http_requests_total + on(namespace) http_requests_total)"
    status = await collect(source(prom.url, api_sim, requests_by_pod=many))
    assert not status.metrics_ok
    assert "HTTP 422 execution: " in (status.metrics_error or ""), status.metrics_error
    assert "many-to-many" in status.metrics_error and "requests_by_pod" in status.metrics_error


async def test_a_503_from_prometheus_is_shown_as_such(prom, api_sim):
    body = b'{"status":"error","errorType":"timeout","error":"query timed out in query execution"}'
    reply = (
        b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(body), body)
    )
    host, port = prom.url.removeprefix("http://").split(":")
    with FaultProxy(host, int(port)) as proxy:
        proxy.set_mode("garbage", payload=reply, close_after_garbage=True)
        status = await collect(source(f"http://127.0.0.1:{proxy.port}", api_sim))
        assert not status.metrics_ok and status.health_ok
        assert "HTTP 503 timeout: query timed out" in (status.metrics_error or "")
        proxy.pass_through()
        status = await collect(source(f"http://127.0.0.1:{proxy.port}", api_sim))
        assert status.metrics_ok, status.metrics_error


async def test_a_query_returning_nothing_says_which(prom, api_sim):
    status = await collect(
        source(prom.url, api_sim, requests_by_pod="sum by (pod) (rate(no_such_metric_total[1m]))")
    )
    assert not status.metrics_ok
    assert "query requests_by_pod returned nothing" in (status.metrics_error or "")
    assert "no_such_metric_total" in status.metrics_error
    quiet = await collect(
        source(prom.url, api_sim, latency_p99="histogram_quantile(0.99, nothing_bucket)")
    )
    assert quiet.metrics_ok and "p99" not in quiet.latency_ms
    assert any("latency_p99 returned nothing" in n for n in quiet.metrics_notes), (
        quiet.metrics_notes
    )


async def test_an_unreachable_prometheus_is_a_metrics_error(api_sim, closed_port):
    status = await collect(source(f"http://127.0.0.1:{closed_port}", api_sim))
    assert not status.metrics_ok and status.health_ok  # /health still answers
    assert (
        "Prometheus" in (status.metrics_error or "") and "refused" in status.metrics_error.lower()
    )
