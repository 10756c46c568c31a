"""Redis INFO as Redis 5, 6, 7 and Valkey 8 write it (fields missing, maxmemory 0, keyspace
empty, a restart between samples), parsed by redis-py's own INFO parser, through the source's
arithmetic, the state, the rules and the cache pane."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from redis._parsers.helpers import parse_info

from cockpit.sources.fields import optional_integer
from cockpit.sources.redis import sample_from_info, stats_from_info
from tests.property.harness import PANE_EXAMPLES, PROPERTY, show_in_pane, through_state_and_rules

FLAVOURS: dict[str, dict[str, str]] = {
    "redis5": {"redis_version": "5.0.14", "redis_mode": "standalone"},
    "redis6": {"redis_version": "6.2.14", "io_threads_active": "0", "tracking_clients": "0"},
    "redis7": {"redis_version": "7.2.4", "maxclients": "10000", "total_blocking_keys": "0"},
    "valkey8": {
        "redis_version": "7.2.4",
        "server_name": "valkey",
        "valkey_version": "8.0.1",
        "maxclients": "10000",
    },
}
COUNTERS = (
    "keyspace_hits",
    "keyspace_misses",
    "total_commands_processed",
    "evicted_keys",
    "uptime_in_seconds",
)
NUMBERS: dict[str, st.SearchStrategy[str]] = {
    "run_id": st.sampled_from(["a" * 40, "b" * 40]),
    "uptime_in_seconds": st.integers(0, 10**8).map(str),
    "connected_clients": st.integers(0, 10**5).map(str),
    "blocked_clients": st.integers(0, 100).map(str),
    "used_memory": st.integers(0, 2**40).map(str),
    "maxmemory": st.sampled_from(["0", "1073741824", "104857600"]),
    "mem_fragmentation_ratio": st.sampled_from(["1.10", "0.00", "nan", "12.5"]),
    "instantaneous_ops_per_sec": st.integers(0, 10**6).map(str),
    "keyspace_hits": st.integers(0, 10**12).map(str),
    "keyspace_misses": st.integers(0, 10**12).map(str),
    "total_commands_processed": st.integers(0, 10**12).map(str),
    "evicted_keys": st.integers(0, 10**9).map(str),
    "rejected_connections": st.integers(0, 10**6).map(str),
    "role": st.sampled_from(["master", "slave", "replica"]),
    "connected_slaves": st.integers(0, 5).map(str),
}


@st.composite
def info_text(draw: st.DrawFn) -> str:
    """One INFO reply: a flavour's own fields, each common field present or missing, and a
    keyspace section that is empty (no keys anywhere) or lists a few databases."""
    fields = dict(FLAVOURS[draw(st.sampled_from(sorted(FLAVOURS)))])
    for name, values in NUMBERS.items():
        if draw(st.integers(0, 9)):  # mostly present
            fields[name] = draw(values)
    lines = ["# Server"] + [f"{k}:{v}" for k, v in fields.items()] + ["", "# Keyspace"]
    for db in draw(st.lists(st.integers(0, 15), max_size=3, unique=True)):
        keys, expires = draw(st.integers(0, 10**7)), draw(st.integers(0, 10**7))
        lines.append(f"db{db}:keys={keys},expires={expires},avg_ttl=0")
    return "\r\n".join(lines) + "\r\n"


def two_samples(first: str, second: str) -> Any:
    before, after = parse_info(first), parse_info(second)
    previous = sample_from_info(before, 100.0)
    sample = sample_from_info(after, 102.0)
    return (
        before,
        after,
        stats_from_info(after, sample, previous, optional_integer(after, "maxclients")),
    )


@given(info_text(), info_text())
@PROPERTY
def test_info_of_every_version_gives_stats_and_never_a_negative_rate(
    first: str, second: str
) -> None:
    before, after, stats = two_samples(first, second)
    assert stats.redis_version in (before.get("redis_version"), after.get("redis_version"))
    for rate in (stats.ops_per_sec, stats.evicted_per_sec, stats.hit_rate_interval):
        assert rate is None or rate >= 0
    if stats.hit_rate_interval is not None:
        assert 0.0 <= stats.hit_rate_interval <= 1.0
    assert stats.memory_percent is None or stats.maxmemory > 0
    assert set(stats.keyspace) == {k for k in after if k.startswith("db") and k[2:].isdigit()}
    through_state_and_rules("cache", stats)


@given(info_text(), info_text())
@PANE_EXAMPLES
def test_the_cache_pane_shows_the_server_and_its_summary(first: str, second: str) -> None:
    _, _, stats = two_samples(first, second)
    report = show_in_pane("cache", stats)
    assert "hit " in report.summary and f"{stats.connected_clients} clients" in report.summary
    assert f"redis {stats.redis_version} {stats.role}" in report.body
    assert ("no limit" in report.body) == (stats.maxmemory == 0)
