"""The harness fixtures give real, isolated PostgreSQL and Redis servers, and clean up after."""

from __future__ import annotations

import os
import shutil
import socket
import time
import uuid

import psycopg
import pytest
import redis

from cockpit.lab.services import ThrowawayPostgres, ThrowawayRedis


def test_pg_is_a_real_server_with_a_database_of_our_own(pg):
    conn = pg.connect()
    version_num = int(conn.execute("SHOW server_version_num").fetchone()[0])
    assert version_num == pg.server_version_num
    assert version_num >= 120000
    assert conn.execute("SELECT current_database()").fetchone()[0] == pg.dbname
    assert pg.dbname.startswith("cockpit_test_")
    assert pg.max_connections == int(conn.execute("SHOW max_connections").fetchone()[0])


def test_pg_stat_statements_is_present_where_it_is_preloaded(pg):
    conn = pg.connect()
    installed = conn.execute(
        "SELECT count(*) FROM pg_extension WHERE extname = 'pg_stat_statements'"
    ).fetchone()[0]
    assert bool(installed) == pg.has_pg_stat_statements
    if pg.throwaway:
        assert pg.has_pg_stat_statements
        assert pg.max_connections == 40
    if pg.has_pg_stat_statements:
        # a table of its own: pg_stat_statements merges statements that differ only in
        # constants or column aliases, so `SELECT 1 AS marker` could hide under `SELECT $1`
        marker = f"harness_marker_{uuid.uuid4().hex[:8]}"
        conn.execute(f"CREATE TEMP TABLE {marker} (x int)")
        conn.execute(f"SELECT x FROM {marker}")
        rows = conn.execute(
            "SELECT calls FROM pg_stat_statements WHERE query = %s", (f"SELECT x FROM {marker}",)
        ).fetchall()
        assert rows and rows[0][0] >= 1


def test_restartable_pg_is_throwaway_with_small_max_connections(restartable_pg):
    conn = restartable_pg.connect()
    assert restartable_pg.throwaway
    assert conn.execute("SHOW max_connections").fetchone()[0] == "40"
    assert conn.execute("SHOW superuser_reserved_connections").fetchone()[0] == "3"
    assert "pg_stat_statements" in conn.execute("SHOW shared_preload_libraries").fetchone()[0]
    assert (
        conn.execute(
            "SELECT count(*) FROM pg_extension WHERE extname = 'pg_stat_statements'"
        ).fetchone()[0]
        == 1
    )
    assert restartable_pg.server_version_num >= 180000


def test_restartable_pg_restart_drops_sessions_and_comes_back_on_the_same_url(restartable_pg):
    before = restartable_pg.connect()
    started = before.execute("SELECT pg_postmaster_start_time()").fetchone()[0]
    outside = psycopg.connect(restartable_pg.url, connect_timeout=5, autocommit=True)
    try:
        restartable_pg.restart()
        with pytest.raises(psycopg.OperationalError):
            outside.execute("SELECT 1")  # the old session died with the old server
    finally:
        outside.close()
    after = restartable_pg.connect()
    assert after.execute("SELECT pg_postmaster_start_time()").fetchone()[0] > started


def test_stopped_throwaway_postgres_refuses_connections_and_leaves_nothing():
    server = ThrowawayPostgres(max_connections=20).start()
    pid = server._process.popen.pid
    server.stop()
    assert not server.running
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", server.port), timeout=2).close()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    server.cleanup()
    assert not server.tmpdir.exists()


def test_redis_set_get_and_info(redis_server):
    client = redis_server.client()
    key = f"cockpit:test:{uuid.uuid4().hex}"
    client.set(key, "hello", ex=60)
    assert client.get(key) == b"hello"
    info = client.info()
    assert info["redis_version"]
    assert "keyspace_hits" in info and "keyspace_misses" in info
    if not redis_server.throwaway:
        assert redis_server.db == 15
    client.delete(key)


def test_restartable_redis_restart_resets_counters_and_data(restartable_redis):
    client = restartable_redis.client()
    client.set("k", "v")
    assert client.get("k") == b"v"
    assert client.get("missing") is None
    info = client.info()
    assert (info["keyspace_hits"], info["keyspace_misses"]) == (1, 1)
    assert client.config_get("maxclients")["maxclients"] == "200"
    restartable_redis.restart()
    fresh = restartable_redis.client()
    assert fresh.get("k") is None  # no persistence
    info = fresh.info()
    assert info["keyspace_hits"] == 0 and info["keyspace_misses"] == 1
    assert info["uptime_in_seconds"] < 60


def test_stopped_throwaway_redis_refuses_connections():
    with ThrowawayRedis() as server:
        url = server.url
        server.stop()
        client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)
        with pytest.raises(redis.ConnectionError):
            client.ping()
        client.close()


def test_silent_server_accepts_but_never_answers(silent_server):
    sock = socket.create_connection((silent_server.host, silent_server.port), timeout=2)
    sock.settimeout(0.3)
    sock.sendall(b"PING\r\n")
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        sock.recv(1)
    assert time.monotonic() - started < 2
    sock.close()


def test_closed_port_refuses(closed_port):
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", closed_port), timeout=2)


def test_a_port_taken_before_start_is_retried_on_another_port():
    squatter = socket.create_server(("127.0.0.1", 0))
    taken = squatter.getsockname()[1]
    try:
        server = ThrowawayRedis()
        server.port = taken  # as if another process won the race after free_port()
        with server:
            assert server.port != taken
            client = redis.Redis.from_url(server.url, socket_timeout=2)
            assert client.ping()
            client.close()
    finally:
        squatter.close()


def test_a_failed_start_leaves_no_temp_dir():
    server = ThrowawayPostgres(max_connections=2, superuser_reserved_connections=5)
    with pytest.raises(RuntimeError, match="did not start"):
        server.start(timeout=10)
    assert server.tmpdir is not None and not server.tmpdir.exists()
    assert not server.running


def test_servers_die_with_a_killed_parent(tmp_path):
    """A lab SIGKILLed mid-run leaves no server behind (their own session would otherwise keep
    them)."""
    import signal
    import subprocess
    import sys

    script = (
        "import sys\nfrom cockpit.lab.services import ThrowawayRedis\n"
        "r = ThrowawayRedis(); r.start()\nprint(r.port, r.tmpdir, flush=True)\nsys.stdin.read()\n"
    )
    parent = subprocess.Popen(
        [sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        port_text, tmpdir = parent.stdout.readline().split()
        port = int(port_text)
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    finally:
        parent.send_signal(signal.SIGKILL)
        parent.wait(10)
        parent.stdin.close()
        parent.stdout.close()
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        except OSError:
            break  # nobody listens any more: the server went with its parent
        assert time.monotonic() < deadline, f"redis on {port} outlived its killed parent"
        time.sleep(0.05)
    shutil.rmtree(tmpdir, ignore_errors=True)  # the killed parent could not clean up after itself
