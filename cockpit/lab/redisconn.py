"""The lab's Redis clients, typed: what the lab and the API simulator call on them, and no more.

redis-py leaves the `**kwargs` of its commands unannotated, so every call on a `redis.Redis` is
partly unknown to a strict type checker. The protocols below name the few commands the lab uses
with the types they really return for a synchronous client (a `text_client` decodes replies to
str); the two constructors are the only place a `redis.Redis` is made and cast to them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, Self, cast

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

_from_url = cast(Callable[..., redis.Redis], redis.Redis.from_url)  # kwargs go to Redis()


class RedisClient(Protocol):
    """The lab's own checks: is it up, which process is it, empty it."""

    def ping(self) -> bool: ...

    def info(self, section: str) -> dict[str, Any]: ...

    def flushdb(self) -> bool: ...

    def close(self) -> None: ...

    def __enter__(self) -> Self: ...

    def __exit__(self, *exc_info: object) -> None: ...


class TextPipeline(Protocol):
    """A non-transactional pipeline of SETs (the cache warm job)."""

    def set(self, name: str, value: str, ex: int | None = None) -> object: ...

    def execute(self) -> list[object]: ...


class TextRedis(RedisClient, Protocol):
    """The API simulator's cache: string values in, string values out."""

    def get(self, name: str) -> str | None: ...

    def set(self, name: str, value: str, ex: int | None = None) -> bool | None: ...

    def pipeline(self, transaction: bool = True) -> TextPipeline: ...


def client(url: str, timeout: float) -> RedisClient:
    """A client whose connect and socket timeouts are both `timeout` seconds."""
    return cast(RedisClient, _from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout))


def text_client(url: str, timeout: float) -> TextRedis:
    """A client that decodes replies to str and fails within one timeout.

    redis-py defaults differ across versions: timeouts are pinned and retries turned off, so a
    dead Redis shows up in /health within one timeout instead of after a retry ladder.
    """
    return cast(
        TextRedis,
        _from_url(
            url,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            retry=Retry(NoBackoff(), 0),
            retry_on_timeout=False,
            health_check_interval=0,
            decode_responses=True,
        ),
    )
