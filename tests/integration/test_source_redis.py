"""The Redis source against real redis-server processes: exact hit rates from known traffic on a
server of the test's own, restarts and counter resets, and the faults."""

from __future__ import annotations

import asyncio
import secrets
import time

import pytest

from cockpit.config import CacheConfig
from cockpit.models import CacheStats, SourceFailure
from cockpit.sources.redis import RedisSource
from tests.procfs import socket_fds


def make_source(url: str, timeout: float = 2.0) -> RedisSource:
    return RedisSource(CacheConfig(url=url, timeout_seconds=timeout), timeout=timeout)


async def collect_ok(source: RedisSource) -> CacheStats:
    stats = await source.collect()
    assert isinstance(stats, CacheStats), stats
    return stats


async def test_hit_rate_over_the_interval_equals_the_generated_traffic(restartable_redis):
    client = restartable_redis.client()
    keys = [f"present:{i}" for i in range(10)]
    for key in keys:  # also warms the client: its connection handshake is done before sampling
        client.set(key, "v")
    source = make_source(restartable_redis.url)
    try:
        first = await collect_ok(source)
        assert first.hit_rate_interval is None and first.interval_seconds is None
        assert first.hits_interval is None and first.evicted_per_sec is None
        assert first.restarted is False

        hits, misses = 7, 3
        for key in keys[:hits]:
            assert client.get(key) == b"v"
        for i in range(misses):
            assert client.get(f"absent:{i}") is None
        second = await collect_ok(source)
        assert second.hits_interval == hits and second.misses_interval == misses
        assert second.hit_rate_interval == hits / (hits + misses)
        # a fresh server: since-start equals what this test did
        assert second.hit_rate_total == hits / (hits + misses)
        # ops/s counts the test's GETs, not the cockpit's own INFO
        assert second.ops_per_sec * second.interval_seconds == pytest.approx(hits + misses)
        assert second.evicted_per_sec == 0
        assert second.keyspace == {"db0": len(keys)}
        assert second.maxclients == 200 and second.maxmemory == 64 * 1024 * 1024
        assert second.role == "master" and second.redis_version
        assert 0 < second.used_memory < second.maxmemory
        assert second.connected_clients >= 2 and second.blocked_clients == 0
        assert second.rejected_connections == 0 and second.connected_replicas == 0
        assert second.mem_fragmentation_ratio is not None

        quiet = await collect_ok(source)  # no lookups at all: no hit rate, not 0 and not 1
        assert quiet.hits_interval == 0 and quiet.misses_interval == 0
        assert quiet.hit_rate_interval is None
        assert quiet.ops_per_sec == 0
        assert quiet.hit_rate_total == second.hit_rate_total
    finally:
        await source.aclose()


async def test_counter_reset_is_flagged_and_never_a_negative_rate(restartable_redis):
    client = restartable_redis.client()
    client.set("k", "v")
    source = make_source(restartable_redis.url)
    try:
        await collect_ok(source)
        for _ in range(20):
            client.get("k")
        before = await collect_ok(source)
        assert before.hits_interval == 20
        client.config_resetstat()  # same run_id and uptime, counters back to zero
        reset = await collect_ok(source)
        assert reset.restarted is True
        assert reset.hit_rate_interval is None and reset.ops_per_sec is None
        assert reset.hits_interval is None and reset.evicted_per_sec is None
        after = await collect_ok(source)
        assert after.restarted is False and after.ops_per_sec >= 0
    finally:
        await source.aclose()


async def test_restarted_redis_is_detected_and_reconnected(restartable_redis):
    client = restartable_redis.client()
    client.set("k", "v")
    source = make_source(restartable_redis.url)
    try:
        await collect_ok(source)
        for _ in range(5):
            client.get("k")
        before = await collect_ok(source)
        restartable_redis.restart()
        failures = []
        end = time.monotonic() + 10
        while not isinstance(result := await source.collect(), CacheStats):
            failures.append(result)
            assert time.monotonic() < end, failures
        assert len(failures) <= 1, failures
        assert result.restarted is True
        assert result.hit_rate_interval is None and result.ops_per_sec is None
        assert result.uptime_seconds <= before.uptime_seconds + 2
        assert result.hit_rate_total is None  # a new server has no lookups yet
        following = await collect_ok(source)
        assert following.restarted is False and following.ops_per_sec >= 0
        assert following.interval_seconds > 0
    finally:
        await source.aclose()


async def test_keyspace_of_the_test_db_on_the_session_server(redis_server):
    client = redis_server.client()
    prefix = f"cockpit-test:{secrets.token_hex(3)}"
    for i in range(5):
        client.set(f"{prefix}:{i}", i)
    source = make_source(redis_server.url)
    try:
        stats = await collect_ok(source)
        assert stats.keyspace[f"db{redis_server.db}"] >= 5
        assert stats.uptime_seconds >= 0 and stats.maxclients
    finally:
        client.delete(*[f"{prefix}:{i}" for i in range(5)])
        await source.aclose()


# --------------------------------------------------------------------------- faults


async def test_wrong_password(restartable_redis):
    restartable_redis.client().config_set("requirepass", "right-password")
    host, port = restartable_redis.host, restartable_redis.port
    wrong = make_source(f"redis://:wrong-password@{host}:{port}/0")
    right = make_source(f"redis://:right-password@{host}:{port}/0")
    try:
        failure = await wrong.collect()
        assert isinstance(failure, SourceFailure), failure
        assert failure.reason == "authentication failed: wrong password"  # short, for the pane
        assert "invalid username-password pair" in failure.detail  # Redis's words, in the detail
        assert "wrong-password" not in failure.reason + failure.detail
        await collect_ok(right)
    finally:
        await wrong.aclose()
        await right.aclose()


async def test_nothing_listening(closed_port):
    source = make_source(f"redis://127.0.0.1:{closed_port}/0")
    try:
        failure = await asyncio.wait_for(source.collect(), 30)  # an outer hang bound
        assert isinstance(failure, SourceFailure), failure
        assert failure.source == "cache" and "refused" in failure.reason.lower()
    finally:
        await source.aclose()


async def test_a_socket_timeout_reads_timed_out_not_redis_py_words(silent_server):
    # the cache's own socket timeout shorter than the refresh timeout: redis-py's
    # "Timeout reading from 127.0.0.1:port" is the pane's "timed out after 0.3s"
    source = RedisSource(
        CacheConfig(url=f"redis://127.0.0.1:{silent_server.port}/0", timeout_seconds=0.3),
        timeout=2.0,
    )
    try:
        failure = await source.collect()
        assert isinstance(failure, SourceFailure), failure
        assert failure.reason == "timed out after 0.3s"
        assert "Timeout reading from" in failure.detail
    finally:
        await source.aclose()


async def test_silent_server_times_out_and_leaves_no_socket(silent_server):
    sockets_before = socket_fds()
    source = make_source(f"redis://127.0.0.1:{silent_server.port}/0", timeout=0.5)
    try:
        for _ in range(2):
            failure = await asyncio.wait_for(source.collect(), 30)  # an outer hang bound
            assert isinstance(failure, SourceFailure), failure
            assert failure.reason == "timed out after 0.5s"  # its own timeout ended it
    finally:
        await source.aclose()
    end = time.monotonic() + 5
    while socket_fds() > sockets_before:
        assert time.monotonic() < end, "the timed-out connection's socket is still open"
        await asyncio.sleep(0.05)
