"""List once, then watch from the list's resourceVersion, in a background thread.

The pattern (PITFALLS, kubernetes): list with `_preload_content=False` and parse the raw JSON; then
watch with bookmarks from the list's version, a server-side `timeout_seconds` and a client read
timeout longer than the bookmark interval, so a silent connection ends in a read timeout instead of
hanging. A watch that ends (server timeout, dropped connection, read timeout) resumes from the
last version seen (bookmarks move it); only 410 Gone (an ERROR event or an HTTP 410) relists.
Failures back off exponentially (jittered) by what they cost: a timeout (a hung or unreachable
server) up to `backoff_max`, a failure that came back at once (refused, 401, garbage) only up to
`retry_max`, about the refresh interval, so a server that returns after any outage is watched
again within a refresh or two. A relist after 410 is immediate and once.

We read the stream ourselves instead of through `kubernetes.watch.Watch`: `Watch.stream` either
builds model objects for every event (slow) or, with `deserialize=False` (client 37), fails on
ERROR events (it reads a `raw_object` key it never set). Reading it here also tells us when a
reconnect has been answered, so the error clears then rather than at the next event.
"""

from __future__ import annotations

import json
import random
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from kubernetes.client.exceptions import ApiException
from kubernetes.watch.watch import iter_resp_lines

from cockpit.sources.base import describe_error, error_detail, short_cause
from cockpit.sources.fields import Json, as_mapping, integer, items, mapping, optional_text, text
from cockpit.sources.kube.http import NotJsonAnswer, read_json

PAGE_SIZE = 500  # objects per list page (kubectl's default chunk size)


class Gone(Exception):
    """The watched resourceVersion is too old (410): the cache must be rebuilt from a list."""


@dataclass(frozen=True)
class WatchTiming:
    """Timeouts and backoff of one list+watch loop (seconds)."""

    connect_timeout: float = 5.0
    list_read_timeout: float = 30.0  # a list of thousands of pods takes a while to send
    read_timeout: float = (
        90.0  # > the server's bookmark interval: silence longer than this is a dead link
    )
    server_timeout: int = 240  # timeout_seconds of one watch request
    backoff_initial: float = 0.5
    backoff_max: float = 30.0  # after timeouts
    retry_max: float = 2.0  # after failures that came back at once (refused, 401, garbage)

    def delay(self, failures: int, expensive: bool) -> float:
        """Seconds before the next attempt after `failures` failures in a row (no jitter)."""
        if failures <= 0:
            return self.backoff_initial
        cap = self.backoff_max if expensive else min(self.retry_max, self.backoff_max)
        return min(
            self.backoff_initial * 2 ** min(failures - 1, 16), max(cap, self.backoff_initial)
        )


def is_timeout(exc: BaseException) -> bool:
    """Whether a failure cost a timeout (connect or read), as opposed to one that came back at
    once."""
    seen: set[int] = set()
    cause: BaseException | None = exc
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        name = type(cause).__name__
        if (
            isinstance(cause, TimeoutError)
            or "Timeout" in name
            or "timed out" in str(cause).lower()
        ):
            return True
        reason = getattr(cause, "reason", None)  # urllib3's MaxRetryError wraps the real error
        cause = (
            reason if isinstance(reason, BaseException) else (cause.__cause__ or cause.__context__)
        )
    return False


def http_status(exc: ApiException) -> int | None:
    """The HTTP status of an ApiException (the client leaves the attribute untyped)."""
    status: object = getattr(exc, "status", None)
    return status if isinstance(status, int) else None


def error_text(exc: BaseException) -> str:
    """One short line for an ApiException (status and reason) or any other error: the cause
    first (`connection refused`, `timed out`, `HTTP 401 Unauthorized`); `detail_text` has the
    rest."""
    if isinstance(exc, ApiException):
        status, reason = http_status(exc), str(getattr(exc, "reason", "") or "")
        return f"HTTP {status} {reason}".strip() if status else describe_error(Exception(reason))
    if isinstance(exc, Gone):
        return "resourceVersion expired (410 Gone)"
    name = type(exc).__name__
    if "ReadTimeout" in name or "timed out" in str(exc).lower():
        return (
            "watch silent: read timed out"
            if "Read" in name or "read" in str(exc).lower()
            else "timed out"
        )
    if isinstance(exc, NotJsonAnswer):
        return exc.short
    reason = getattr(exc, "reason", None)
    inner = describe_error(reason) if isinstance(reason, BaseException) else describe_error(exc)
    if "ProtocolError" in name:
        return f"watch connection dropped ({short_cause(inner) or inner})"
    return inner


def detail_text(exc: BaseException) -> str:
    """The full text of a watch or request failure, for the pane's detail view."""
    if isinstance(exc, ApiException):
        body = " ".join(str(getattr(exc, "body", "") or "").split())[:500]
        reason = str(getattr(exc, "reason", "") or "")
        return f"HTTP {http_status(exc)} {reason}" + (f": {body}" if body else "")
    return error_detail(exc)


class FallbackList:
    """A client list method that switches for good to an older API version on a 404.

    For resources served under a newer version only on recent clusters (autoscaling/v2 HPAs since
    1.23): `FallbackList(v2.list_..., v1.list_...)` is passed to ListWatch as its `list_func`.
    """

    def __init__(self, primary: Callable[..., Any], fallback: Callable[..., Any]) -> None:
        self._primary, self._fallback = primary, fallback
        self.fell_back = False

    def __call__(self, **kwargs: Any) -> Any:
        """Call the primary method (until it once answers 404), else the fallback."""
        if not self.fell_back:
            try:
                return self._primary(**kwargs)
            except ApiException as exc:
                if http_status(exc) != 404:
                    raise
                self.fell_back = True
        return self._fallback(**kwargs)


class ListWatch:
    """One resource's list+watch loop in a daemon thread, feeding raw dicts to callbacks.

    `list_func` is a client list method (e.g. `CoreV1Api.list_namespaced_pod`) and `kwargs` its
    arguments (namespace, label/field selector). `on_list(items)` replaces the cached set (items:
    an iterable that fetches the list page by page, `page_size` objects at a time: consume once);
    `on_event(type, obj)` applies ADDED/MODIFIED/DELETED. Callbacks run on this thread.
    """

    def __init__(
        self,
        name: str,
        list_func: Callable[..., Any],
        kwargs: dict[str, Any],
        on_list: Callable[[Iterable[Json]], None],
        on_event: Callable[[str, Json], None],
        timing: WatchTiming | None = None,
        page_size: int = PAGE_SIZE,
    ) -> None:
        self.name = name
        self._list_func, self._kwargs = list_func, kwargs
        self._on_list, self._on_event = on_list, on_event
        self.timing = timing or WatchTiming()
        self.page_size = page_size
        self.resource_version: str | None = None
        self.filled = False  # a list has succeeded at least once
        self.error: str | None = None  # why the loop is currently not connected
        self.error_detail = ""  # the full text behind `error`
        self.failures = 0  # failed attempts in a row (settable: the state a long outage leaves)
        self.heard_at: float | None = (
            None  # monotonic: the server's last word (list, event, bookmark)
        )
        self.expensive = False  # whether the last failure was a timeout
        self.lists = 0  # how many lists were made (for tests and diagnostics)
        self.settled = threading.Event()  # the first list has succeeded or failed
        self._stop = threading.Event()
        self._wake = threading.Event()  # cuts a backoff short (stop, or the API answers again)
        self._resp: Any = None
        self._resp_lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name=f"kube-watch-{name}", daemon=True)

    def start(self) -> None:
        """Start the thread."""
        self._thread.start()

    def stop(self) -> None:
        """Ask the loop to end and cut the open watch connection (as `Watch.stop()` does)."""
        self._stop.set()
        self._wake.set()
        with self._resp_lock:
            resp = self._resp
        if resp is not None:
            sock = getattr(getattr(resp, "connection", None), "sock", None)
            try:
                if sock is not None:
                    sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def join(self, timeout: float) -> bool:
        """Wait for the thread to end; True if it did."""
        if self._thread.is_alive():
            self._thread.join(timeout)
        return not self._thread.is_alive()

    def silent_for(self) -> float | None:
        """Seconds since the server last said anything on this loop (None: never)."""
        return None if self.heard_at is None else time.monotonic() - self.heard_at

    def wake(self) -> None:
        """End a backoff wait now: the server is known to answer again."""
        self._wake.set()

    # -- the loop ---------------------------------------------------------------------------------

    def _pause(self, expensive: bool) -> None:
        """Count one failed attempt and wait the backoff it calls for (jittered)."""
        self.failures += 1
        self.expensive = expensive
        self._wake.clear()
        self._wake.wait(self.timing.delay(self.failures, expensive) * random.uniform(0.8, 1.2))

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                if self.resource_version is None:
                    self._list()
                began = time.monotonic()
                self._watch()
                if time.monotonic() - began < 1.0 and not self._stop.is_set():
                    # Ended at once without an error: don't spin against a server doing that.
                    self._pause(expensive=False)
                    continue
            except Gone:
                # Our version was compacted away: relist now (once), then watch from the new one.
                self.resource_version = None
                continue
            except Exception as exc:  # any failure: record it, back off, resume
                if self._stop.is_set():
                    break
                self.error = error_text(exc)
                self.error_detail = detail_text(exc)
                self.settled.set()
                self._pause(is_timeout(exc))
                continue
            self.failures = 0  # a watch that ended cleanly: resume at once

    def _list(self) -> None:
        # In pages (kubectl's 500): each page is parsed and dropped before the next is fetched, so
        # a 5,000-pod list never holds every raw object at once (tens of MB that the allocator
        # keeps as RSS after they are freed).
        first: Json = {}

        def listed() -> Iterator[Json]:
            nonlocal first
            token: str | None = None
            while True:
                body = self._get_page(token)
                first = first or body
                yield from items(body, "items")
                token = text(mapping(body, "metadata"), "continue") or None
                if not token:
                    return

        pages = listed()
        self._on_list(pages)
        for _ in pages:  # a callback that stopped early (the deployment's first item): finish
            pass
        self.lists += 1
        # a paged list is one consistent read at the first page's resourceVersion
        self.resource_version = text(mapping(first, "metadata"), "resourceVersion") or "0"
        self.filled = True
        self.error = None
        self.failures = 0
        self.heard_at = time.monotonic()
        self.settled.set()

    def _get_page(self, token: str | None) -> Json:
        t = self.timing
        try:
            resp = self._list_func(
                **self._kwargs,
                limit=self.page_size,
                _continue=token,
                _preload_content=False,
                _request_timeout=(t.connect_timeout, t.list_read_timeout),
            )
        except ApiException as exc:
            if http_status(exc) == 410 and token:  # the continue token expired: list again
                raise Gone() from exc
            raise
        return read_json(resp)

    def _watch(self) -> None:
        t = self.timing
        try:
            resp = self._list_func(
                **self._kwargs,
                watch=True,
                resource_version=self.resource_version,
                allow_watch_bookmarks=True,
                timeout_seconds=t.server_timeout,
                _preload_content=False,
                _request_timeout=(t.connect_timeout, t.read_timeout),
            )
        except ApiException as exc:
            if http_status(exc) == 410:
                raise Gone() from exc
            raise
        with self._resp_lock:
            self._resp = resp
        try:
            if self._stop.is_set():
                return
            self.error = None  # the server answered the (re)connect: we are current again
            self.heard_at = time.monotonic()
            for line in iter_resp_lines(resp):
                if self._stop.is_set():
                    return
                if line:
                    try:
                        event = json.loads(line)
                    except ValueError:  # a proxy's page where the watch stream should be
                        kind = text(as_mapping(resp.headers), "Content-Type") or "no content type"
                        preview = " ".join(str(line)[:60].split())
                        raise NotJsonAnswer(kind, preview) from None
                    self.heard_at = time.monotonic()
                    self.failures = 0  # the server is talking: the next failure starts afresh
                    self._handle(event)
        finally:
            with self._resp_lock:
                self._resp = None
            resp.close()
            resp.release_conn()

    def _handle(self, event: object) -> None:
        kind, obj = text(event, "type"), mapping(event, "object")
        if kind == "ERROR":
            if integer(obj, "code") == 410:
                raise Gone()
            raise ApiException(
                status=integer(obj, "code") or 500,
                reason=f"{text(obj, 'reason')}: {text(obj, 'message')}",
            )
        version = optional_text(mapping(obj, "metadata"), "resourceVersion")
        if kind in ("ADDED", "MODIFIED", "DELETED"):
            self._on_event(kind, obj)
        if version:
            self.resource_version = version
