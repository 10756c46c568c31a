"""Cache pane: hit rate over the last interval with its trend, memory, evictions and clients."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from textual.app import ComposeResult

from cockpit.durations import duration
from cockpit.models import CacheStats
from widgets.paint import paint
from widgets.panes.base import FocusableStatic, Pane
from widgets.panes.common import bar, buckets, number, size, spark, trend_line
from widgets.panes.steady import RATE_PER_S, Steady


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{100 * v:.1f}%"


class CachePane(Pane[CacheStats]):
    """Redis as the API's cache sees it."""

    source = "cache"
    title = "Cache"
    number = 3

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.steady = Steady()  # ops/s and evictions/s as shown (`widgets.panes.steady`)

    def compose_body(self) -> ComposeResult:
        yield FocusableStatic(classes="focus-target text")

    def summarize(self, c: CacheStats, trends: dict[str, list[float]]) -> str:
        mem = f"{c.memory_percent:.0f}%" if c.memory_percent is not None else size(c.used_memory)
        hits = trends.get("cache.hit_rate") or []
        return (
            f"hit {_pct(c.hit_rate_interval)} {spark(buckets(hits, 8, min), 8)} · mem {mem} · "
            f"evict {number(self._evictions(c), '{:.1f}')}/s · {c.connected_clients} clients"
        )

    def _evictions(self, c: CacheStats) -> float | None:
        return self.steady.value("evictions", c.evicted_per_sec, RATE_PER_S)

    def render_body(self, c: CacheStats, now: datetime, trends: dict[str, list[float]]) -> None:
        hits = trends.get("cache.hit_rate") or []
        limit = size(c.maxmemory) if c.maxmemory else "no limit"
        lines = [
            (
                f"hit rate {_pct(c.hit_rate_interval)} (interval)  "
                f"{_pct(c.hit_rate_total)} (since start)"
            ),
            f"hit rate 15m {trend_line(hits, 30, min)}" if hits else "hit rate 15m: collecting",
            f"memory {size(c.used_memory)} / {limit}"
            + (f"  {bar(c.memory_percent / 100, 16)}" if c.memory_percent is not None else ""),
            f"evictions {number(self._evictions(c), '{:.1f}')}/s ({c.evicted_keys} total)"
            f"   ops {number(self.steady.value('ops', c.ops_per_sec, RATE_PER_S), '{:.0f}')}/s",
            f"clients {c.connected_clients} connected, {c.blocked_clients} blocked"
            + (f", max {c.maxclients}" if c.maxclients else "")
            + (f", {c.rejected_connections} rejected" if c.rejected_connections else ""),
            f"redis {c.redis_version} {c.role}, up {duration(c.uptime_seconds, coarse=True)}"
            + ("  (restarted since the last sample)" if c.restarted else ""),
        ]
        if self.monitor:
            lines = lines[:4]
        paint(self.query_one(".text", FocusableStatic), "\n".join(lines))
