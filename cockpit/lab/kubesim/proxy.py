"""The pod proxy: `GET /api/v1/namespaces/{ns}/pods/{pod}:{port}/proxy{path}`, as the API server
forwards it to the pod's port.

The simulator has no pod network, so what a pod "serves" comes from a backend attached to the
simulator (the API simulator's per-pod metrics in the lab). Answers as a real API server does:
403 without `get pods/proxy`, 404 for a pod that does not exist, 503 for a pod without an IP or a
port nothing listens on (the dial error in a Status body), else the backend's status and body.
"""

from __future__ import annotations

import io
import re
import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from cockpit.lab.kubesim import discovery
from cockpit.lab.kubesim.api import ApiError, Route
from cockpit.sources import fields


class ProxyHandler(Protocol):
    """What is used of kubesim.http's KubeSimHandler (named structurally: http imports this
    module, and a module circle is what the import contracts forbid); the node proxy's too."""

    server: Any  # KubeSimServer; `.sim` is the KubeSim

    @property
    def wfile(self) -> io.BufferedIOBase: ...

    def _send(self, code: int, body: dict[str, Any]) -> None: ...
    def _check_auth(self) -> None: ...
    def send_response(self, code: int, message: str | None = None) -> None: ...
    def send_header(self, keyword: str, value: str) -> None: ...
    def end_headers(self) -> None: ...


_PATH = re.compile(r"^/api/v1/namespaces/([^/]+)/pods/([^/:]+):([^/]+)/proxy(/.*)?$")


@dataclass(frozen=True)
class PodReply:
    """What a pod's port answered."""

    status: int
    body: bytes
    content_type: str = "text/plain; version=0.0.4; charset=utf-8"


# (pod name, port, path) -> the reply, or None when nothing listens on that port
Backend = Callable[[str, int, str], PodReply | None]

_backends: weakref.WeakKeyDictionary[object, Backend] = weakref.WeakKeyDictionary()  # by KubeSim
_lock = threading.Lock()


def attach(sim: object, backend: Backend) -> None:
    """Serve `backend` behind `sim`'s pod proxy (replacing any previous one)."""
    with _lock:
        _backends[sim] = backend


def detach(sim: object) -> None:
    """Nothing listens in any pod any more."""
    with _lock:
        _backends.pop(sim, None)


def serve(handler: ProxyHandler, method: str, path: str) -> bool:
    """Answer a pod proxy request (True), or leave a path that is not one to the router (False)."""
    match = _PATH.match(path)
    if match is None:
        return False
    sim = handler.server.sim
    namespace, name, port_text, sub_path = match[1], match[2], match[3], match[4] or "/"
    sim.requests.record("get", "pods/proxy", None)
    try:
        handler._check_auth()  # pyright: ignore[reportPrivateUsage] - the same token check as every route
        resource = discovery.find_resource("v1", "pods")
        assert resource is not None
        denied = sim.operations.forbidden("get", Route("v1", resource, namespace, name, "proxy"))
        if denied:
            raise denied
        if method != "GET":
            raise ApiError(405, "MethodNotAllowed", "kubesim's pod proxy only answers GET")
        pod: object = sim.store.get("pods", namespace, name)
        if pod is None:
            raise ApiError(
                404, "NotFound", f'pods "{name}" not found', {"name": name, "kind": "pods"}
            )
        ip = fields.text(fields.mapping(pod, "status"), "podIP")
        if not ip:
            raise ApiError(503, "ServiceUnavailable", f"pod {name} has no IP address")
        with _lock:
            backend = _backends.get(sim)
        reply = backend(name, int(port_text), sub_path) if backend and port_text.isdigit() else None
        if reply is None:
            raise ApiError(
                503,
                "ServiceUnavailable",
                f"error trying to reach service: dial tcp "
                f"{ip}:{port_text}: connect: connection refused",
            )
    except ApiError as exc:
        handler._send(exc.code, exc.status())  # pyright: ignore[reportPrivateUsage] - the router's own sender
        return True
    handler.send_response(reply.status)
    handler.send_header("Content-Type", reply.content_type)
    handler.send_header("Content-Length", str(len(reply.body)))
    handler.end_headers()
    handler.wfile.write(reply.body)
    return True
