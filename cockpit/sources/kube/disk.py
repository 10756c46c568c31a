"""Disk use before DiskPressure: each node's kubelet summary, through the API server's node proxy.

`GET /api/v1/nodes/{node}/proxy/stats/summary` (needs `get nodes/proxy`, no exec) reports every
pod's ephemeral storage and volumes (used, capacity, available). A thread of its own reads it
every `[refresh] disk_seconds`, only for the nodes that run the deployment's pods, all nodes at
once, each under its own timeout (the client's `request_timeout_seconds` for connect and read):
a node whose kubelet hangs delays no other node and no other read of the source.

What a round ends in, in the cache (kube/cache.py `set_disk`):
- each answering node's pods get their `PodDisk`;
- a node that failed is listed with its reason, and its pods keep the figures read before,
  marked stale (a node that cannot be read proves neither a full disk nor a free one);
- a 403 is not a failure: RBAC often denies nodes/proxy. The round's note says
  "disk usage needs nodes/proxy" and no figures are kept.
"""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import replace
from urllib.parse import quote

from kubernetes.client.exceptions import ApiException

from cockpit.models import DiskStatus, PodDisk, utcnow
from cockpit.sources.base import describe_error
from cockpit.sources.fields import as_mapping, text
from cockpit.sources.kube.cache import KubeCache
from cockpit.sources.kube.http import RawApi
from cockpit.sources.kube.poll import BackgroundLoop
from cockpit.sources.kube.summary import parse_summary
from cockpit.sources.kube.watch import error_text, http_status, is_timeout

NEEDS_PROXY = "disk usage needs nodes/proxy"
MAX_PARALLEL = 16  # nodes read at once (the deployment's pods rarely span more)
NEW_NODE_CHECK = 1.0  # seconds between looks for a node that runs pods and was not read
ROUND_SLACK = 1.0  # seconds past the per-node timeouts a round waits before giving up on a node


def summary_path(node: str) -> str:
    """The node proxy path of a node's kubelet summary."""
    return f"/api/v1/nodes/{quote(node, safe='')}/proxy/stats/summary"


def failure_reason(exc: BaseException, timeout: float) -> str:
    """One line for a node that did not answer: the API server's own words when it sent a
    Status (`error trying to reach service: dial tcp ...: connection refused`)."""
    if isinstance(exc, ApiException):
        message = ""
        try:
            message = text(as_mapping(json.loads(str(getattr(exc, "body", "") or ""))), "message")
        except ValueError:
            pass
        head = error_text(exc)
        return f"{head}: {message}" if message else head
    if is_timeout(exc):
        return f"timed out after {timeout:g}s"
    return error_text(exc)


class DiskPoller(BackgroundLoop):
    """Reads the kubelet summaries of the pods' nodes every `interval` seconds, in its own
    thread, until stopped."""

    def __init__(
        self,
        raw: RawApi,
        cache: KubeCache,
        namespace: str,
        timeout: float,
        interval: float,
        pods_listed: threading.Event | None = None,
    ) -> None:
        self.raw, self.cache, self.namespace = raw, cache, namespace
        self.timeout, self.interval = timeout, interval
        self.pods_listed = pods_listed  # the first round waits (bounded) for the pods' list
        self._nodes_read: set[str] = set()  # the nodes of the last round
        super().__init__("kube-disk")  # first_round: set once the first round has ended
        self._last: dict[str, dict[str, PodDisk]] = {}  # node -> its pods, last good read

    def _run(self) -> None:
        if self.pods_listed is not None:
            self.pods_listed.wait(2 * self.timeout + ROUND_SLACK)
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                self.poll_once()
            except Exception as exc:  # a bug here must not end the thread: say it, go on
                note = f"the disk poll failed: {describe_error(exc)}"
                self.cache.set_disk({}, DiskStatus(read_at=utcnow(), note=note))
            self.first_round.set()
            self._pause(started + self.interval)

    def _pause(self, until: float) -> None:
        """Wait for the next round; a pod on a node not read yet (scaled out, rescheduled, the
        pods listed late) starts it at once rather than a disk interval later."""
        while not self._stop.wait(min(max(until - time.monotonic(), 0.0), NEW_NODE_CHECK)):
            if time.monotonic() >= until or self.cache.pod_nodes() - self._nodes_read:
                return

    def _read(self, node: str) -> dict[str, PodDisk]:
        body = self.raw.get_json(summary_path(node), None, (self.timeout, self.timeout))
        return parse_summary(body, node, self.namespace, utcnow())

    def poll_once(self) -> None:
        """One round: every node running the pods, at once."""
        nodes = sorted(self.cache.pod_nodes())
        self._nodes_read = set(nodes)
        answered: dict[str, dict[str, PodDisk]] = {}
        failed: dict[str, str] = {}
        denied = False
        if nodes:
            pool = ThreadPoolExecutor(min(len(nodes), MAX_PARALLEL), thread_name_prefix="disk")
            try:
                futures: dict[str, Future[dict[str, PodDisk]]] = {
                    node: pool.submit(self._read, node) for node in nodes
                }
                # connect and read may each take the timeout; past that a node has failed
                wait(futures.values(), timeout=2 * self.timeout + ROUND_SLACK)
            finally:
                pool.shutdown(wait=False, cancel_futures=True)
            for node, future in futures.items():
                if not future.done():
                    failed[node] = f"timed out after {self.timeout:g}s"
                    continue
                exc = future.exception()
                if exc is None:
                    answered[node] = future.result()
                elif isinstance(exc, ApiException) and http_status(exc) == 403:
                    denied = True
                else:
                    failed[node] = failure_reason(exc, self.timeout)
        if denied:
            self._last = {}
        else:
            self._last = {n: answered[n] if n in answered else self._last.get(n, {}) for n in nodes}
        pods: dict[str, PodDisk] = {}
        for node, found in self._last.items():
            for name, disk in found.items():
                pods[name] = disk if node in answered else _stale(disk)
        status = DiskStatus(
            read_at=utcnow(),
            nodes_read=tuple(sorted(answered)),
            nodes_failed=failed,
            note=NEEDS_PROXY if denied else None,
        )
        self.cache.set_disk(pods, status)


def _stale(disk: PodDisk) -> PodDisk:
    return disk if disk.stale else replace(disk, stale=True)
