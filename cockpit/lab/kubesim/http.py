"""The simulator's HTTP front: routing, bearer-token auth, injected faults, counters, responses.

HTTP/1.1 with keep-alive, as the kubernetes client and kubectl expect. Every accepted connection
is tracked so that stopping the server really cuts its clients off (a kept-alive connection
would otherwise keep being served by a stopped "API server").

The server serves a `Simulator`: the parts of the simulator (sim.py's KubeSim) it needs, named
here so that this module never imports sim.py back.
"""

from __future__ import annotations

import json
import random
import socket
import threading
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol, cast
from urllib.parse import parse_qs, urlsplit

from cockpit.lab.kubesim import discovery, nodeproxy
from cockpit.lab.kubesim import proxy as kubesim_proxy
from cockpit.lab.kubesim import watch as kubesim_watch
from cockpit.lab.kubesim.api import ApiError, Operations, Route, dumps
from cockpit.lab.kubesim.jsontypes import JSON, as_object
from cockpit.lab.kubesim.logs import PodLogs, serve_log
from cockpit.lab.kubesim.store import ObjectStore
from cockpit.lab.kubesim.table import as_table
from cockpit.lab.kubesim.watch import WatchRegistry


@dataclass(frozen=True)
class MutatingRequest:
    """A request that would change cluster state, as recorded for audit-style assertions."""

    verb: str  # create, update, patch, delete
    resource: str  # "deployments", "deployments/scale", "pods"
    namespace: str | None
    name: str | None
    dry_run: bool
    body: str  # the raw request body (JSON text)
    content_type: str = ""  # as sent: which patch flavour a PATCH was


@dataclass
class RequestLog:
    """Counts every request by (verb, resource) and keeps the mutating ones."""

    counts: Counter[tuple[str, str]] = field(default_factory=Counter[tuple[str, str]])
    mutating: list[MutatingRequest] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, verb: str, resource: str, entry: MutatingRequest | None) -> None:
        """Count one request (and log it if it mutates)."""
        with self.lock:
            self.counts[(verb, resource)] += 1
            if entry is not None:
                self.mutating.append(entry)


class Simulator(Protocol):
    """What the HTTP front uses of the simulator (KubeSim has it all)."""

    store: ObjectStore
    operations: Operations
    requests: RequestLog
    faults: Faults
    watches: WatchRegistry
    logs: PodLogs  # pods' container logs, for the pods/{name}/log route (kubesim/logs.py)
    stopping: threading.Event  # set while stopping: injected delays and watches end
    token: str | None  # the bearer token a client must send, None for no check
    bookmark_interval: float
    watch_timeout: float
    namespace: str  # the simulator's own namespace (its deployments and pods live there)

    def get(self, resource: str, namespace: str, name: str) -> JSON | None: ...


def resolve(path: str) -> Route | JSON | None:
    """A discovery document for discovery paths, a Route for resource paths, else None."""
    parts = [p for p in path.split("/") if p]
    if parts == ["version"]:
        return discovery.version_document()
    if parts == ["api"]:
        return discovery.api_versions()
    if parts == ["apis"]:
        return discovery.api_groups()
    if parts[:1] == ["api"] and len(parts) >= 2:
        group_version, rest = parts[1], parts[2:]
    elif parts[:1] == ["apis"] and len(parts) == 2:
        return discovery.api_group(parts[1])
    elif parts[:1] == ["apis"] and len(parts) >= 3:
        group_version, rest = f"{parts[1]}/{parts[2]}", parts[3:]
    else:
        return None
    if not rest:
        return discovery.resource_list(group_version)
    namespace = None
    if rest[0] == "namespaces" and len(rest) >= 3:
        namespace, rest = rest[1], rest[2:]
    if len(rest) > 3:
        return None
    resource = discovery.find_resource(group_version, rest[0])
    if resource is None:
        return None
    return Route(group_version, resource, namespace, *(rest[1:] + [None, None])[:2])


_Request = socket.socket | tuple[bytes, socket.socket]  # what socketserver passes its servers


class KubeSimServer(ThreadingHTTPServer):
    """ThreadingHTTPServer that remembers its simulator and its open connections."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], sim: Simulator) -> None:
        self.sim = sim
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        super().__init__(address, KubeSimHandler)

    def process_request(self, request: _Request, client_address: Any) -> None:
        with self.connections_lock:
            self.connections.add(cast(socket.socket, request))  # TCP: the connected socket
        super().process_request(request, client_address)

    def shutdown_request(self, request: _Request) -> None:
        with self.connections_lock:
            self.connections.discard(cast(socket.socket, request))
        super().shutdown_request(request)

    def cut_all_connections(self) -> None:
        """Shut every accepted socket down, as a dying server process would."""
        with self.connections_lock:
            sockets = list(self.connections)
        for sock in sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class KubeSimHandler(BaseHTTPRequestHandler):
    """Dispatches one request to discovery, the resource operations or a watch."""

    protocol_version = "HTTP/1.1"
    timeout = 120  # idle keep-alive connections are closed after this

    @property
    def sim(self) -> Simulator:
        """The simulator served (this handler class is only ever made by a KubeSimServer)."""
        return cast(KubeSimServer, self.server).sim

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: tests and the demo do not want an access log on stderr."""

    def do_GET(self) -> None:  # http.server naming
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_PATCH(self) -> None:
        self._dispatch("PATCH")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def _dispatch(self, method: str) -> None:
        sim = self.sim
        url = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        length = int(self.headers.get("Content-Length") or 0)
        raw_body = self.rfile.read(length) if length else b""
        try:
            if kubesim_proxy.serve(self, method, url.path):  # pods/{name}:{port}/proxy/...
                return
            if nodeproxy.serve(self, method, url.path):  # nodes/{name}/proxy/stats/summary
                return
            target = resolve(url.path)
            watching = query.get("watch", "").lower() in ("1", "true")
            verb = _verb(method, target, watching)
            self._count(verb, target, query, raw_body)
            self.check_auth()
            self._inject_faults(url.path)
            if target is None:
                raise ApiError(404, "NotFound", "the server could not find the requested resource")
            if isinstance(target, dict):
                self.send_json(200, target)
                return
            if target.resource.name != "selfsubjectaccessreviews":
                denied = sim.operations.forbidden(verb, target)
                if denied:
                    raise denied
            if verb == "watch":
                self._watch(target, query)
                return
            if verb == "get" and target.subresource == "log":
                serve_log(self, sim, target, query)  # pods/{name}/log: kubesim/logs.py
                return
            if "protobuf" in self.headers.get("Content-Type", ""):
                # kubectl sends some writes (auth can-i) as protobuf; only JSON is spoken here.
                raise ApiError(
                    415, "UnsupportedMediaType", "kubesim only accepts JSON request bodies"
                )
            body: object = json.loads(raw_body) if raw_body else {}
            code, answer = self._operate(verb, target, query, body)
            if (
                verb in ("list", "get")
                and "as=Table" in self.headers.get("Accept", "")
                and (target.group != "metrics.k8s.io" and not target.subresource)
            ):
                answer = as_table(target.resource.name, answer)
            self.send_json(code, answer)
        except ApiError as exc:
            self.send_json(exc.code, exc.status())
        except json.JSONDecodeError as exc:
            self.send_json(400, ApiError(400, "BadRequest", f"invalid JSON: {exc}").status())
        except (BrokenPipeError, ConnectionResetError, OSError):
            self.close_connection = True

    def _operate(
        self, verb: str, route: Route, query: dict[str, str], body: object
    ) -> tuple[int, JSON]:
        ops = self.sim.operations
        dry_run = query.get("dryRun") == "All"
        sent = as_object(body)  # None for a body that is no JSON object
        if verb == "list":
            return 200, ops.list(route, query)
        if verb == "get":
            return 200, ops.get(route)
        if verb == "patch":
            content_type = self.headers.get("Content-Type", "application/json")
            return 200, ops.patch(route, body, content_type, dry_run)
        if verb == "update" and sent is not None:
            return 200, ops.update(route, sent, dry_run)
        if verb == "delete":
            return 200, ops.delete(route, dry_run)
        if verb == "create" and route.resource.name == "selfsubjectaccessreviews":
            return 201, ops.access_review(sent if sent is not None else {})
        raise ApiError(
            405,
            "MethodNotAllowed",
            "the server does not allow this method on the requested resource",
        )

    def _count(
        self, verb: str, target: Route | JSON | None, query: dict[str, str], body: bytes
    ) -> None:
        resource = target.counted_name if isinstance(target, Route) else "discovery"
        entry = None
        if (
            verb in ("create", "update", "patch", "delete")
            and resource != "selfsubjectaccessreviews"
        ):
            assert isinstance(target, Route)
            entry = MutatingRequest(
                verb,
                resource,
                target.namespace,
                target.name,
                query.get("dryRun") == "All",
                body.decode(errors="replace"),
                self.headers.get("Content-Type", ""),
            )
        self.sim.requests.record(verb, resource, entry)

    def check_auth(self) -> None:
        """Refuse (401) a request whose bearer token is not the simulator's."""
        # kubectl sends no bearer token over plain http (client-go refuses to), so only a wrong
        # token is refused: that is what a rotated or mistyped credential looks like.
        token, sent = self.sim.token, self.headers.get("Authorization")
        if token and sent is not None and sent != f"Bearer {token}":
            raise ApiError(401, "Unauthorized", "Unauthorized")

    def _inject_faults(self, path: str) -> None:
        faults = self.sim.faults
        if faults.slow_seconds > 0:
            self.sim.stopping.wait(faults.slow_seconds)
        if faults.error_rate > 0 and random.random() < faults.error_rate:
            raise ApiError(
                500, "InternalError", "Internal error occurred: injected by kubesim (api_errors)"
            )
        if faults.metrics_unavailable and path.startswith("/apis/metrics.k8s.io"):
            # What the aggregator answers for an APIService whose backend is missing or down.
            raise ApiError(
                503, "ServiceUnavailable", "the server is currently unable to handle the request"
            )

    def send_json(self, code: int, body: JSON) -> None:
        """Answer `code` with `body` as JSON (the pod proxy answers its errors through it too)."""
        data = dumps(body)
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Audit-Id", f"{random.getrandbits(128):032x}")
        self.end_headers()
        self.wfile.write(data)

    def _watch(self, route: Route, query: dict[str, str]) -> None:
        sim = self.sim
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Cache-Control", "no-cache, private")
        self.end_headers()
        self.wfile.flush()

        def write(data: bytes) -> None:
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            self.wfile.flush()

        session = sim.watches.open(self.connection)
        try:
            clean = kubesim_watch.stream(
                write,
                session,
                sim.store,
                route,
                query,
                sim.bookmark_interval,
                sim.watch_timeout,
                sim.stopping,
            )
            if clean:
                self.wfile.write(b"0\r\n\r\n")
                self.wfile.flush()
            else:
                self.close_connection = True
        finally:
            sim.watches.close(session)


def _verb(method: str, target: Route | JSON | None, watching: bool) -> str:
    if method == "GET":
        if isinstance(target, Route) and target.name is None:
            return "watch" if watching else "list"
        return "get"
    return {"POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}[method]


@dataclass
class Faults:
    """Server-wide injected faults (the per-object ones live in the controller and metrics)."""

    error_rate: float = 0.0  # fraction of requests answered 500
    slow_seconds: float = 0.0  # delay before every answer
    metrics_unavailable: bool = False  # metrics.k8s.io answers 503 (no metrics-server)


__all__ = ["Faults", "KubeSimServer", "MutatingRequest", "RequestLog", "Simulator", "resolve"]
