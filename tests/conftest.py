"""Shared fixtures: real PostgreSQL, Redis and TLS servers for the tests.

`pg` and `redis_server` use $COCKPIT_TEST_DATABASE_URL / $COCKPIT_TEST_REDIS_URL when set (the
machine's shared servers: we only touch our own database / db index there), otherwise throwaway
servers from the `demo` extra. `restartable_pg` / `restartable_redis` are always throwaway, so
tests may stop, restart or exhaust them. Every fixture is lazy: unit tests start no server.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
import redis

from cockpit.lab.services import SilentServer, ThrowawayPostgres, ThrowawayRedis, free_port
from cockpit.lab.tlssim import TlsLab

TEST_MAX_CONNECTIONS = 40
TEST_REDIS_DB = 15  # on a shared Redis we only ever use, and flush, this db index


def _with_dbname(url: str, dbname: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{dbname}"))


class PgHandle:
    """A database for tests: `url` (a database of our own), `admin_url` (the server's
    maintenance database), facts about the server, and `connect()` for tracked connections."""

    def __init__(
        self, admin_url: str, url: str, throwaway: bool, server: ThrowawayPostgres | None = None
    ) -> None:
        self.admin_url = admin_url
        self.url = url
        self.dbname = urlsplit(url).path.lstrip("/")
        self.throwaway = throwaway
        self.server = server
        self._connections: list[psycopg.Connection] = []
        with psycopg.connect(admin_url, connect_timeout=5, autocommit=True) as conn:
            self.server_version_num = int(conn.execute("SHOW server_version_num").fetchone()[0])
            self.max_connections = int(conn.execute("SHOW max_connections").fetchone()[0])
            self.superuser_reserved_connections = int(
                conn.execute("SHOW superuser_reserved_connections").fetchone()[0]
            )
            preload = conn.execute("SHOW shared_preload_libraries").fetchone()[0]
        self.pg_stat_statements_loaded = "pg_stat_statements" in preload
        self.has_pg_stat_statements = False  # set by _prepare_database

    def connect(self, url: str | None = None, **kwargs: object) -> psycopg.Connection:
        """A psycopg connection (autocommit unless told otherwise) to `url`, default our database;
        closed at teardown."""
        kwargs.setdefault("connect_timeout", 5)
        kwargs.setdefault("autocommit", True)
        conn = psycopg.connect(url or self.url, **kwargs)
        self._connections.append(conn)
        return conn

    def close_connections(self) -> None:
        """Close every connection opened through `connect()`."""
        for conn in self._connections:
            conn.close()
        self._connections.clear()

    def restart(self) -> None:
        """Restart the server (throwaway only); connections from `connect()` are closed first."""
        if self.server is None:
            raise RuntimeError("only a throwaway server can be restarted")
        self.close_connections()
        self.server.restart()


def _prepare_database(pg: PgHandle) -> None:
    with psycopg.connect(pg.admin_url, connect_timeout=5, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{pg.dbname}"')
    # only where the library is preloaded: otherwise every query on the view errors out
    if pg.pg_stat_statements_loaded:
        with psycopg.connect(pg.url, connect_timeout=5, autocommit=True) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        pg.has_pg_stat_statements = True


def _drop_database(pg: PgHandle) -> None:
    pg.close_connections()
    with psycopg.connect(pg.admin_url, connect_timeout=5, autocommit=True) as conn:
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> pg_backend_pid()",
            (pg.dbname,),
        )
        conn.execute(f'DROP DATABASE IF EXISTS "{pg.dbname}" WITH (FORCE)')


@pytest.fixture(scope="session")
def pg() -> Iterator[PgHandle]:
    """A fresh database `cockpit_test_<hex>` on $COCKPIT_TEST_DATABASE_URL's server or on a
    throwaway PostgreSQL 18 (max_connections 40); dropped at the end of the session."""
    env_url = os.environ.get("COCKPIT_TEST_DATABASE_URL")
    server = None if env_url else ThrowawayPostgres(max_connections=TEST_MAX_CONNECTIONS).start()
    admin_url = env_url or server.url
    try:
        handle = PgHandle(
            admin_url,
            _with_dbname(admin_url, f"cockpit_test_{secrets.token_hex(4)}"),
            throwaway=server is not None,
        )
        _prepare_database(handle)
        try:
            yield handle
        finally:
            _drop_database(handle)
    finally:
        if server is not None:
            server.cleanup()


@pytest.fixture
def restartable_pg() -> Iterator[PgHandle]:
    """A throwaway PostgreSQL of this test's own (max_connections 40, 3 reserved): tests may
    restart, stop (`.server.stop()`/`.server.start()`) or exhaust it. `url` is its `postgres` db."""
    with ThrowawayPostgres(max_connections=TEST_MAX_CONNECTIONS) as server:
        handle = PgHandle(server.url, server.url, throwaway=True, server=server)
        handle.has_pg_stat_statements = True
        try:
            yield handle
        finally:
            handle.close_connections()


class RedisHandle:
    """A Redis for tests: `url`, `throwaway`, and `client()` for tracked clients."""

    def __init__(self, url: str, throwaway: bool, server: ThrowawayRedis | None = None) -> None:
        self.url = url
        self.throwaway = throwaway
        self.server = server
        parts = urlsplit(url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 6379
        self.db = int(parts.path.lstrip("/") or 0)
        self._clients: list[redis.Redis] = []

    def client(self, **kwargs: object) -> redis.Redis:
        """A redis-py client on `url` with timeouts, closed at teardown."""
        kwargs.setdefault("socket_timeout", 5)
        kwargs.setdefault("socket_connect_timeout", 5)
        client = redis.Redis.from_url(self.url, **kwargs)
        self._clients.append(client)
        return client

    def close_clients(self) -> None:
        """Close every client made by `client()`."""
        for client in self._clients:
            client.close()
        self._clients.clear()

    def restart(self) -> None:
        """Restart the server (throwaway only): keys and INFO counters start from zero."""
        if self.server is None:
            raise RuntimeError("only a throwaway server can be restarted")
        self.server.restart()


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisHandle]:
    """db 15 of $COCKPIT_TEST_REDIS_URL's server (flushed before and after), or a throwaway Redis.
    INFO counters are server-wide: exact hit-rate tests belong on `restartable_redis`."""
    env_url = os.environ.get("COCKPIT_TEST_REDIS_URL")
    if env_url:
        handle = RedisHandle(_with_dbname(env_url, str(TEST_REDIS_DB)), throwaway=False)
        handle.client().flushdb()
        try:
            yield handle
        finally:
            handle.client().flushdb()
            handle.close_clients()
        return
    with ThrowawayRedis() as server:
        handle = RedisHandle(server.url, throwaway=True, server=server)
        try:
            yield handle
        finally:
            handle.close_clients()


@pytest.fixture
def restartable_redis() -> Iterator[RedisHandle]:
    """A throwaway Redis of this test's own (maxmemory 64mb, maxclients 200)."""
    with ThrowawayRedis() as server:
        handle = RedisHandle(server.url, throwaway=True, server=server)
        try:
            yield handle
        finally:
            handle.close_clients()


@pytest.fixture(scope="session")
def tls_lab() -> Iterator[TlsLab]:
    """A started TlsLab: `endpoints[name]` for valid, expiring, expired, self_signed, mismatch,
    stall; `ca_path`; `client_context()`."""
    with TlsLab() as lab:
        yield lab


@pytest.fixture(scope="session")
def silent_server() -> Iterator[SilentServer]:
    """127.0.0.1:`port` accepts TCP connections and never sends a byte."""
    with SilentServer() as server:
        yield server


@pytest.fixture
def closed_port() -> int:
    """A port on 127.0.0.1 with nothing listening (connections are refused)."""
    return free_port()
