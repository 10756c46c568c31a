"""The PredictIQ API simulator: a real HTTP server backed by real PostgreSQL and Redis.

Routes:
  GET  /health                   SELECT 1 on PostgreSQL and PING on Redis; 200 or 503 with checks
  GET  /metrics                  Prometheus text format (a private registry per simulator)
  GET  /api/markets/{id}         cache-aside read: Redis `market:{id}`, else PostgreSQL + SET EX ttl
  GET  /api/markets?status=S     cache-aside read of a list: Redis `markets:{S}`
  POST /api/admin/cache/warm     bearer-token protected: loads every active market into Redis

Metrics exposed on /metrics (names as scraped; constants below):
  http_requests_total{method,path,status}      counter; path is the route template
  http_request_duration_seconds{path}          histogram
  rate_limit_rejections_total                  counter of 429s
  cache_hits_total / cache_misses_total        counters of cache-aside lookups
  cache_errors_total                           counter of Redis failures on reads (served from DB)

The public market routes sit behind a global token bucket (429 above it); /health, /metrics and
the admin route do not, so an operator can still see and fix a rate-limit storm. Fault switches
(`set_health_failure`, `set_latency`, `set_error_rate`, `set_rate_limit`, `set_fill_on_miss`) let
the drills inject the runbook's failures for real.
"""

from __future__ import annotations

import hmac
import random
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from cockpit.lab import redisconn
from cockpit.lab.apisim.markets import MarketCache, json_reply
from cockpit.lab.apisim.pods import PodMetrics
from cockpit.lab.apisim.support import (
    ApiMetrics,
    PgPool,
    Reply,
    RequestLog,
    TokenBucket,
    TrackingHTTPServer,
)
from cockpit.lab.apisim.traffic import TrafficGenerator, TrafficStats

METRIC_REQUESTS = "http_requests_total"
METRIC_DURATION = "http_request_duration_seconds"
METRIC_RATE_LIMITED = "rate_limit_rejections_total"
METRIC_CACHE_HITS = "cache_hits_total"
METRIC_CACHE_MISSES = "cache_misses_total"
METRIC_CACHE_ERRORS = "cache_errors_total"

_MARKET_ROUTE = re.compile(r"^/api/markets/(\d+)$")
_LIMIT_REFRESH_SECONDS = 0.2  # how long a rate limit read from the pods is kept


@dataclass(frozen=True)
class FaultState:
    """The simulator's fault switches at one instant, as drills and the lab menu show them."""

    health_failure: bool
    latency_seconds: float
    error_rate: float
    rate_limit_rps: float | None
    fill_on_miss: bool
    traffic_rps: float | None


class ApiSimulator:
    """A PredictIQ-shaped API on 127.0.0.1 whose health, cache and metrics are all real.

    Connections are lazy: constructing the simulator opens nothing; `start()` binds the port and
    serves in a thread; `stop()` ends traffic, closes open client connections so handler threads
    exit promptly, joins every thread and closes the PostgreSQL pool and the Redis client.
    """

    def __init__(
        self,
        database_url: str,
        redis_url: str,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        admin_token: str = "lab-admin-token",
        cache_ttl_seconds: int = 300,
        rate_limit_rps: float | None = 200.0,
        rate_limit_burst: float | None = None,
        db_pool_size: int = 4,
        db_connect_timeout: float = 2.0,
        db_statement_timeout_ms: int = 2000,
        redis_timeout_seconds: float = 1.0,
        traffic_workers: int = 4,
    ) -> None:
        self._host, self._requested_port = host, port
        self._admin_token = admin_token
        self._traffic_workers = traffic_workers
        self._pool = PgPool(database_url, db_pool_size, db_connect_timeout, db_statement_timeout_ms)
        # Timeouts pinned, no retries: a dead Redis shows up in /health within one timeout.
        self._redis = redisconn.text_client(redis_url, timeout=redis_timeout_seconds)
        self.metrics = ApiMetrics()
        # the same traffic split over pods (apisim.pods.connect); the pod that counts a request
        # is the one whose log records it (set_request_log)
        self.pod_metrics = PodMetrics()
        self._request_log: RequestLog | None = None
        self._markets = MarketCache(self._pool, self._redis, self.metrics, cache_ttl_seconds)
        self._bucket = TokenBucket(rate_limit_rps, rate_limit_burst)
        # where the limit comes from when the pods carry it (the env they were started with)
        self._limit_source: Callable[[], float | None] | None = None
        self._limit_seen: float | None = None
        self._limit_read_at = 0.0
        self._limit_lock = threading.Lock()
        self._stopping = threading.Event()
        self._health_failure = False
        self._required_auth: str | None = None  # Authorization /health and /metrics demand
        self._latency = 0.0
        self._error_rate = 0.0
        self._rng = random.Random()
        self._rng_lock = threading.Lock()
        self._server: TrackingHTTPServer | None = None
        self._serve_thread: threading.Thread | None = None
        self._traffic: TrafficGenerator | None = None

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> ApiSimulator:
        """Bind the port and serve in a background thread; returns self for chaining.

        A stopped simulator has closed its clients and cannot be started again: make a new one.
        """
        if self._stopping.is_set():
            raise RuntimeError("this ApiSimulator was stopped; create a new one")
        if self._server is not None:
            return self
        self._server = TrackingHTTPServer(
            (self._host, self._requested_port), self._dispatch, self.metrics
        )
        self._server.served = self._served
        self._serve_thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name=f"apisim-{self.port}",
            daemon=True,
        )
        self._serve_thread.start()
        return self

    def stop(self) -> None:
        """Stop traffic and the server, join every thread, close the DB pool and Redis client."""
        self._stopping.set()  # wakes handlers sleeping in injected latency, traffic's included
        self.stop_traffic()
        if self._server is not None:
            self._server.shutdown()
            self._server.close_open_connections()
            self._server.server_close()  # joins the handler threads
            self._server = None
        if self._serve_thread is not None:
            self._serve_thread.join(timeout=5)
            self._serve_thread = None
        self._pool.close()
        self._redis.close()

    def __enter__(self) -> ApiSimulator:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        """The bound port (only meaningful after `start()`)."""
        return self._server.server_address[1] if self._server else self._requested_port

    @property
    def url(self) -> str:
        """Base URL, e.g. http://127.0.0.1:43123."""
        return f"http://{self._host}:{self.port}"

    # -- traffic and fault switches --------------------------------------------------------

    def start_traffic(self, rps: float = 20.0) -> None:
        """Start the background traffic generator reading active markets through this API."""
        if self._traffic is not None:
            self._traffic.set_rps(rps)
            return
        rows = self._pool.fetchall(
            "SELECT id FROM markets WHERE status = 'active' ORDER BY id", timeout=2.0
        )
        self._traffic = TrafficGenerator(
            self.url, [r[0] for r in rows], rps, workers=self._traffic_workers
        )
        self._traffic.start()

    def stop_traffic(self) -> None:
        """Stop the traffic generator and join its threads (no-op when not running)."""
        if self._traffic is not None:
            self._traffic.stop()
            self._traffic = None

    def set_traffic_rps(self, rps: float) -> None:
        """Change the traffic rate on the fly, e.g. above the rate limit for rate-limit-storm."""
        if self._traffic is None:
            raise RuntimeError("traffic is not running; call start_traffic() first")
        self._traffic.set_rps(rps)

    def traffic_stats(self) -> TrafficStats | None:
        """Requests the generator has sent so far, or None when traffic is not running."""
        return self._traffic.stats() if self._traffic else None

    def set_request_log(self, sink: RequestLog | None) -> None:
        """Send every answered request to `sink` with the pod that served it (pod, method, path,
        status, seconds): the lab writes them into the pods' logs (apisim/podlog.py). The pod is
        the one whose counters took the request (`pod_metrics`), so a pod's logged requests
        and its counters agree; without pods (nothing connected) nothing is sent."""
        self._request_log = sink

    def _served(self, method: str, route: str, path: str, status: int, seconds: float) -> None:
        pod = self.pod_metrics.observe(method, route, status, seconds)
        sink = self._request_log
        if pod is not None and sink is not None:
            sink(pod, method, path, status, seconds)

    def set_health_failure(self, failing: bool) -> None:
        """Force /health to answer 503 (the api-down drill)."""
        self._health_failure = failing

    def set_required_auth(self, header: str | None) -> None:
        """Make /health and /metrics answer 401 unless the request's Authorization header is
        exactly `header` (None: no authentication, the default): a rotated metrics token."""
        self._required_auth = header

    def set_latency(self, seconds: float) -> None:
        """Add this delay to /health and the /api routes (not /metrics)."""
        self._latency = max(0.0, seconds)

    def set_error_rate(self, fraction: float) -> None:
        """Answer 500 to this fraction (0..1) of market reads."""
        self._error_rate = min(1.0, max(0.0, fraction))

    def set_rate_limit(self, rps: float | None, burst: float | None = None) -> None:
        """Set the global rate limit on the public routes; None turns it off."""
        self._bucket.configure(rps, burst)

    def set_rate_limit_source(self, source: Callable[[], float | None] | None) -> None:
        """Read the rate limit from `source` (a few times a second; None from it keeps the
        current one): the lab points it at the RATE_LIMIT_GLOBAL its pods were started with, so
        a `kubectl set env` that rolls out really changes the limit."""
        with self._limit_lock:
            self._limit_source, self._limit_seen, self._limit_read_at = source, None, 0.0

    def _sync_rate_limit(self) -> None:
        with self._limit_lock:
            source, now = self._limit_source, time.monotonic()
            if source is None or now - self._limit_read_at < _LIMIT_REFRESH_SECONDS:
                return
            self._limit_read_at = now
        value = source()
        with self._limit_lock:
            if value is None or value <= 0 or value == self._limit_seen:
                return
            self._limit_seen = value
        self._bucket.configure(value)

    def set_fill_on_miss(self, enabled: bool) -> None:
        """Whether a cache miss writes the row back to Redis.

        Off models a cache filled only by the warm job: after a flush the miss storm lasts until
        someone warms the cache, which is what the cache-miss-storm drill needs to stay visible.
        """
        self._markets.fill_on_miss = enabled

    def faults(self) -> FaultState:
        """The current fault switches and traffic rate."""
        return FaultState(
            health_failure=self._health_failure,
            latency_seconds=self._latency,
            error_rate=self._error_rate,
            rate_limit_rps=self._bucket.rate,
            fill_on_miss=self._markets.fill_on_miss,
            traffic_rps=self._traffic.rps if self._traffic else None,
        )

    # -- request handling ------------------------------------------------------------------

    def _dispatch(self, handler: BaseHTTPRequestHandler) -> tuple[str, Reply]:
        """Route one request; returns the route label (for metrics) and the reply."""
        parts = urlsplit(handler.path)
        path, method = parts.path, handler.command
        market = _MARKET_ROUTE.match(path)
        status = parse_qs(parts.query).get("status", [None])[0]
        routes: dict[tuple[str, str], tuple[str, Callable[[], Reply]]] = {
            ("GET", "/health"): ("/health", self._health),
            ("GET", "/metrics"): ("/metrics", self._metrics_reply),
            ("GET", "/api/markets"): (
                "/api/markets",
                lambda: self._read(lambda: self._markets.read_list(status)),
            ),
            ("POST", "/api/admin/cache/warm"): (
                "/api/admin/cache/warm",
                lambda: self._warm(handler),
            ),
        }
        if market:
            market_id = int(market[1])
            routes[("GET", path)] = (
                "/api/markets/{id}",
                lambda: self._read(lambda: self._markets.read_market(market_id)),
            )
        if (method, path) not in routes:
            label = routes.get(("GET", path), routes.get(("POST", path), ("other",)))[0]
            code = 405 if label != "other" else 404
            return label, json_reply(
                code, {"error": "method not allowed" if code == 405 else "not found"}
            )
        label, action = routes[(method, path)]
        required = self._required_auth
        if (
            required is not None
            and label in ("/health", "/metrics")
            and not hmac.compare_digest(
                handler.headers.get("Authorization", "").encode(), required.encode()
            )
        ):
            return label, json_reply(401, {"error": "unauthorized"}, ("WWW-Authenticate", "Bearer"))
        if label.startswith("/api/markets"):
            self._sync_rate_limit()
        if label.startswith("/api/markets") and not self._bucket.try_acquire():
            self.metrics.rate_limited.inc()
            return label, json_reply(429, {"error": "rate limit exceeded"}, ("Retry-After", "1"))
        if label != "/metrics" and self._latency > 0:
            self._stopping.wait(self._latency)
        return label, action()

    def _metrics_reply(self) -> Reply:
        return Reply(200, generate_latest(self.metrics.registry), CONTENT_TYPE_LATEST)

    def _health(self) -> Reply:
        checks = {
            "database": self._check(self._ping_database),
            "cache": self._check(self._redis.ping),
        }
        healthy = all(c["ok"] for c in checks.values()) and not self._health_failure
        body: dict[str, Any] = {"status": "ok" if healthy else "down", "checks": checks}
        if self._health_failure:
            body["error"] = "health failure injected (api-down drill)"
        return json_reply(200 if healthy else 503, body)

    def _ping_database(self) -> None:
        self._pool.fetchall("SELECT 1")

    @staticmethod
    def _check(probe: Callable[[], object]) -> dict[str, Any]:
        started = time.perf_counter()
        try:
            probe()
        except Exception as exc:  # any failure of the dependency is the check's answer
            elapsed = round((time.perf_counter() - started) * 1000, 2)
            return {"ok": False, "latency_ms": elapsed, "error": f"{type(exc).__name__}: {exc}"}
        return {"ok": True, "latency_ms": round((time.perf_counter() - started) * 1000, 2)}

    def _inject_error(self) -> bool:
        with self._rng_lock:
            return self._error_rate > 0 and self._rng.random() < self._error_rate

    def _read(self, read: Callable[[], Reply]) -> Reply:
        if self._inject_error():
            return json_reply(500, {"error": "internal error (injected)"})
        return read()

    def _warm(self, handler: BaseHTTPRequestHandler) -> Reply:
        supplied = handler.headers.get("Authorization", "").encode()
        if not hmac.compare_digest(supplied, f"Bearer {self._admin_token}".encode()):
            return json_reply(401, {"error": "unauthorized"}, ("WWW-Authenticate", "Bearer"))
        return self._markets.warm()
