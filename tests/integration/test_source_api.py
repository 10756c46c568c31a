"""The API source over real HTTP: the PredictIQ simulator (real PostgreSQL and Redis behind it)
for real traffic, and a small scripted HTTP server of this module for the faults."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from cockpit.config import ApiConfig, ThresholdsConfig
from cockpit.lab.apisim.sim import ApiSimulator
from cockpit.lab.schema import install_schema
from cockpit.models import ApiStatus, SourceFailure
from cockpit.sources.api import ApiSource, summarize_health

TIMEOUT = 1.0
HANG_BOUND = 30.0  # a collect() that has not returned by then is hung, whatever the machine's load
HANG_LIMIT = 10.0  # a hanging handler gives up after this even if teardown never comes
SECRET = "Bearer s3cr3t-token-never-shown"


class ScriptedServer:
    """An HTTP server on 127.0.0.1 answering each path with what the test sets:
    `routes[path] = (status, content_type, body)` or `"hang"` (waits until stop())."""

    def __init__(self, port: int = 0) -> None:
        self.routes: dict[str, tuple[int, str, str] | str] = {}
        self.seen_auth: list[str | None] = []
        self.release = threading.Event()
        scripted = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # http.server's naming
                scripted.seen_auth.append(self.headers.get("Authorization"))
                route = scripted.routes.get(self.path, (404, "text/plain", "not found"))
                if route == "hang":
                    scripted.release.wait(HANG_LIMIT)
                    return
                status, ctype, body = route
                data = body.encode()
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    def stop(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


@pytest.fixture
def scripted() -> Iterator[ScriptedServer]:
    server = ScriptedServer()
    server.routes["/health"] = (200, "application/json", '{"status": "ok"}')
    server.routes["/metrics"] = (200, "text/plain; version=0.0.4", counters(0, 0))
    yield server
    server.stop()


@pytest.fixture
async def sources() -> AsyncIterator[Callable[..., ApiSource]]:
    made: list[ApiSource] = []

    def make(base_url: str, **kwargs: object) -> ApiSource:
        made.append(
            ApiSource(
                ApiConfig(base_url=base_url, timeout_seconds=TIMEOUT, **kwargs),
                ThresholdsConfig(),
                timeout=TIMEOUT,
            )
        )
        return made[-1]

    yield make
    for source in made:
        await source.aclose()


def counters(ok: float, errors: float) -> str:
    return (
        "# TYPE http_requests_total counter\n"
        f'http_requests_total{{status="200"}} {ok}\nhttp_requests_total{{status="500"}} {errors}\n'
    )


# --------------------------------------------------------------------------- the simulator


@pytest.fixture(scope="module")
def market_db(pg):
    with pg.connect() as conn:
        install_schema(conn)
    return pg


@pytest.fixture
def sim(market_db, redis_server) -> Iterator[ApiSimulator]:
    simulator = ApiSimulator(market_db.url, redis_server.url, rate_limit_rps=None).start()
    yield simulator
    simulator.stop()


def _hit(sim: ApiSimulator, path: str, times: int) -> list[int]:
    with httpx.Client(base_url=sim.url, timeout=5.0) as client:
        return [client.get(path).status_code for _ in range(times)]


async def test_simulator_health_and_first_scrape(sim, sources):
    status = await sources(sim.url).collect()
    assert isinstance(status, ApiStatus), status
    assert status.health_ok and status.health_status_code == 200
    assert status.health_summary == "ok"
    assert 0 < status.health_latency_ms < TIMEOUT * 1000
    assert status.metrics_ok and status.metrics_error is None
    assert status.request_rate is None and status.metrics_interval_seconds is None  # one scrape


async def test_simulator_rates_count_known_traffic(sim, sources):
    source = sources(sim.url)
    await source.collect()
    sim.set_rate_limit(5, burst=5)
    statuses = _hit(sim, "/api/markets/1", 20)
    rejected = statuses.count(429)
    sim.set_rate_limit(None)
    sim.set_error_rate(1.0)
    errors = _hit(sim, "/api/markets/2", 7).count(500)
    sim.set_error_rate(0.0)
    status = await source.collect()
    assert isinstance(status, ApiStatus) and status.metrics_ok, status
    interval = status.metrics_interval_seconds
    assert rejected >= 10 and errors == 7
    assert status.rate_limited_rate * interval == pytest.approx(rejected)
    assert status.rate_429 * interval == pytest.approx(rejected)
    assert status.rate_by_class["5xx"] * interval == pytest.approx(errors)
    # our own /health and /metrics requests of the first collection are counted too: a few 2xx
    others = status.request_rate * interval - rejected - errors
    assert 20 - rejected <= others <= 20 - rejected + 4
    assert errors / (errors + others + rejected) == pytest.approx(status.error_ratio)
    assert not status.counters_reset


async def test_simulator_latency_quantiles(sim, sources):
    source = sources(sim.url)
    await source.collect()
    # 300 ms requests land in the (0.25, 0.5] bucket with 200 ms to spare for a loaded machine
    # (60 ms ones overflowed their (0.05, 0.1] bucket on a busy CI host)
    sim.set_latency(0.3)
    _hit(sim, "/api/markets/1", 8)
    sim.set_latency(0.0)
    status = await source.collect()
    # 8 slow requests and our 2-3 fast ones: p95 and p99 interpolate inside the slow bucket
    assert 250.0 < status.latency_ms["p95"] <= 500.0
    assert 250.0 < status.latency_ms["p99"] <= 500.0
    assert 8 * 300.0 / 11 <= status.latency_ms["mean"] <= 500.0


async def test_simulator_health_503_is_reported_not_a_failure(sim, sources):
    sim.set_health_failure(True)
    status = await sources(sim.url).collect()
    assert isinstance(status, ApiStatus)
    assert not status.health_ok and status.health_status_code == 503
    assert status.health_summary.startswith("down") and status.health_error is None
    assert status.metrics_ok


# --------------------------------------------------------------------------- faults


async def test_health_hang_times_out_and_metrics_still_report(scripted, sources):
    scripted.routes["/health"] = "hang"
    source = sources(scripted.url)
    # the hung /health never answers: collect() returns at all only through its own timeout
    # (a generous outer bound catches a hang, it is not a timing assertion)
    status = await asyncio.wait_for(source.collect(), HANG_BOUND)
    assert isinstance(status, ApiStatus), status
    assert not status.health_ok and status.health_status_code is None
    assert status.health_error == f"timed out after {source.request_timeout:g}s"
    assert status.metrics_ok


@pytest.mark.parametrize(
    ("ctype", "body", "expected"),
    [
        ("text/plain", "garbage {{{ not metrics", "not Prometheus text format"),
        ("text/html; charset=utf-8", "<html><body>502 Bad Gateway</body></html>", "returned HTML"),
        ("text/plain", "<html><body>oops</body></html>", "not Prometheus text format"),
    ],
)
async def test_metrics_garbage_is_reported_and_health_still_shown(
    scripted, sources, ctype, body, expected
):
    scripted.routes["/metrics"] = (200, ctype, body)
    status = await sources(scripted.url).collect()
    assert isinstance(status, ApiStatus)
    assert status.health_ok and status.health_summary == "ok"
    assert not status.metrics_ok and expected in status.metrics_error


@pytest.mark.parametrize(
    ("ctype", "body", "says"),
    [
        (
            "text/html; charset=utf-8",
            "<html><body><h1>Welcome to nginx!</h1></body></html>",
            "but HTML",
        ),
        ("text/plain", "OK", "but not JSON (text/plain)"),
    ],
)
async def test_health_200_that_is_not_json_is_not_healthy_and_says_so(
    scripted, sources, ctype, body, says
):
    scripted.routes["/health"] = (200, ctype, body)
    status = await sources(scripted.url).collect()
    assert isinstance(status, ApiStatus)
    assert not status.health_ok and status.health_status_code == 200
    assert status.health_summary.startswith(f"HTTP 200 {says}, not the JSON health document")


async def test_health_that_is_not_json_by_design_can_be_said_so(scripted, sources):
    scripted.routes["/health"] = (200, "text/plain", "OK")
    status = await sources(scripted.url, health_json=False).collect()
    assert status.health_ok and status.health_summary == "HTTP 200: OK"


async def test_metrics_http_error_is_reported(scripted, sources):
    scripted.routes["/metrics"] = (500, "text/plain", "boom")
    status = await sources(scripted.url).collect()
    assert not status.metrics_ok and status.metrics_error == "GET /metrics: HTTP 500"


async def test_counter_reset_is_flagged_never_negative(scripted, sources):
    source = sources(scripted.url)
    scripted.routes["/metrics"] = (200, "text/plain", counters(1000, 50))
    await source.collect()
    scripted.routes["/metrics"] = (200, "text/plain", counters(10, 0))
    reset = await source.collect()
    assert reset.metrics_ok and reset.counters_reset
    assert reset.request_rate is None and reset.error_ratio is None
    scripted.routes["/metrics"] = (200, "text/plain", counters(40, 10))
    after = await source.collect()
    assert not after.counters_reset
    assert after.request_rate * after.metrics_interval_seconds == pytest.approx(40)
    assert after.error_ratio == pytest.approx(10 / 40)


async def test_refused_then_recovers(closed_port, sources):
    source = sources(f"http://127.0.0.1:{closed_port}")
    failure = await source.collect()
    assert isinstance(failure, SourceFailure)
    assert failure.source == "api" and failure.reason == "connection refused"
    server = ScriptedServer(port=closed_port)
    try:
        server.routes["/health"] = (200, "application/json", '{"status": "ok"}')
        server.routes["/metrics"] = (200, "text/plain", counters(1, 0))
        status = await source.collect()
        assert isinstance(status, ApiStatus) and status.health_ok and status.metrics_ok
    finally:
        server.stop()


async def test_silent_server_is_a_timeout_failure(silent_server, sources):
    source = sources(f"http://127.0.0.1:{silent_server.port}")
    failure = await asyncio.wait_for(source.collect(), HANG_BOUND)  # returns, through its timeout
    assert isinstance(failure, SourceFailure)
    assert failure.reason == f"timed out after {source.request_timeout:g}s"


async def test_auth_header_is_sent_and_never_shown(scripted, sources):
    scripted.routes["/health"] = (401, "text/plain", "unauthorized")
    scripted.routes["/metrics"] = (200, "text/html", "<p>login</p>")
    status = await sources(scripted.url, auth_header=SECRET).collect()
    assert scripted.seen_auth and all(seen == SECRET for seen in scripted.seen_auth)
    assert "s3cr3t" not in repr(status)


async def test_metrics_path_empty_means_not_configured(scripted, sources):
    status = await sources(scripted.url, metrics_path="").collect()
    assert status.health_ok and not status.metrics_ok and status.metrics_error == "not configured"


def test_health_summary_names_failing_checks():
    body = {
        "status": "degraded",
        "checks": {
            "database": {"ok": True},
            "cache": {"ok": False, "error": "ConnectionError: refused"},
            "queue": "fail",
        },
    }
    assert summarize_health(body) == "degraded; failing: cache (ConnectionError: refused), queue"
    assert summarize_health({"status": "ok", "checks": [{"name": "db", "status": "pass"}]}) == "ok"
