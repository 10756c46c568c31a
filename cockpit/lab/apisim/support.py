"""Parts of the API simulator: HTTP server, metrics, PostgreSQL pool, rate limiter.

Kept apart from `sim.py` (the routes and fault switches), `markets.py` (the cache-aside reads)
and `traffic.py` (the traffic generator) so each stays small; nothing here knows about markets.
"""

from __future__ import annotations

import math
import socket
import threading
import time
from collections.abc import Callable, Generator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, cast

import psycopg
from prometheus_client import CollectorRegistry, Counter, Histogram
from psycopg.abc import QueryNoTemplate
from psycopg.rows import TupleRow

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


@dataclass(frozen=True)
class Reply:
    """One HTTP response as the routes produce it."""

    status: int
    body: bytes
    content_type: str = "application/json"
    headers: tuple[tuple[str, str], ...] = ()


class ApiMetrics:
    """The simulator's Prometheus metrics, in a private registry (one per simulator)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "http_requests_total",
            "HTTP requests by method, route and status code.",
            ["method", "path", "status"],
            registry=r,
        )
        self.duration = Histogram(
            "http_request_duration_seconds",
            "HTTP request latency by route.",
            ["path"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.rate_limited = Counter(
            "rate_limit_rejections_total",
            "Requests refused with 429 by the rate limiter.",
            registry=r,
        )
        self.cache_hits = Counter(
            "cache_hits_total", "Cache-aside lookups found in Redis.", registry=r
        )
        self.cache_misses = Counter(
            "cache_misses_total", "Cache-aside lookups not in Redis.", registry=r
        )
        self.cache_errors = Counter(
            "cache_errors_total", "Redis failures on reads (served from PostgreSQL).", registry=r
        )

    def observe(self, method: str, path: str, status: int, seconds: float) -> None:
        """Record one finished request."""
        self.requests.labels(method=method, path=path, status=str(status)).inc()
        self.duration.labels(path=path).observe(seconds)


Dispatch = Callable[[BaseHTTPRequestHandler], tuple[str, Reply]]
# method, route label, path (no query), status, seconds: one call per answered request
Served = Callable[[str, str, str, int, float], None]
# pod, method, path, status, seconds: the request as the pod that served it logs it
RequestLog = Callable[[str, str, str, int, float], None]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as real clients and our traffic expect
    timeout = 30  # an idle keep-alive connection may not hold a thread forever
    # Headers and body go out in two writes; with Nagle on, the client's delayed ACK adds ~40 ms
    # to every keep-alive request.
    disable_nagle_algorithm = True

    @property
    def _server(self) -> TrackingHTTPServer:
        """The server that made this handler (only a TrackingHTTPServer makes this class)."""
        return cast(TrackingHTTPServer, self.server)

    def do_GET(self) -> None:  # http.server's naming
        self._serve()

    do_POST = do_PUT = do_DELETE = do_PATCH = do_GET

    def _serve(self) -> None:
        started = time.perf_counter()
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(min(length, 1 << 20))  # drain the body so keep-alive stays in step
            self.close_connection = length > 1 << 20
        try:
            label, reply = self._server.dispatch(self)
        except Exception as exc:  # a bug in a route must not kill the connection silently
            label, reply = "other", Reply(500, f'{{"error": "{type(exc).__name__}"}}'.encode())
        try:
            self.send_response(reply.status)
            self.send_header("Content-Type", reply.content_type)
            self.send_header("Content-Length", str(len(reply.body)))
            for name, value in reply.headers:
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(reply.body)
        except OSError:
            self.close_connection = True
        seconds = time.perf_counter() - started
        self._server.metrics.observe(self.command, label, reply.status, seconds)
        served = self._server.served
        if served is not None:  # the pod that served it counts and logs it (apisim/pods.py)
            served(self.command, label, self.path.split("?")[0], reply.status, seconds)

    def log_message(self, format: str, *args: object) -> None:
        """Silent: the lab runs under a TUI, and metrics already count every request."""


_Request = socket.socket | tuple[bytes, socket.socket]  # what socketserver passes its servers


class TrackingHTTPServer(ThreadingHTTPServer):
    """A threading HTTP server that can close its open connections, so stop() is prompt."""

    # Non-daemon so server_close() joins them (socketserver only tracks non-daemon threads);
    # close_open_connections() first makes that join prompt.
    daemon_threads = False
    block_on_close = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], dispatch: Dispatch, metrics: ApiMetrics) -> None:
        self.dispatch = dispatch
        self.metrics = metrics
        self.served: Served | None = None
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        super().__init__(address, _Handler)

    def process_request(self, request: _Request, client_address: Any) -> None:
        with self._open_lock:
            self._open.add(cast(socket.socket, request))  # TCP: the connected socket
        super().process_request(request, client_address)

    def shutdown_request(self, request: _Request) -> None:
        with self._open_lock:
            self._open.discard(cast(socket.socket, request))
        super().shutdown_request(request)

    def close_open_connections(self) -> None:
        """Shut down every client socket, waking handler threads blocked on keep-alive reads."""
        with self._open_lock:
            sockets = list(self._open)
        for sock in sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass  # already closed by the peer


class PgPool:
    """A small, lazy pool of autocommit psycopg connections with a bounded wait for a slot."""

    def __init__(
        self,
        url: str,
        size: int,
        connect_timeout: float,
        statement_timeout_ms: int,
        application_name: str = "predictiq-api",
    ) -> None:
        self._url = url
        self._connect_timeout = max(2, math.ceil(connect_timeout))  # libpq raises < 2 s to 2 s
        self._options = f"-c statement_timeout={statement_timeout_ms}"
        self._application_name = application_name
        self._slots = threading.BoundedSemaphore(size)
        self._idle: list[psycopg.Connection[TupleRow]] = []
        self._lock = threading.Lock()
        self._closed = False

    def fetchall(
        self, sql: QueryNoTemplate, params: tuple[object, ...] = (), *, timeout: float = 1.0
    ) -> list[TupleRow]:
        """Run one statement and return its rows.

        An idle pooled connection may have been terminated (kill-idle, a server restart); the
        first use tells, so that case is retried once on a fresh connection.
        """
        for attempt in (1, 2):
            with self._connection(timeout) as (conn, reused):
                try:
                    return conn.execute(sql, params).fetchall()
                except psycopg.OperationalError:
                    if not (reused and conn.broken and attempt == 1):
                        raise
        raise AssertionError("unreachable")

    @contextmanager
    def _connection(
        self, timeout: float
    ) -> Generator[tuple[psycopg.Connection[TupleRow], bool], None, None]:
        if not self._slots.acquire(timeout=timeout):
            raise TimeoutError(f"no database connection free within {timeout} s")
        conn: psycopg.Connection[TupleRow] | None = None
        try:
            with self._lock:
                if self._closed:
                    raise RuntimeError("the database pool is closed")
                conn = self._idle.pop() if self._idle else None
            reused = conn is not None and not conn.closed
            if conn is None or not reused:
                conn = psycopg.connect(
                    self._url,
                    connect_timeout=self._connect_timeout,
                    options=self._options,
                    application_name=self._application_name,
                    autocommit=True,
                )
            yield conn, reused
        finally:
            if conn is not None:
                self._give_back(conn)
            self._slots.release()

    def _give_back(self, conn: psycopg.Connection[TupleRow]) -> None:
        with self._lock:
            if not (self._closed or conn.closed or conn.broken):
                self._idle.append(conn)
                return
        conn.close()

    def close(self) -> None:
        """Close idle connections now; busy ones are closed when they come back."""
        with self._lock:
            self._closed, idle, self._idle = True, self._idle, []
        for conn in idle:
            conn.close()


class TokenBucket:
    """A global token bucket: `rate` tokens per second, up to `burst` (default: one second's)."""

    def __init__(self, rate: float | None, burst: float | None = None) -> None:
        self._lock = threading.Lock()
        self.configure(rate, burst)

    def configure(self, rate: float | None, burst: float | None = None) -> None:
        """Change the limit (None = unlimited); the bucket starts full."""
        if rate is not None and rate <= 0:
            raise ValueError("rate must be positive, or None for no limit")
        with self._lock:
            self._rate = rate
            self._capacity = max(1.0, burst if burst is not None else (rate or 1.0))
            self._tokens = self._capacity
            self._stamp = time.monotonic()

    @property
    def rate(self) -> float | None:
        """Requests per second allowed, or None when unlimited."""
        return self._rate

    def try_acquire(self) -> bool:
        """Take one token if there is one; False means answer 429."""
        with self._lock:
            if self._rate is None:
                return True
            now = time.monotonic()
            self._tokens = min(self._capacity, self._tokens + (now - self._stamp) * self._rate)
            self._stamp = now
            if self._tokens >= 1.0:
                self._tokens -= 1.0
                return True
            return False
