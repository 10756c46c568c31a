"""One page over HTTP: POST a JSON body, retrying what may pass and never what cannot.

2xx is delivered (PagerDuty answers 202). 429 and 5xx, timeouts and refused or dropped
connections are retried with exponential backoff (honouring a Retry-After header, capped), up
to `max_attempts`, then given up with the last reason. Any other 4xx (400 "invalid event") is
final at once: sending it again cannot help. Every attempt is bounded in time as a whole, so a
server that answers one byte a minute cannot hold the pager either.

Error texts are redacted by the caller's `redact` (the routing key and the webhook URL never
appear in a reason, whatever a server echoes back).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, cast

import httpx

Sleep = Callable[[float], Awaitable[None]]
REASON_MAX = 300  # characters of a server's own words kept in a reason


@dataclass(frozen=True)
class Backoff:
    """Waits between attempts: `first`, doubling, at most `cap` seconds (Retry-After too)."""

    first: float = 1.0
    cap: float = 60.0

    def wait(self, attempt: int, retry_after: float | None) -> float:
        """Seconds to wait after failed attempt number `attempt` (from 1)."""
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.cap)
        return min(self.first * 2 ** (attempt - 1), self.cap)


@dataclass(frozen=True)
class Delivery:
    """How one page went: delivered or not, the last HTTP status, attempts, waits, why not."""

    delivered: bool
    status: int | None
    attempts: int
    error: str = ""  # "" when delivered
    gave_up: bool = False  # retried until max_attempts (False: final at once, e.g. a 400)
    waits: tuple[float, ...] = ()  # the seconds waited between attempts


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """A Retry-After header as seconds: delta-seconds or an HTTP date; None if absent or odd."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max((when - (now or datetime.now(UTC))).total_seconds(), 0.0)


def _server_words(response: httpx.Response) -> str:
    """What the server said about a refusal: PagerDuty's message and errors, else the text."""
    try:
        data: Any = response.json()
    except (ValueError, UnicodeDecodeError):
        return " ".join(response.text.split())[:REASON_MAX]
    if isinstance(data, dict):
        body = cast(dict[str, Any], data)
        parts = [str(body.get("message") or body.get("status") or "")]
        errors: Any = body.get("errors")
        if isinstance(errors, list):
            parts += [str(e) for e in cast(list[object], errors)]
        text = ": ".join(p for p in parts if p)
        if text:
            return " ".join(text.split())[:REASON_MAX]
    return " ".join(json.dumps(data).split())[:REASON_MAX]


def _root_os_error(exc: BaseException) -> OSError | None:
    """The socket's own error under an httpx error (httpx, httpcore and anyio wrap it in
    OSErrors of their own: the deepest one with an errno is the socket's)."""
    seen: set[int] = set()
    found: OSError | None = None
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        if isinstance(cur, OSError) and (found is None or cur.errno is not None):
            found = cur
        seen.add(id(cur))
        cur = cur.__cause__ or cur.__context__
    return found


def _transport_reason(exc: Exception, timeout: float) -> str:
    if isinstance(exc, httpx.TimeoutException | TimeoutError):
        return f"no answer within {timeout:g} s"
    cause = _root_os_error(exc)
    if isinstance(cause, ConnectionRefusedError) or "refused" in str(exc).lower():
        return "connection refused"
    if isinstance(exc, httpx.ConnectError):
        return f"cannot connect: {cause.strerror if cause and cause.strerror else exc}"
    return f"{type(exc).__name__}: {exc}"


async def deliver(
    client: httpx.AsyncClient,
    url: str,
    body: dict[str, Any],
    *,
    max_attempts: int,
    timeout: float,
    backoff: Backoff,
    sleep: Sleep,
    redact: Callable[[str], str],
) -> Delivery:
    """POST `body` to `url` until it is delivered, refused, or `max_attempts` are spent."""
    waits: list[float] = []
    status: int | None = None
    reason = ""
    for attempt in range(1, max_attempts + 1):
        retry_after: float | None = None
        try:
            async with asyncio.timeout(timeout):
                response = await client.post(url, json=body)
        except (httpx.HTTPError, TimeoutError, OSError) as exc:
            status, reason = None, _transport_reason(exc, timeout)
        else:
            status = response.status_code
            if 200 <= status < 300:
                return Delivery(True, status, attempt, waits=tuple(waits))
            words = _server_words(response)
            reason = f"HTTP {status}" + (f": {words}" if words else "")
            if status != 429 and status < 500:
                return Delivery(False, status, attempt, redact(reason), False, tuple(waits))
            retry_after = retry_after_seconds(response.headers.get("retry-after"))
        if attempt == max_attempts:
            break
        wait = backoff.wait(attempt, retry_after)
        waits.append(wait)
        await sleep(wait)
    reason = f"{reason} (gave up after {max_attempts} attempts)"
    return Delivery(False, status, max_attempts, redact(reason), True, tuple(waits))
