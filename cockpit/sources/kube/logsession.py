"""A log view's streams: one pod, or every pod of the selector merged by time (as
`kubectl logs -l … --prefix`), at most `max_pods` followed, pods that appear while following
added. Everything runs in daemon threads; the UI reads `buffer.snapshot()` and `states()`.
"""

from __future__ import annotations

import threading
from typing import Any
from urllib.parse import quote

from cockpit.config import KubernetesConfig
from cockpit.sources.kube.logs import (
    Connect,
    LogRequest,
    LogStream,
    LogTiming,
    StreamState,
    can_read_logs,
    status_message,
)
from cockpit.sources.kube.logtext import LogBuffer, items, obj, text_of

JOIN_SECONDS = 2.0


def connect_from(cfg: KubernetesConfig) -> Connect:
    """A Connect for the configured context: its own ApiClient (the Kubernetes source's
    kubeconfig, auth and TLS) and the namespace in use."""

    def connect() -> tuple[Any, str]:
        from cockpit.sources.kube.client import new_api_client, resolve_target
        from cockpit.sources.kube.http import RawApi

        return RawApi(new_api_client(cfg)), resolve_target(cfg).namespace

    return connect


def _pod_names(doc: dict[str, Any]) -> list[str]:
    """Names of the listed pods that still run (not being deleted), oldest first."""
    found: list[tuple[str, str]] = []
    for item in items(doc.get("items")):
        meta = obj(obj(item).get("metadata"))
        if text_of(meta.get("name")) and not meta.get("deletionTimestamp"):
            found.append((text_of(meta.get("creationTimestamp")), text_of(meta.get("name"))))
    return [name for _, name in sorted(found)]


class LogSession:
    """The streams of one log view and the buffer they fill."""

    def __init__(
        self,
        connect: Connect,
        request: LogRequest,
        buffer: LogBuffer,
        *,
        max_pods: int = 20,
        timing: LogTiming | None = None,
    ) -> None:
        self.connect, self.request, self.buffer = connect, request, buffer
        self.max_pods = max_pods
        self.timing = timing or LogTiming()
        self.streams: dict[str, LogStream] = {}
        self.not_followed: list[str] = []
        self.error = ""  # the session could not start (kubeconfig, RBAC, the pod list)
        self.namespace = ""
        self._raw: Any = None
        self.lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="logs-session", daemon=True)

    def start(self) -> LogSession:
        """Connect and start the streams (in the session's thread)."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop every stream (threads end at once; `join` waits for them)."""
        self._stopping.set()
        with self.lock:
            streams = list(self.streams.values())
        for stream in streams:
            stream.stop()

    def join(self, timeout: float = JOIN_SECONDS) -> None:
        """Wait (bounded) for the threads."""
        self._thread.join(timeout)
        with self.lock:
            streams = list(self.streams.values())
        for stream in streams:
            stream.join(timeout)
        client = getattr(self._raw, "api_client", None)
        if client is not None and not self._thread.is_alive():
            try:
                client.close()
            except Exception:  # closing is best effort
                pass

    def states(self) -> dict[str, StreamState]:
        """Each followed pod's stream state."""
        with self.lock:
            return {pod: s.state for pod, s in self.streams.items()}

    @property
    def pods(self) -> list[str]:
        """The followed pods, in the order they were added."""
        with self.lock:
            return list(self.streams)

    def _run(self) -> None:
        try:
            raw, namespace = self.connect()
        except Exception as exc:  # a bad kubeconfig is shown in the header
            self.error = status_message(exc)[1]
            return
        self.namespace, self._raw = namespace, raw
        allowed, why = can_read_logs(raw, namespace, self.timing.connect_timeout)
        if not allowed:
            self.error = why
            return
        if self.request.pod is not None:
            self._add(raw, [self.request.pod])
            return
        while not self._stopping.is_set():
            try:
                doc = raw.get_json(
                    f"/api/v1/namespaces/{quote(namespace, safe='')}/pods",
                    [("labelSelector", self.request.selector)],
                    timeout=(self.timing.connect_timeout, self.timing.read_timeout),
                )
                self._add(raw, _pod_names(doc))
                self.error = ""
            except Exception as exc:  # the list is retried; streams go on
                self.error = "pod list: " + status_message(exc)[1]
            if not self.request.follow or self._stopping.wait(self.timing.pods_interval):
                return

    def _add(self, raw: Any, names: list[str]) -> None:
        with self.lock:
            if self._stopping.is_set():
                return
            for name in names:
                if name in self.streams:
                    continue
                if len(self.streams) >= self.max_pods:
                    if name not in self.not_followed:
                        self.not_followed.append(name)
                    continue
                self.streams[name] = LogStream(
                    raw, self.namespace, name, self.request, self.buffer.add, self.timing
                ).start()


__all__ = ["LogSession"]
