"""What every source shares: the Source protocol and `guarded`, which turns any exception or
timeout into a SourceFailure with a reason an operator can read.

A source's `collect()` never raises into its caller and never blocks the event loop.
"""

from __future__ import annotations

import asyncio
import errno
import re
import socket
import ssl
from collections.abc import Awaitable
from typing import Protocol, TypeVar, runtime_checkable

from cockpit.models import Snapshot, SourceFailure

T = TypeVar("T")


@runtime_checkable
class Source(Protocol):
    """An async collector: one snapshot or one SourceFailure per call, always under a timeout."""

    name: str

    async def collect(self) -> Snapshot | SourceFailure:
        """Collect once."""
        ...

    async def aclose(self) -> None:
        """Close connections and threads; safe to call twice."""
        ...


def describe_error(exc: BaseException) -> str:
    """One line an operator can act on, for any exception a client library raises."""
    if isinstance(exc, TimeoutError | asyncio.TimeoutError):
        return "timed out"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, socket.gaierror):
        return f"cannot resolve host ({exc.strerror or exc})"
    if isinstance(exc, ssl.SSLError):
        return f"TLS error: {exc.reason or exc}"
    if isinstance(exc, OSError) and exc.errno in (errno.ECONNREFUSED,):
        return "connection refused"
    text = _libpq_reason(str(exc)) or " ".join(str(exc).split()) or type(exc).__name__
    if len(text) > 200:
        text = text[:197] + "..."
    return text


_LIBPQ_SERVER = re.compile(r'connection to server (?:at "([^"]*)"(?: \(([^)]*)\))?, port (\d+)|on socket "([^"]*)") failed: ([^\n]*)')


def _libpq_reason(message: str) -> str | None:
    """libpq's 'connection failed: connection to server at "h" (a), port p failed: REASON\n\tIs
    the server running...' as 'h:p: REASON' — the reason first, so an 80-column pane shows it."""
    found = _LIBPQ_SERVER.findall(message)
    if not found:
        return None
    parts: list[str] = []
    for host, _address, port, socket_path, reason in found:
        where = socket_path or f"{host}:{port}"
        parts.append(f"{' '.join(reason.split()).removeprefix('FATAL: ')} ({where})")
    return "; ".join(dict.fromkeys(parts))


async def guarded(source: str, what: str, work: Awaitable[T], timeout: float) -> T | SourceFailure:
    """Await `work` under `timeout`; any exception or timeout becomes a SourceFailure."""
    try:
        return await asyncio.wait_for(work, timeout)
    except asyncio.CancelledError:
        raise
    except TimeoutError:
        return SourceFailure(source, what, f"timed out after {timeout:g}s")
    except Exception as exc:  # noqa: BLE001 - a source never raises into its caller
        return SourceFailure(source, what, describe_error(exc))
