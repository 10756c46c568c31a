"""Pod log streams: `GET /api/v1/namespaces/{ns}/pods/{pod}/log`, followed in a thread each.

Requests go through the Kubernetes source's kind of ApiClient (kube_http.RawApi: the same
kubeconfig, auth and TLS), always with `timestamps=true` (to merge pods and to resume), read
incrementally with a read timeout. A dropped stream reconnects with `sinceTime` and drops what it
already has (sinceTime is inclusive and the API server keeps only whole seconds of it): no gap,
no duplicate. A clean end is looked into: a pod that is gone ends its stream with "pod deleted".
The API server's Status bodies are shown as the messages they are ("container "api" in pod "x" is
waiting to start: ContainerCreating", 403 RBAC...). A LogSession follows one pod or every pod of
the selector (at most `max_pods`, the others listed), merged by time into one LogBuffer.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from cockpit.sources.kube.logtext import (
    LogBuffer,
    format_time,
    items,
    obj,
    split_timestamp,
    text_of,
)

Connect = Callable[[], tuple[Any, str]]  # -> (RawApi, namespace), blocking (kubeconfig, client)
FINAL_CODES = (401, 403, 404)  # no retry: a person has to change something


@dataclass(frozen=True)
class LogTiming:
    """Timeouts and backoff of the streams (tests shorten them)."""

    connect_timeout: float = 5.0
    read_timeout: float = 30.0  # a quiet stream is re-opened after this (from sinceTime)
    backoff: tuple[float, ...] = (0.5, 1.0, 2.0, 5.0)
    pods_interval: float = 5.0  # the merged view looks for new pods this often


@dataclass(frozen=True)
class StreamState:
    """What a stream is doing, as the header says it."""

    state: str  # connecting, following, reconnecting, ended, error
    reason: str = ""
    since: float = 0.0  # wall time the state began

    def describe(self) -> str:
        """'following', 'reconnecting since 10:42:13 — connection refused', 'ended — pod
        deleted'."""
        if self.state == "reconnecting":
            at = datetime.fromtimestamp(self.since, UTC).strftime("%H:%M:%S")
            return f"reconnecting since {at} — {self.reason}"
        return f"{self.state} — {self.reason}" if self.reason else self.state


def status_message(exc: Exception) -> tuple[int, str]:
    """(HTTP status, the Status body's message) of an ApiException, else (0, a short reason)."""
    status = getattr(exc, "status", None)
    if isinstance(status, int) and status:
        body = getattr(exc, "body", None)
        message = ""
        if isinstance(body, bytes | str):
            try:
                doc: Any = json.loads(body)
            except ValueError:
                doc = None
            message = text_of(obj(doc).get("message"))
        reason = getattr(exc, "reason", "") or ""
        return status, message or f"{status} {reason}".strip()
    text = str(exc).strip().splitlines()
    reason = text[-1] if text else type(exc).__name__
    if "Read timed out" in reason:
        return 0, "read timed out"
    if "Connection refused" in reason or "NewConnectionError" in reason:
        return 0, "connection refused"
    return 0, reason[:160]


@dataclass(frozen=True)
class LogRequest:
    """What to follow: one pod, or every pod of the selector (pod None)."""

    pod: str | None
    selector: str = ""
    container: str | None = None  # None: the pod's default container
    previous: bool = False
    since_seconds: int | None = None  # None: the tail only
    tail_lines: int = 200
    follow: bool = True


def log_path(namespace: str, pod: str) -> str:
    """The pod's log URL path."""
    return f"/api/v1/namespaces/{quote(namespace, safe='')}/pods/{quote(pod, safe='')}/log"


@dataclass
class _Resume:
    """Where a stream stands: the last line's time and the texts taken at that time, and after a
    reconnect what the server will replay (from the whole second before: sinceTime is inclusive
    and keeps no fraction). Plain dicts: this runs for every line."""

    last_ns: int | None = None
    at_last: dict[str, int] = field(default_factory=lambda: dict[str, int]())
    replay_ns: int | None = None
    replay: dict[str, int] = field(default_factory=lambda: dict[str, int]())

    def reconnecting(self) -> None:
        """A new request from sinceTime: expect the lines up to the last one again."""
        self.replay_ns, self.replay = self.last_ns, dict(self.at_last)

    def keep(self, stamp: int, text: str) -> bool:
        """Whether a line is new (not one replayed after a reconnect)."""
        if self.replay_ns is None:
            return True
        if stamp < self.replay_ns:
            return False
        if stamp == self.replay_ns and self.replay.get(text, 0) > 0:
            self.replay[text] -= 1
            return False
        self.replay_ns = None  # past the replay: everything from here on is new
        return True

    def took(self, stamp: int, text: str) -> None:
        """Record a line taken."""
        if stamp != self.last_ns:
            self.last_ns, self.at_last = stamp, {text: 1}
        else:
            self.at_last[text] = self.at_last.get(text, 0) + 1


class LogStream:
    """One pod's log, followed in a daemon thread; lines go to `sink(pod, [(ns, text)])`."""

    def __init__(
        self,
        raw: Any,
        namespace: str,
        pod: str,
        request: LogRequest,
        sink: Callable[[str, list[tuple[int, str]]], None],
        timing: LogTiming | None = None,
        on_state: Callable[[str, StreamState], None] | None = None,
    ) -> None:
        self.raw, self.namespace, self.pod, self.request = raw, namespace, pod, request
        self.sink, self.timing = sink, timing or LogTiming()
        self.on_state = on_state
        self.state = StreamState("connecting", since=time.time())
        self.resume = _Resume()
        self.reconnects = 0
        self.containers: tuple[str, ...] = ()  # the pod's containers, once read
        self.container = request.container or ""  # the one followed, once known
        self._stopping = threading.Event()
        self._response: Any = None
        self._thread = threading.Thread(target=self._run, name=f"logs-{pod}", daemon=True)

    def start(self) -> LogStream:
        """Start following."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop: the thread ends at its next read (the socket is shut down to wake it)."""
        self._stopping.set()
        response = self._response
        if response is not None:
            try:
                response.shutdown()
            except Exception:  # already closed
                pass

    def join(self, timeout: float) -> None:
        """Wait for the thread (bounded)."""
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _set(self, state: str, reason: str = "") -> None:
        if state == self.state.state and reason == self.state.reason:
            return
        self.state = StreamState(state, reason, time.time())
        if self.on_state is not None:
            self.on_state(self.pod, self.state)

    def _query(self) -> list[tuple[str, Any]]:
        r = self.request
        query: list[tuple[str, Any]] = [("timestamps", "true")]
        if r.follow and not r.previous:
            query.append(("follow", "true"))
        if self.container:
            query.append(("container", self.container))
        if r.previous:
            query.append(("previous", "true"))
        if self.resume.last_ns is not None:
            self.resume.reconnecting()
            # Whole seconds: the API server keeps no more of sinceTime. Inclusive: `keep` drops
            # the lines taken before the reconnect.
            query.append(("sinceTime", format_time(self.resume.last_ns, 0)))
        else:
            if r.since_seconds is not None:
                query.append(("sinceSeconds", str(r.since_seconds)))
            query.append(("tailLines", str(r.tail_lines)))
        return query

    def _pick_container(self) -> None:
        """Read the pod's containers; follow the requested one, else the
        `kubectl.kubernetes.io/default-container` annotation, else the first (as kubectl)."""
        pod = self.raw.get_json(
            self._pod_path(), timeout=(self.timing.connect_timeout, self.timing.read_timeout)
        )
        self.containers = pod_containers(pod)
        if not self.container:
            self.container = default_container(pod)

    def _pod_path(self) -> str:
        return (
            f"/api/v1/namespaces/{quote(self.namespace, safe='')}/pods/{quote(self.pod, safe='')}"
        )

    def _run(self) -> None:
        failures = 0
        while not self._stopping.is_set():
            try:
                if not self.containers:
                    self._pick_container()
                self._read_once()
                failures = 0
                if not self.request.follow or self.request.previous:
                    self._set("ended", "all lines read")
                    return
                ended = self._ended_why()
                if ended:
                    self._set("ended", ended)
                    return
                self.reconnects += 1  # a clean end of a live pod (a restart, a proxy): go on
            except Exception as exc:  # every failure is shown and retried/ended
                if self._stopping.is_set():
                    return
                code, message = status_message(exc)
                waiting = code == 400 and "waiting to start" in message
                if code in FINAL_CODES or (code == 400 and not waiting) or code == 422:
                    reason = "pod deleted" if code == 404 and self.resume.last_ns else message
                    self._set("ended" if code == 404 else "error", reason)
                    return
                if message == "read timed out" and self.state.state == "following":
                    self.reconnects += 1  # a quiet stream: open it again, quietly
                    continue
                if waiting:
                    self._set("waiting", message)
                else:
                    self._set("reconnecting", message)
                delay = self.timing.backoff[min(failures, len(self.timing.backoff) - 1)]
                failures += 1
                self.reconnects += 1
                if self._stopping.wait(delay):
                    return

    def _read_once(self) -> None:
        path = log_path(self.namespace, self.pod)
        response = self.raw.request(
            "GET",
            path,
            self._query(),
            timeout=(self.timing.connect_timeout, self.timing.read_timeout),
        )
        self._response = response
        try:
            if self._stopping.is_set():
                return
            self._set(
                "following" if self.request.follow and not self.request.previous else "reading"
            )
            pending = b""
            for chunk in response.stream(65536, decode_content=True):
                pending += chunk
                if b"\n" not in pending:
                    continue
                *complete, pending = pending.split(b"\n")
                self._take(complete)
                if self._stopping.is_set():
                    return
            if pending:
                self._take([pending])
        finally:
            self._response = None
            try:
                response.release_conn()
            except Exception:  # a cut connection
                pass

    def _take(self, raw_lines: list[bytes]) -> None:
        batch: list[tuple[int, str]] = []
        for raw in raw_lines:
            stamp, text = split_timestamp(raw.removesuffix(b"\r"))
            when = stamp if stamp is not None else (self.resume.last_ns or time.time_ns())
            if not self.resume.keep(when, text):
                continue
            self.resume.took(when, text)
            batch.append((when, text))
        if batch:
            self.sink(self.pod, batch)

    def _ended_why(self) -> str:
        """After a clean end of a follow: 'pod deleted' when the pod is gone, else ''."""
        try:
            self.raw.get_json(
                self._pod_path(), timeout=(self.timing.connect_timeout, self.timing.read_timeout)
            )
        except Exception as exc:
            code, _ = status_message(exc)
            if code == 404:
                return "pod deleted"
            raise
        return ""


def pod_containers(pod: dict[str, Any]) -> tuple[str, ...]:
    """The container names of a pod object, in spec order."""
    spec = obj(pod.get("spec"))
    return tuple(
        name for c in items(spec.get("containers")) if (name := text_of(obj(c).get("name")))
    )


def default_container(pod: dict[str, Any]) -> str:
    """The default-container annotation when it names a container, else the first one."""
    names = pod_containers(pod)
    annotations = obj(obj(pod.get("metadata")).get("annotations"))
    chosen = text_of(annotations.get("kubectl.kubernetes.io/default-container"))
    return chosen if chosen in names else (names[0] if names else "")


def can_read_logs(raw: Any, namespace: str, timeout: float) -> tuple[bool, str]:
    """A SelfSubjectAccessReview for `get pods/log` in the namespace: (allowed, why not)."""
    review = {
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SelfSubjectAccessReview",
        "spec": {
            "resourceAttributes": {
                "namespace": namespace,
                "verb": "get",
                "resource": "pods",
                "subresource": "log",
            }
        },
    }
    try:
        answer: dict[str, Any] = raw.post_json(
            "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", review, timeout=timeout
        )
    except Exception as exc:  # an unanswered review does not stop the attempt
        return True, status_message(exc)[1]
    if obj(answer.get("status")).get("allowed") is False:
        return False, "RBAC: get pods/log is denied in namespace " + namespace
    return True, ""


__all__ = [
    "LogBuffer",
    "LogRequest",
    "LogStream",
    "LogTiming",
    "StreamState",
    "can_read_logs",
    "log_path",
    "status_message",
]
