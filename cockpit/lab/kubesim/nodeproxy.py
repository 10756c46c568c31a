"""The node proxy: `GET /api/v1/nodes/{node}/proxy/{path}`, as the API server forwards it to the
node's kubelet (port 10250). The simulator's kubelets serve `/stats/summary` (kubesim/disk.py).

Answers as a real API server does: 403 without `get nodes/proxy` (a common RBAC restriction),
404 for a node that does not exist, 503 with the dial error for a kubelet that cannot be reached
(the `kubelet_down` fault), the kubelet's own `404 page not found` for another path.
"""

from __future__ import annotations

import json
import re
import time
from typing import Any

from cockpit.lab.kubesim import discovery
from cockpit.lab.kubesim.api import ApiError, Route
from cockpit.lab.kubesim.proxy import ProxyHandler
from cockpit.sources import fields

_PATH = re.compile(r"^/api/v1/nodes/([^/:]+)(?::(\d+))?/proxy(/.*)?$")
KUBELET_PORT = 10250


def _address(node: object) -> str:
    for entry in fields.items(fields.mapping(node, "status"), "addresses"):
        if fields.text(entry, "type") == "InternalIP":
            return fields.text(entry, "address")
    return fields.text(fields.mapping(node, "metadata"), "name")


def serve(handler: ProxyHandler, method: str, path: str) -> bool:
    """Answer a node proxy request (True), or leave a path that is not one to the router."""
    match = _PATH.match(path)
    if match is None:
        return False
    sim = handler.server.sim
    name, sub_path = match[1], match[3] or "/"
    sim.requests.record("get", "nodes/proxy", None)
    try:
        handler._check_auth()  # pyright: ignore[reportPrivateUsage] - the same token check as every route
        resource = discovery.find_resource("v1", "nodes")
        assert resource is not None
        denied = sim.operations.forbidden("get", Route("v1", resource, None, name, "proxy"))
        if denied:
            raise denied
        if method != "GET":
            raise ApiError(405, "MethodNotAllowed", "kubesim's node proxy only answers GET")
        node: Any = sim.store.get("nodes", "", name)
        if node is None:
            raise ApiError(
                404, "NotFound", f'nodes "{name}" not found', {"name": name, "kind": "nodes"}
            )
        disk = sim.disk
        until = time.monotonic() + disk.slow.get(name, 0.0)
        while name in disk.slow and time.monotonic() < until and not sim.stopping.wait(0.05):
            pass  # a hung kubelet, until the fault is cleared or the server stops
        if name in disk.down:
            raise ApiError(
                503,
                "ServiceUnavailable",
                f"error trying to reach service: dial tcp {_address(node)}:{KUBELET_PORT}: "
                "connect: connection refused",
            )
        if sub_path.rstrip("/") != "/stats/summary":
            body, content_type, status = b"404 page not found\n", "text/plain; charset=utf-8", 404
        else:
            summary = disk.summary(node, sim.store.items("pods"))
            body, content_type, status = json.dumps(summary).encode(), "application/json", 200
    except ApiError as exc:
        handler._send(exc.code, exc.status())  # pyright: ignore[reportPrivateUsage] - the router's own sender
        return True
    handler.send_response(status)
    handler.send_header("Content-Type", content_type)
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)
    return True
