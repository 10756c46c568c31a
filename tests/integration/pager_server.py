"""A real local HTTP server standing in for PagerDuty's Events API v2 and a generic webhook.

`/v2/enqueue` checks each body as PagerDuty documents it (routing_key, event_action trigger |
acknowledge | resolve, dedup_key ≤ 255, and for a trigger payload.summary ≤ 1,024, source,
severity critical | error | warning | info) and answers 400 "invalid event" when it is wrong,
else the next scripted answer (default 202). `/hook` takes any JSON object. Every request is
kept, with what the server answered, for the test to read.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

EVENT_ACTIONS = ("trigger", "acknowledge", "resolve")
SEVERITIES = ("critical", "error", "warning", "info")


@dataclass
class Answer:
    """A scripted answer: status, headers, body."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: dict[str, Any] | None = None


@dataclass
class Request:
    """One request the server received and what it answered."""

    path: str
    body: Any
    status: int
    problems: list[str]


def events_v2_problems(body: Any) -> list[str]:
    """What is wrong with an Events API v2 body ([] when it is valid)."""
    if not isinstance(body, dict):
        return ["body is not a JSON object"]
    problems = []
    if not isinstance(body.get("routing_key"), str) or not body["routing_key"]:
        problems.append("routing_key missing")
    if body.get("event_action") not in EVENT_ACTIONS:
        problems.append(f"event_action {body.get('event_action')!r}")
    dedup = body.get("dedup_key")
    if not isinstance(dedup, str) or not dedup or len(dedup) > 255:
        problems.append(f"dedup_key {dedup!r}")
    if body.get("event_action") == "trigger":
        payload = body.get("payload")
        if not isinstance(payload, dict):
            return [*problems, "payload missing"]
        summary = payload.get("summary")
        if not isinstance(summary, str) or not summary or len(summary) > 1024:
            problems.append(f"payload.summary of {len(summary or '')} characters")
        if not isinstance(payload.get("source"), str) or not payload["source"]:
            problems.append("payload.source missing")
        if payload.get("severity") not in SEVERITIES:
            problems.append(f"payload.severity {payload.get('severity')!r}")
        details = payload.get("custom_details")
        if details is not None and not isinstance(details, dict):
            problems.append("payload.custom_details is not an object")
    return problems


class PagerServer:
    """The server: `url` (Events v2), `webhook_url`, `script(...)`, `requests`."""

    def __init__(self, routing_key: str) -> None:
        self.routing_key = routing_key
        self.requests: list[Request] = []
        self._answers: dict[str, deque[Answer]] = {"/v2/enqueue": deque(), "/hook": deque()}
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = None
                answer, problems = server._answer(self.path, body)
                data = json.dumps(answer.body or {}).encode()
                self.send_response(answer.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in answer.headers.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)
                with server._lock:
                    server.requests.append(Request(self.path, body, answer.status, problems))

            def log_message(self, format: str, *args: Any) -> None:  # quiet
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        port = self._httpd.server_address[1]
        self.url = f"http://127.0.0.1:{port}/v2/enqueue"
        self.webhook_url = f"http://127.0.0.1:{port}/hook"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def __enter__(self) -> PagerServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def script(self, path: str, *answers: Answer) -> None:
        """The next answers of `path` ("/v2/enqueue" or "/hook"), in order; then 202."""
        with self._lock:
            self._answers[path].extend(answers)

    def _answer(self, path: str, body: Any) -> tuple[Answer, list[str]]:
        if path == "/v2/enqueue":
            problems = events_v2_problems(body)
            if not problems and body["routing_key"] != self.routing_key:
                problems = ["unknown routing_key"]
            if problems:
                refusal = {
                    "status": "invalid event",
                    "message": "Event object is invalid",
                    "errors": problems,
                }
                return Answer(400, body=refusal), problems
        elif path != "/hook" or not isinstance(body, dict):
            return Answer(404 if path != "/hook" else 400, body={"error": "no"}), ["bad request"]
        with self._lock:
            queue = self._answers[path]
            answer = queue.popleft() if queue else None
        if answer is None:
            ok = {"status": "success", "message": "Event processed"}
            answer = Answer(202, body=ok if path == "/v2/enqueue" else {})
        return answer, []

    def events(self, path: str = "/v2/enqueue") -> list[Request]:
        """The requests to `path` so far."""
        with self._lock:
            return [r for r in self.requests if r.path == path]

    def accepted(self, path: str = "/v2/enqueue") -> list[dict[str, Any]]:
        """The bodies `path` answered 2xx."""
        return [r.body for r in self.events(path) if 200 <= r.status < 300]
