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


# Words in a client library's message -> the short cause an 80-column pane leads with (issue 20:
# "HTTPConnection(host=..., port=...): Failed to establish a new connection: [Errno 111]
# Connection refused" is "connection refused"; the whole text goes to the detail view).
_CAUSES = (
    ("connection refused", "connection refused"),
    ("timed out", "timed out"),
    ("timeout", "timed out"),
    ("connection reset", "connection reset by the server"),
    ("remotedisconnected", "connection closed by the server"),
    ("remote end closed connection", "connection closed by the server"),
    ("connection aborted", "connection closed by the server"),
    ("broken pipe", "connection closed by the server"),
    ("server disconnected", "connection closed by the server"),
    ("connection closed by server", "connection closed by the server"),
    ("server closed the connection", "connection closed by the server"),
    ("badstatusline", "not an HTTP server (unreadable reply)"),
    ("illegal status line", "not an HTTP server (unreadable reply)"),
    ("invalid http", "not an HTTP server (unreadable reply)"),
    ("name or service not known", "cannot resolve host"),
    ("temporary failure in name resolution", "cannot resolve host"),
    ("no route to host", "no route to host"),
    ("network is unreachable", "network unreachable"),
)
DETAIL_LIMIT = 2000  # characters of an error's full text kept for the detail view


def short_cause(text: str) -> str | None:
    """The short cause named in an error text (`connection refused`, `timed out`, ...), if any."""
    lowered = text.lower()
    return next((cause for words, cause in _CAUSES if words in lowered), None)


def error_detail(exc: BaseException) -> str:
    """The full text of an exception and what it wraps, for the pane's detail view."""
    parts: list[str] = []
    seen: set[int] = set()
    cause: BaseException | None = exc
    while cause is not None and id(cause) not in seen and len(parts) < 6:
        seen.add(id(cause))
        text = " ".join(str(cause).split())
        part = f"{type(cause).__name__}: {text}" if text else type(cause).__name__
        if not any(part in p for p in parts):
            parts.append(part)
        reason = getattr(cause, "reason", None)
        cause = (
            reason if isinstance(reason, BaseException) else (cause.__cause__ or cause.__context__)
        )
    detail = " <- ".join(parts)
    return detail if len(detail) <= DETAIL_LIMIT else detail[: DETAIL_LIMIT - 3] + "..."


def describe_error(exc: BaseException) -> str:
    """One short line an operator can act on, for any exception a client library raises: the
    cause first (`connection refused`, `timed out`, `TLS handshake failed: ...`, `HTTP 401`);
    `error_detail` has the rest."""
    if isinstance(exc, TimeoutError | asyncio.TimeoutError):
        return "timed out"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, socket.gaierror):
        return f"cannot resolve host ({exc.strerror or exc})"
    if isinstance(exc, ssl.SSLError):
        return f"TLS handshake failed: {exc.reason or exc}"
    if isinstance(exc, OSError) and exc.errno in (errno.ECONNREFUSED,):
        return "connection refused"
    raw = str(exc)
    libpq = _libpq_reason(raw)
    if libpq:
        return _cut(libpq)
    text = " ".join(raw.split()) or type(exc).__name__
    if len(text) > SHORT_LIMIT:
        text = short_cause(text) or text
    return _cut(text)


SHORT_LIMIT = 60  # a reason longer than this is replaced by its short cause when it names one


def _cut(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


_LIBPQ_SERVER = re.compile(
    r'connection to server (?:at "([^"]*)"(?: \(([^)]*)\))?, port (\d+)'
    r'|on socket "([^"]*)") failed: ([^\n]*)'
)


_LIBPQ_GARBAGE = (
    "received invalid response to SSL negotiation",
    "expected authentication request from server",
    "invalid response to SSL negotiation",
    "unexpected message from server",
)


def _libpq_reason(message: str) -> str | None:
    """libpq's 'connection failed: connection to server at "h" (a), port p failed: REASON\n\tIs
    the server running...' as 'h:p: REASON' — the reason first, so an 80-column pane shows it."""
    found = _LIBPQ_SERVER.findall(message)
    if not found:
        return None
    parts: list[str] = []
    for host, _address, port, socket_path, reason in found:
        where = socket_path or f"{host}:{port}"
        said = " ".join(reason.split()).removeprefix("FATAL: ")
        if said.startswith(_LIBPQ_GARBAGE):  # libpq got bytes that are not its protocol
            said = "not a PostgreSQL server: garbage reply"
        parts.append(f"{said} ({where})")
    return "; ".join(dict.fromkeys(parts))


async def guarded(source: str, what: str, work: Awaitable[T], timeout: float) -> T | SourceFailure:
    """Await `work` under `timeout`; any exception or timeout becomes a SourceFailure."""
    try:
        return await asyncio.wait_for(work, timeout)
    except asyncio.CancelledError:
        raise
    except TimeoutError:
        return SourceFailure(source, what, f"timed out after {timeout:g}s")
    except Exception as exc:  # a source never raises into its caller
        return SourceFailure(source, what, describe_error(exc), detail=error_detail(exc))
