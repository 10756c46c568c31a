"""The lab's drill control channel: a tiny token-protected HTTP server on 127.0.0.1, and its client.

`cockpit lab up` runs the server; `cockpit lab drill NAME` (another process) reads the address
and token from DIR/lab.json and calls it:

  GET    /drills          {"active": [...], "drills": [{"name", "description", "fix"}, ...]}
  POST   /drills/NAME     inject NAME   -> {"ok": true, "detail": "..."}
  DELETE /drills/NAME     clear NAME    -> {"ok": true, "detail": "..."}

Errors answer 4xx with {"ok": false, "error": "..."}.
"""

from __future__ import annotations

import hmac
import json
import secrets
import threading
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Protocol, cast

from cockpit.lab.labfiles import read_info

CLIENT_TIMEOUT_SECONDS = 60.0  # injecting connection-exhaustion opens ~50 connections


class DrillError(Exception):
    """A drill that cannot be injected or cleared; the message says why."""


class Drills(Protocol):
    """What the control server serves (drills.DrillRunner, which imports this module)."""

    def catalogue(self) -> list[dict[str, str]]: ...

    def active(self) -> list[str]: ...

    def inject(self, name: str) -> str: ...

    def clear(self, name: str) -> str: ...


class _Handler(BaseHTTPRequestHandler):
    @property
    def _server(self) -> _Server:
        """The server that made this handler (only a _Server makes this class)."""
        return cast(_Server, self.server)

    def _reply(self, status: int, payload: dict[str, Any]) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _handle(self, method: str) -> None:
        supplied = self.headers.get("Authorization", "").encode()
        if not hmac.compare_digest(supplied, f"Bearer {self._server.token}".encode()):
            self._reply(401, {"ok": False, "error": "unauthorized"})
            return
        runner = self._server.runner
        path = self.path.rstrip("/")
        try:
            if method == "GET" and path == "/drills":
                self._reply(200, {"active": runner.active(), "drills": runner.catalogue()})
            elif path.startswith("/drills/") and method in ("POST", "DELETE"):
                name = path.removeprefix("/drills/")
                detail = runner.inject(name) if method == "POST" else runner.clear(name)
                self._reply(200, {"ok": True, "detail": detail})
            else:
                self._reply(404, {"ok": False, "error": "not found"})
        except DrillError as exc:
            self._reply(409, {"ok": False, "error": str(exc)})
        except Exception as exc:  # the caller gets the reason instead of a dropped connection
            self._reply(500, {"ok": False, "error": f"{type(exc).__name__}: {exc}"})

    def do_GET(self) -> None:  # http.server's naming
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    def log_message(self, format: str, *args: object) -> None:
        pass  # the lab's terminal is for the operator, not for access logs


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, runner: Drills, token: str) -> None:
        self.runner, self.token = runner, token
        super().__init__(("127.0.0.1", 0), _Handler)


class ControlServer:
    """Serves a DrillRunner on a free loopback port with a random bearer token."""

    def __init__(self, runner: Drills) -> None:
        self.token = secrets.token_urlsafe(24)
        self._server = _Server(runner, self.token)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name="lab-control",
            daemon=True,
        )

    @property
    def url(self) -> str:
        """http://127.0.0.1:PORT."""
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> ControlServer:
        """Serve in a background thread."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and join the thread."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)


def call(lab_dir: Path, method: str, path: str) -> dict[str, Any]:
    """Call the control server of the lab running in `lab_dir`; raises DrillError on failure."""
    info_path = Path(lab_dir) / "lab.json"
    try:
        control = read_info(info_path)["control"]
    except FileNotFoundError:
        raise DrillError(
            f"no running lab in {lab_dir} (no lab.json); start one with `cockpit lab up`"
        ) from None
    if not control:
        raise DrillError(f"the lab in {lab_dir} has no control server")
    request = urllib.request.Request(
        f"{control['url']}{path}",
        method=method,
        headers={"Authorization": f"Bearer {control['token']}"},
    )
    try:
        with urllib.request.urlopen(request, timeout=CLIENT_TIMEOUT_SECONDS) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:
        try:
            payload = json.loads(exc.read())
        except ValueError:
            payload = {"error": f"HTTP {exc.code}"}
        raise DrillError(payload.get("error", f"HTTP {exc.code}")) from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise DrillError(
            f"the lab in {lab_dir} does not answer ({reason}); is it still running?"
        ) from None
