"""Watch streaming: chunked JSON events (one per line) replayed from the store's history.

A watch starts from `resourceVersion` (or from "now", with synthetic ADDED events for what exists,
when it is empty or "0"), waits on the store's Condition for new writes, sends BOOKMARKs when the
client allows them, ends cleanly at `timeoutSeconds`, and answers a version older than the kept
history with an ERROR event carrying a 410 Gone Status, as the real API server does.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from cockpit.lab.kubesim.api import Route, convert, matches
from cockpit.lab.kubesim.jsontypes import JSON
from cockpit.lab.kubesim.store import Change, ObjectStore, ResourceVersionGone


@dataclass(eq=False)
class WatchSession:
    """One open watch connection; `close()` cuts it without a clean end of stream."""

    sock: socket.socket
    silent: bool = False
    closed: bool = False

    def close(self) -> None:
        """Cut the connection abruptly (no terminating chunk), as a dropped network would."""
        self.closed = True
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


@dataclass
class WatchRegistry:
    """The open watches, so faults and stop() can reach them."""

    store: ObjectStore
    sessions: set[WatchSession] = field(default_factory=set)
    silent: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)

    def open(self, sock: socket.socket) -> WatchSession:
        """Register a new watch (silent from the start if silence is injected)."""
        session = WatchSession(sock, silent=self.silent)
        with self.lock:
            self.sessions.add(session)
        return session

    def close(self, session: WatchSession) -> None:
        """Forget a finished watch."""
        with self.lock:
            self.sessions.discard(session)

    def drop_all(self, only_silent: bool = False) -> int:
        """Cut open watches (all, or only the silent ones); returns how many."""
        with self.lock:
            victims = [s for s in self.sessions if s.silent or not only_silent]
        for session in victims:
            session.close()
        with self.store.changed:
            self.store.changed.notify_all()
        return len(victims)

    def set_silent(self, silent: bool) -> None:
        """Silence open and future watches (connection held, nothing sent, no bookmarks)."""
        self.silent = silent
        if silent:
            with self.lock:
                for session in self.sessions:
                    session.silent = True


def _event_line(event_type: str, obj: JSON) -> bytes:
    return json.dumps({"type": event_type, "object": obj}, separators=(",", ":")).encode() + b"\n"


def gone_line(resource_version: str) -> bytes:
    """The ERROR event for an expired resourceVersion (410 Gone, reason Expired)."""
    status: JSON = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": f"too old resource version: {resource_version}",
        "reason": "Expired",
        "code": 410,
    }
    return _event_line("ERROR", status)


def translate(change: Change, route: Route, query: dict[str, str]) -> bytes | None:
    """The event line a watch sends for a change, or None if it is not this watch's business.

    An object that stops matching the selector is sent as DELETED, one that starts as ADDED.
    """
    if change.resource != route.resource.name:
        return None
    if route.namespace and change.obj["metadata"].get("namespace") != route.namespace:
        return None
    now_matches = change.event_type != "DELETED" and matches(change.obj, query)
    was_matching = change.previous is not None and matches(change.previous, query)
    if change.event_type == "DELETED":
        return _event_line("DELETED", convert(route, change.obj)) if was_matching else None
    if now_matches:
        kind = "MODIFIED" if was_matching else "ADDED"
        return _event_line(kind, convert(route, change.obj))
    if was_matching:
        return _event_line("DELETED", convert(route, change.obj))
    return None


def stream(
    write: Callable[[bytes], None],
    session: WatchSession,
    store: ObjectStore,
    route: Route,
    query: dict[str, str],
    bookmark_interval: float,
    default_timeout: float,
    stopping: threading.Event,
) -> bool:
    """Write watch events with `write` until timeout, close or stop.

    Returns True when the stream ended cleanly (the caller sends the final chunk), False when the
    connection was cut.
    """
    requested = query.get("resourceVersion", "")
    bookmarks = query.get("allowWatchBookmarks", "").lower() in ("true", "1")
    deadline = time.monotonic() + float(query.get("timeoutSeconds") or default_timeout)
    with store.lock:
        if requested in ("", "0"):
            initial, cursor = store.list(
                route.resource.name,
                route.namespace,
                query.get("labelSelector", ""),
                query.get("fieldSelector", ""),
            )
        else:
            initial, cursor = [], int(requested)
            if cursor < store.oldest_resource_version:
                write(gone_line(requested))
                return True
    if initial and not session.silent:
        write(b"".join(_event_line("ADDED", convert(route, o)) for o in initial))
    next_bookmark = time.monotonic() + bookmark_interval
    while True:
        send_bookmark = False
        with store.changed:
            while True:
                if session.closed or stopping.is_set():
                    return False
                now = time.monotonic()
                if now >= deadline:
                    return True
                if not session.silent:
                    try:
                        changes = store.changes_after(cursor)
                    except ResourceVersionGone:
                        write(gone_line(str(cursor)))
                        return True
                    if changes:
                        break
                    if bookmarks and now >= next_bookmark:
                        send_bookmark = True
                        break
                wake = deadline
                if bookmarks and not session.silent:
                    wake = min(wake, next_bookmark)
                store.changed.wait(timeout=max(wake - now, 0.001))
            latest = store.resource_version
        lines = [] if send_bookmark else [translate(c, route, query) for c in changes]
        payload = b"".join(line for line in lines if line)
        cursor = latest
        if send_bookmark:
            next_bookmark = time.monotonic() + bookmark_interval
            bookmark = {
                "kind": route.resource.kind,
                "apiVersion": route.group_version,
                "metadata": {"resourceVersion": str(cursor)},
            }
            payload = _event_line("BOOKMARK", bookmark)
        if payload:
            write(payload)
