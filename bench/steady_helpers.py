"""Small probes of the watched servers shared by the benchmarks."""

from __future__ import annotations


def redis_info_calls(url: str) -> int:
    """cmdstat_info calls so far (this INFO call itself is counted after it returns)."""
    import redis

    with redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2) as r:
        return int(r.info("commandstats").get("cmdstat_info", {}).get("calls", 0))
