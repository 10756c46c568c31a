"""Market reads for the API simulator: cache-aside through Redis, and the cache warm job.

Keys: `market:{id}` holds one market as JSON, `markets:{status}` a list (`markets:active` is the
key the runbook's manual fix populates). Every miss really reads PostgreSQL, so Redis's own
keyspace_hits/keyspace_misses are what the cockpit's cache pane sees.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, LiteralString

import psycopg
import redis
from psycopg import sql as pgsql
from psycopg.abc import QueryNoTemplate

from cockpit.lab.apisim.support import ApiMetrics, PgPool, Reply
from cockpit.lab.redisconn import TextRedis
from cockpit.lab.schema import MARKET_STATUSES

_COLUMNS: Final = "id, title, status, odds::float8, volume::float8, created_at, closes_at"
_KEYS = ("id", "title", "status", "odds", "volume", "created_at", "closes_at")
LIST_LIMIT = 500


def json_reply(status: int, payload: Any, *headers: tuple[str, str]) -> Reply:
    """A JSON response."""
    return Reply(status, json.dumps(payload).encode(), headers=headers)


def _market(row: tuple[Any, ...]) -> dict[str, Any]:
    return {
        key: value.isoformat() if isinstance(value, datetime) else value
        for key, value in zip(_KEYS, row, strict=True)
    }


@dataclass
class MarketCache:
    """Cache-aside reads of markets and the warm job; `fill_on_miss` off models a cache that
    only the warm job fills (so a flush stays a miss storm until someone warms it)."""

    pool: PgPool
    cache: TextRedis
    metrics: ApiMetrics
    ttl_seconds: int
    fill_on_miss: bool = True

    def read_market(self, market_id: int) -> Reply:
        """One market by id: 200 (X-Cache HIT/MISS/ERROR), 404, or 503 if PostgreSQL fails."""
        sql = f"SELECT {_COLUMNS} FROM markets WHERE id = %s"
        return self._cache_aside(f"market:{market_id}", sql, (market_id,), single=True)

    def read_list(self, status: str | None) -> Reply:
        """Markets with one status (or all), capped at LIST_LIMIT; 400 on an unknown status."""
        if status is not None and status not in MARKET_STATUSES:
            return json_reply(400, {"error": f"unknown status {status!r}"})
        where: LiteralString = "WHERE status = %s" if status else ""
        params: tuple[object, ...] = (status,) if status else ()
        sql = pgsql.SQL(f"SELECT {_COLUMNS} FROM markets {where} ORDER BY id LIMIT {{}}").format(
            pgsql.Literal(LIST_LIMIT)
        )
        return self._cache_aside(f"markets:{status or 'all'}", sql, params, single=False)

    def warm(self) -> Reply:
        """Load every active market, and the active list, from PostgreSQL into Redis."""
        started = time.perf_counter()
        try:
            sql = f"SELECT {_COLUMNS} FROM markets WHERE status = 'active' ORDER BY id"
            markets = [_market(row) for row in self.pool.fetchall(sql)]
            pipe = self.cache.pipeline(transaction=False)
            for market in markets:
                pipe.set(f"market:{market['id']}", json.dumps(market), ex=self.ttl_seconds)
            pipe.set("markets:active", json.dumps(markets[:LIST_LIMIT]), ex=self.ttl_seconds)
            pipe.execute()
        except (psycopg.Error, redis.RedisError, TimeoutError) as exc:
            return json_reply(503, {"error": f"warm failed: {type(exc).__name__}: {exc}"})
        duration_ms = round((time.perf_counter() - started) * 1000, 2)
        return json_reply(200, {"warmed": len(markets), "duration_ms": duration_ms})

    def _cache_aside(
        self,
        key: str,
        sql: QueryNoTemplate,
        params: tuple[object, ...],
        *,
        single: bool,
    ) -> Reply:
        try:
            cached = self.cache.get(key)
        except redis.RedisError:
            # The cache is down: degrade to the database rather than fail the read.
            self.metrics.cache_errors.inc()
            cached, state = None, "ERROR"
        else:
            state = "HIT" if cached is not None else "MISS"
            (self.metrics.cache_hits if cached is not None else self.metrics.cache_misses).inc()
        if cached is not None:
            return Reply(200, cached.encode(), headers=(("X-Cache", state),))
        try:
            rows = self.pool.fetchall(sql, params)
        except (psycopg.Error, TimeoutError) as exc:
            return json_reply(503, {"error": f"database unavailable: {type(exc).__name__}: {exc}"})
        if single and not rows:
            return json_reply(404, {"error": "market not found"})
        payload = json.dumps(_market(rows[0]) if single else [_market(r) for r in rows])
        if self.fill_on_miss and state == "MISS":
            try:
                self.cache.set(key, payload, ex=self.ttl_seconds)
            except redis.RedisError:
                self.metrics.cache_errors.inc()
        return Reply(200, payload.encode(), headers=(("X-Cache", state),))
