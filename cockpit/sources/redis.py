"""Redis cache statistics: hit rate over the last interval, ops/s, memory, clients, evictions.

One INFO per collection. Rates come from the difference between this sample's counters and the
previous one's, because a since-start hit rate hides a miss storm. A restart (new run_id, uptime
or counters going down) is reported as such and yields no rate for that sample, never a
negative one.
"""

from __future__ import annotations

import math
import time
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Protocol

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import AuthenticationError, InvalidResponse, ResponseError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from cockpit.config import CacheConfig
from cockpit.models import CacheStats, SourceFailure, utcnow
from cockpit.sources.base import guarded
from cockpit.sources.fields import (
    Json,
    as_mapping,
    integer,
    number,
    optional_integer,
    optional_number,
    text,
)

CLIENT_NAME = "predictiq-cockpit"
# Redis before 7 has no maxclients in INFO: ask CONFIG GET this rarely (it may be forbidden)
MAXCLIENTS_REFRESH_SECONDS = 300.0


@dataclass(frozen=True)
class _Sample:
    """The counters one INFO reply held, and when it arrived (monotonic clock)."""

    run_id: str
    uptime: int
    hits: int
    misses: int
    commands: int
    evicted: int
    at: float
    own_commands: int  # commands the cockpit sent from this INFO on (INFO counts itself later)

    def went_backwards(self, before: _Sample) -> bool:
        """A restart: another server process, or counters lower than before."""
        return (
            self.run_id != before.run_id
            or self.uptime < before.uptime
            or self.hits < before.hits
            or self.misses < before.misses
            or self.commands < before.commands
            or self.evicted < before.evicted
        )


class _Commands(Protocol):
    """The two commands the source sends, as typed as the cockpit calls them: redis-py types
    `info` and `config_get` except their `**kwargs`, which strict mode reports at every call.
    The checker verifies that `aioredis.Redis` has them (`RedisSource._commands`)."""

    def info(self) -> Awaitable[object]: ...
    def config_get(self, pattern: str) -> Awaitable[object]: ...


class RedisSource:
    """Collects CacheStats per call; never raises, never waits longer than `timeout`."""

    name = "cache"

    def __init__(self, cfg: CacheConfig, *, timeout: float = 2.0) -> None:
        self.cfg = cfg
        self.timeout = timeout
        self._client = self._new_client()
        self._previous: _Sample | None = None
        self._maxclients: int | None = None
        self._maxclients_asked_at: float | None = None

    def _socket_timeout(self) -> float:
        return min(self.cfg.timeout_seconds, self.timeout)

    @property
    def _commands(self) -> _Commands:
        return self._client

    def _new_client(self) -> aioredis.Redis:
        socket_timeout = self._socket_timeout()
        return aioredis.Redis.from_url(  # pyright: ignore[reportUnknownMemberType] - redis-py leaves **kwargs untyped
            self.cfg.url,
            socket_timeout=socket_timeout,
            socket_connect_timeout=socket_timeout,
            # one immediate retry on a dropped connection (a restarted server), none on
            # timeouts: redis-py 8 would otherwise retry 10 times with backoff
            retry=Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,)),
            health_check_interval=0,
            client_name=CLIENT_NAME,
            max_connections=4,
            decode_responses=True,
        )

    async def collect(self) -> CacheStats | SourceFailure:
        """INFO (and rarely CONFIG GET maxclients), turned into CacheStats with interval rates."""
        result = await guarded(self.name, "INFO", self._read(), self.timeout)
        if isinstance(result, SourceFailure) and result.reason.startswith("timed out"):
            # a reply may still be in flight on that socket: never read it as the next answer
            await self._client.connection_pool.disconnect()
        return result

    async def aclose(self) -> None:
        """Close every connection; safe to call twice."""
        await self._client.aclose()

    async def _read(self) -> CacheStats:
        try:
            return await self._read_info()
        except InvalidResponse as exc:
            # bytes that are not RESP: something else listens there (or a proxy's error page);
            # the connection is out of step, so drop it before the next collection
            await self._client.connection_pool.disconnect()
            raise NotRedisError("not a Redis server (garbage reply)") from exc
        except AuthenticationError as exc:
            raise RedisAuthError(_auth_reason(str(exc))) from exc
        except RedisTimeoutError as exc:
            # redis-py's "Timeout reading from host:port": the socket timeout ran out first
            raise RedisSocketTimeout(f"timed out after {self._socket_timeout():g}s") from exc
        except ResponseError as exc:
            if str(exc).startswith(("NOAUTH", "WRONGPASS", "NOPERM")):
                raise RedisAuthError(_auth_reason(str(exc))) from exc
            raise
        except RedisConnectionError as exc:
            # redis-py words a refusal as "Error 111 connecting to ...": give the operator the
            # plain reason, as the other sources do
            if isinstance(exc.__cause__ or exc.__context__, ConnectionRefusedError):
                raise ConnectionRefusedError(str(exc)) from exc
            raise

    async def _read_info(self) -> CacheStats:
        info = as_mapping(await self._commands.info())
        at = time.monotonic()
        own = 1
        maxclients = optional_integer(info, "maxclients")
        if maxclients is None:
            maxclients, asked = await self._config_maxclients(at)
            own += asked
        sample = sample_from_info(info, at, own)
        previous, self._previous = self._previous, sample
        return stats_from_info(info, sample, previous, maxclients)

    async def _config_maxclients(self, now: float) -> tuple[int | None, int]:
        """(maxclients, commands sent): cached, asked again every few minutes."""
        if (
            self._maxclients_asked_at is not None
            and now - self._maxclients_asked_at < MAXCLIENTS_REFRESH_SECONDS
        ):
            return self._maxclients, 0
        self._maxclients_asked_at = now
        try:
            reply = as_mapping(await self._commands.config_get("maxclients"))
        except ResponseError:
            return self._maxclients, 1  # CONFIG disabled, renamed or denied by ACL
        self._maxclients = optional_integer(reply, "maxclients")
        return self._maxclients, 1


class NotRedisError(Exception):
    """The peer answered, but not in the Redis protocol."""


class RedisAuthError(Exception):
    """Redis refused our credentials (requirepass, ACL)."""


class RedisSocketTimeout(Exception):
    """A socket timeout inside redis-py, in the words the other sources use ("timed out after")."""


def _auth_reason(text: str) -> str:
    """Redis's authentication errors in the operator's words."""
    lowered = text.lower()
    if (
        "wrongpass" in lowered
        or "invalid password" in lowered
        or "invalid username-password" in lowered
    ):
        return "authentication failed: wrong password"
    if "noperm" in lowered:
        return "authentication failed: the ACL user lacks permission for INFO"
    return "authentication required: the server has a password the cockpit does not send"


def sample_from_info(info: Json, at: float, own_commands: int = 1) -> _Sample:
    """The counters of one INFO reply (as redis-py parses it); absent fields read as 0."""
    return _Sample(
        run_id=text(info, "run_id"),
        uptime=integer(info, "uptime_in_seconds"),
        hits=integer(info, "keyspace_hits"),
        misses=integer(info, "keyspace_misses"),
        commands=integer(info, "total_commands_processed"),
        evicted=integer(info, "evicted_keys"),
        at=at,
        own_commands=own_commands,
    )


def _keyspace(info: Json) -> dict[str, int]:
    """'db0' -> keys, from the keyspace section (absent when every database is empty)."""
    out: dict[str, int] = {}
    for name, value in info.items():
        if name.startswith("db") and name[2:].isdigit():
            out[name] = integer(value, "keys")
    return out


def stats_from_info(
    info: Json, sample: _Sample, previous: _Sample | None, maxclients: int | None
) -> CacheStats:
    """CacheStats from one INFO reply, with the rates since the previous sample (none after a
    restart, never negative). Fields a server version does not send read as 0 or None."""
    restarted = previous is not None and sample.went_backwards(previous)
    hit_rate = interval = ops = evicted_rate = None
    hits: int | None = None
    misses: int | None = None
    if previous is None:
        # a first sample has no interval: Redis's own instantaneous figure is the best there is
        ops = number(info, "instantaneous_ops_per_sec")
    elif not restarted and sample.at > previous.at:
        interval = sample.at - previous.at
        hits, misses = sample.hits - previous.hits, sample.misses - previous.misses
        hit_rate = hits / (hits + misses) if hits + misses else None
        others = sample.commands - previous.commands - previous.own_commands
        ops = max(others, 0) / interval
        evicted_rate = (sample.evicted - previous.evicted) / interval
    lookups = sample.hits + sample.misses
    fragmentation = optional_number(info, "mem_fragmentation_ratio")
    return CacheStats(
        collected_at=utcnow(),
        redis_version=text(info, "redis_version"),
        role=text(info, "role"),
        uptime_seconds=sample.uptime,
        hit_rate_interval=hit_rate,
        hit_rate_total=sample.hits / lookups if lookups else None,
        hits_interval=hits,
        misses_interval=misses,
        interval_seconds=interval,
        ops_per_sec=ops,
        evicted_per_sec=evicted_rate,
        used_memory=integer(info, "used_memory"),
        maxmemory=integer(info, "maxmemory"),
        mem_fragmentation_ratio=(
            fragmentation if fragmentation is not None and math.isfinite(fragmentation) else None
        ),
        connected_clients=integer(info, "connected_clients"),
        blocked_clients=integer(info, "blocked_clients"),
        maxclients=maxclients,
        rejected_connections=integer(info, "rejected_connections"),
        evicted_keys=sample.evicted,
        keyspace=_keyspace(info),
        connected_replicas=integer(info, "connected_slaves"),
        restarted=restarted,
    )
