"""The simulator's pod logs: what the kubelet keeps per container, and the `pods/{name}/log` route.

Each container run (a pod's container at one restart count) has its own lines, each with the
time it was written in nanoseconds. The API simulator writes one JSON line per request into the
pod that served it; a crash-looping pod's previous run ends in its out-of-memory lines; while a
drill is on, a ticker writes what the runbook greps for (`loop` under a CPU spike, `No space left
on device` on a node under disk pressure).

`GET /api/v1/namespaces/{ns}/pods/{pod}/log` takes `container`, `previous`, `tailLines`,
`sinceSeconds`, `sinceTime` (RFC 3339, inclusive), `timestamps` (each line prefixed with its
RFC 3339 nano time and a space) and `follow` (chunked, open until the pod or the run goes away,
the server stops or `drop_streams()` cuts it). Errors are Status bodies with the API server's
messages (400 waiting to start / previous not found / container not valid, 404 pod not found).
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from cockpit.lab.kubesim.api import ApiError, Route
from cockpit.lab.kubesim.pods import memory_limit
from cockpit.sources.fields import Json, as_list, as_mapping

RunKey = tuple[str, str, str, int]  # namespace, pod, container, restart count
KEEP_LINES = 50_000  # per container run, as a kubelet's log rotation would bound it
TICK_SECONDS = 1.0
OOM_LINES = (  # {rss_mb}, {limit_mb}, {limit_kb}: from the container's memory limit
    '{{"level":"warn","msg":"heap usage 93% of limit","rss_mb":{rss_mb},"limit_mb":{limit_mb}}}',
    '{{"level":"error","msg":"memory allocation failed: cannot allocate 67108864 bytes"}}',
    "fatal error: runtime: out of memory",
    "Killed process 1 (predictiq-api) total-vm:{vm_kb}kB, anon-rss:{limit_kb}kB (OOMKilled)",
)


def oom_lines(pod: dict[str, Any]) -> list[str]:
    """The OOM lines with the pod's own memory limit in them (512 MiB when it has none)."""
    limit = memory_limit(pod)
    mb = int(limit // 2**20) if limit != float("inf") else 512
    numbers = {"rss_mb": mb * 93 // 100, "limit_mb": mb, "limit_kb": mb * 1024, "vm_kb": mb * 2048}
    return [line.format(**numbers) for line in OOM_LINES]


LOOP_LINE = (
    '{"level":"warn","msg":"event loop blocked for 1840ms: possible infinite loop in '
    'odds recalculation","handler":"/api/markets/{id}"}'
)
DISK_LINE = '{"level":"error","msg":"write /var/log/predictiq/app.log: No space left on device"}'


def _obj(value: object) -> Json:
    return as_mapping(value)


def _list(value: object) -> list[object]:
    return as_list(value)


def _str(value: object) -> str:
    return value if isinstance(value, str) else ""


def format_time(ns: int) -> str:
    """RFC 3339 with nanoseconds, trailing zeros trimmed (Go's RFC3339Nano, as the kubelet)."""
    seconds, frac = divmod(ns, 1_000_000_000)
    base = datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    digits = f"{frac:09d}".rstrip("0")
    return f"{base}.{digits}Z" if digits else f"{base}Z"


def parse_time(text: str) -> int:
    """RFC 3339 (with or without a fraction) -> nanoseconds; ValueError when it is not one."""
    value = text.strip()
    if not value.endswith("Z"):
        raise ValueError(text)
    head, _, frac = value[:-1].partition(".")
    base = datetime.strptime(head, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC)
    if frac and not frac.isdigit():
        raise ValueError(text)
    return int(base.timestamp()) * 1_000_000_000 + int((frac + "000000000")[:9] or 0)


def _stamp(rfc3339: str) -> int:
    try:
        return parse_time(rfc3339)
    except ValueError:
        return time.time_ns()


class _Sim(Protocol):
    """What the log route needs of the simulator."""

    stopping: threading.Event
    logs: PodLogs
    namespace: str

    def get(self, resource: str, namespace: str, name: str) -> dict[str, Any] | None: ...


@dataclass
class _Run:
    """One container run's lines: (sequence, time ns, text); `grew` wakes its followers only."""

    lines: deque[tuple[int, int, str]]
    grew: threading.Condition
    next_seq: int = 0
    last_ns: int = 0
    oom_written: bool = False


class PodLogs:
    """Every container run's log lines, and the open follow streams (to cut them on demand)."""

    def __init__(self, sim: _Sim) -> None:
        self.sim = sim
        self._runs: dict[RunKey, _Run] = {}
        self.lock = threading.RLock()
        self.changed = threading.Condition(self.lock)  # held while reading or writing lines
        self._streams: set[socket.socket] = set()
        self._ticker: threading.Thread | None = None
        self.tick_faults: Callable[[], None] | None = None  # the drills' lines, see `_tick`

    # -- writing --------------------------------------------------------------------------------

    def _run(self, key: RunKey, started_ns: int | None = None) -> _Run:
        run = self._runs.get(key)
        if run is None:
            run = self._runs[key] = _Run(deque(maxlen=KEEP_LINES), threading.Condition(self.lock))
            when = started_ns if started_ns is not None else time.time_ns()
            pod, container = key[1], key[2]
            for i, text in enumerate(
                (
                    (
                        f'{{"level":"info","msg":"starting {container}",'
                        f'"pod":"{pod}","version":"1.14.2"}}'
                    ),
                    '{"level":"info","msg":"connected to PostgreSQL and Redis"}',
                    '{"level":"info","msg":"listening on :8080"}',
                )
            ):
                self._append(run, text, when + i * 1000)
        return run

    @staticmethod
    def _append(run: _Run, text: str, when_ns: int) -> None:
        when = max(when_ns, run.last_ns + 1)  # a run's times only go forward
        run.lines.append((run.next_seq, when, text))
        run.next_seq += 1
        run.last_ns = when

    def write(
        self,
        namespace: str,
        pod: str,
        text: str,
        container: str | None = None,
        when_ns: int | None = None,
    ) -> bool:
        """Append one line (or several, split on newlines) to a pod's running container.

        False when the pod is gone. `when_ns` defaults to now.
        """
        obj = self.sim.get("pods", namespace, pod)
        if obj is None:
            return False
        name = container or default_container(obj)
        key = (namespace, pod, name, restart_count(obj, name))
        with self.changed:
            run = self._run(key, _started_ns(obj, name))
            for piece in text.split("\n"):
                self._append(run, piece, when_ns if when_ns is not None else time.time_ns())
            run.grew.notify_all()
        self.ensure_ticker()
        return True

    def lines(
        self, namespace: str, pod: str, container: str | None = None, previous: bool = False
    ) -> list[tuple[int, str]]:
        """(time ns, text) of a container run as the route would serve it (tests, drills)."""
        obj = self.sim.get("pods", namespace, pod)
        if obj is None:
            return []
        name = container or default_container(obj)
        generation = _served_generation(obj, name, previous)
        if generation is None:
            return []
        with self.changed:
            run = self.prepared(obj, (namespace, pod, name, generation), previous)
            return [(ns, text) for _, ns, text in run.lines]

    def prepared(self, obj: dict[str, Any], key: RunKey, previous: bool) -> _Run:
        """The run's lines, ending in the OOM lines when that run was OOM-killed."""
        run = self._run(key, _started_ns(obj, key[2]) if not previous else None)
        if key[3] < restart_count(obj, key[2]) and not run.oom_written and _oom_killed(obj, key[2]):
            finished = _stamp(_str(_last_terminated(obj, key[2]).get("finishedAt")))
            for i, text in enumerate(oom_lines(obj)):
                self._append(run, text, finished - (len(OOM_LINES) - i) * 1_000_000)
            run.oom_written = True
        return run

    # -- the drills' lines ----------------------------------------------------------------------

    def ensure_ticker(self) -> None:
        """Start the fault-line ticker (on first use; it ends when the simulator stops)."""
        if self._ticker is not None and self._ticker.is_alive():
            return
        self._ticker = threading.Thread(target=self._tick_loop, name="kubesim-logs", daemon=True)
        self._ticker.start()

    def _tick_loop(self) -> None:
        while not self.sim.stopping.wait(TICK_SECONDS):
            if self.tick_faults is not None:
                try:
                    self.tick_faults()
                except Exception:  # a fault tick must not kill the ticker
                    pass

    # -- streams --------------------------------------------------------------------------------

    def open_stream(self, sock: socket.socket) -> None:
        """Track a follow connection."""
        with self.changed:
            self._streams.add(sock)

    def close_stream(self, sock: socket.socket) -> None:
        """Forget a follow connection."""
        with self.changed:
            self._streams.discard(sock)

    @property
    def open_streams(self) -> int:
        """How many follow streams are open."""
        with self.changed:
            return len(self._streams)

    def drop_streams(self) -> int:
        """Cut every follow stream (a network drop); returns how many were cut."""
        with self.changed:
            sockets = list(self._streams)
        for sock in sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        return len(sockets)


# -- pod helpers ---------------------------------------------------------------------------------


def container_names(pod: dict[str, Any]) -> list[str]:
    """The pod's container names, in spec order."""
    return [_str(_obj(c).get("name")) for c in _list(_obj(pod.get("spec")).get("containers"))]


def default_container(pod: dict[str, Any]) -> str:
    """The `kubectl.kubernetes.io/default-container` annotation, else the first container."""
    annotations = _obj(_obj(pod.get("metadata")).get("annotations"))
    chosen = _str(annotations.get("kubectl.kubernetes.io/default-container"))
    names = container_names(pod)
    return chosen if chosen in names else (names[0] if names else "")


def _status(pod: dict[str, Any], container: str) -> Json:
    for status in _list(_obj(pod.get("status")).get("containerStatuses")):
        if _obj(status).get("name") == container:
            return _obj(status)
    return {}


def restart_count(pod: dict[str, Any], container: str) -> int:
    """The container's restartCount (0 when it has no status yet)."""
    value = _status(pod, container).get("restartCount")
    return value if isinstance(value, int) else 0


def _last_terminated(pod: dict[str, Any], container: str) -> Json:
    return _obj(_obj(_status(pod, container).get("lastState")).get("terminated"))


def _oom_killed(pod: dict[str, Any], container: str) -> bool:
    return _last_terminated(pod, container).get("reason") == "OOMKilled"


def _started_ns(pod: dict[str, Any], container: str) -> int | None:
    started = _str(_obj(_obj(_status(pod, container).get("state")).get("running")).get("startedAt"))
    return _stamp(started) if started else None


def _waiting_reason(pod: dict[str, Any], container: str) -> str:
    status = _status(pod, container)
    if not status:
        phase = _str(_obj(pod.get("status")).get("phase"))
        return "ContainerCreating" if phase == "Pending" else ""
    return _str(_obj(_obj(status.get("state")).get("waiting")).get("reason"))


def _served_generation(pod: dict[str, Any], container: str, previous: bool) -> int | None:
    """Which run a request reads: the current one, or the one before (None: there is none)."""
    restarts = restart_count(pod, container)
    crash_looping = _waiting_reason(pod, container) == "CrashLoopBackOff"
    if previous:
        return restarts - 1 if restarts > 0 else None
    # A container waiting in CrashLoopBackOff has no new run yet: its log is the last one's.
    return restarts - 1 if crash_looping and restarts > 0 else restarts


# -- the route ---------------------------------------------------------------------------------


class _Handler(Protocol):
    """The slice of the simulator's request handler the route writes to."""

    connection: socket.socket
    wfile: Any
    close_connection: bool

    def send_response(self, code: int, message: str | None = None) -> None: ...
    def send_header(self, keyword: str, value: str) -> None: ...
    def end_headers(self) -> None: ...


@dataclass(frozen=True)
class LogQuery:
    """The log request's parameters, validated as the API server does."""

    container: str
    previous: bool
    follow: bool
    timestamps: bool
    tail_lines: int | None
    since_ns: int | None

    @staticmethod
    def parse(query: dict[str, str], pod: dict[str, Any], now_ns: int) -> LogQuery:
        """Parse and check the query against the pod; ApiError (400/404) as the API server."""
        name = _str(_obj(pod.get("metadata")).get("name"))
        names = container_names(pod)
        container = query.get("container", "")
        if not container:
            annotated = default_container(pod)
            if (
                len(names) > 1
                and annotated == names[0]
                and "kubectl.kubernetes.io/default-container"
                not in _obj(_obj(pod.get("metadata")).get("annotations"))
            ):
                raise ApiError(
                    400,
                    "BadRequest",
                    f"a container name must be specified for pod "
                    f"{name}, choose one of: [{' '.join(names)}]",
                )
            container = annotated
        elif container not in names:
            raise ApiError(400, "BadRequest", f"container {container} is not valid for pod {name}")
        tail = _int_param(query, "tailLines")
        seconds = _int_param(query, "sinceSeconds")
        since_ns: int | None = None
        if seconds is not None:
            if seconds < 1:
                raise ApiError(
                    422,
                    "Invalid",
                    "PodLogOptions.sinceSeconds: Invalid value: must be greater than 0",
                )
            since_ns = now_ns - seconds * 1_000_000_000
        if query.get("sinceTime"):
            if since_ns is not None:
                raise ApiError(
                    422,
                    "Invalid",
                    "PodLogOptions: at most one of `sinceTime` or `sinceSeconds` may be specified",
                )
            try:
                since_ns = parse_time(query["sinceTime"])
            except ValueError as exc:
                raise ApiError(
                    400,
                    "BadRequest",
                    f"parsing time {query['sinceTime']!r} as RFC 3339: cannot parse",
                ) from exc
        if tail is not None and tail < 0:
            raise ApiError(
                422,
                "Invalid",
                "PodLogOptions.tailLines: Invalid value: must be greater than or equal to 0",
            )
        return LogQuery(
            container,
            _flag(query, "previous"),
            _flag(query, "follow"),
            _flag(query, "timestamps"),
            tail,
            since_ns,
        )


def _flag(query: dict[str, str], key: str) -> bool:
    return query.get(key, "").lower() in ("1", "true")


def _int_param(query: dict[str, str], key: str) -> int | None:
    if key not in query or query[key] == "":
        return None
    try:
        return int(query[key])
    except ValueError as exc:
        raise ApiError(400, "BadRequest", f"{key}: invalid integer {query[key]!r}") from exc


def _check_serveable(pod: dict[str, Any], q: LogQuery) -> int:
    """The run to serve, or the 400 the API server answers."""
    name = _str(_obj(pod.get("metadata")).get("name"))
    generation = _served_generation(pod, q.container, q.previous)
    if generation is None:
        raise ApiError(
            400,
            "BadRequest",
            f'previous terminated container "{q.container}" in pod "{name}" not found',
        )
    waiting = _waiting_reason(pod, q.container)
    if not q.previous and waiting and waiting != "CrashLoopBackOff":
        why = (
            "trying and failing to pull image"
            if waiting in ("ImagePullBackOff", "ErrImagePull")
            else waiting
        )
        raise ApiError(
            400,
            "BadRequest",
            f'container "{q.container}" in pod "{name}" is waiting to start: {why}',
        )
    return generation


def serve_log(handler: _Handler, sim: _Sim, route: Route, query: dict[str, str]) -> None:
    """Answer one `pods/{name}/log` request (ApiError for the Status answers)."""
    ns, name = route.namespace or "", route.name or ""
    pod = sim.get("pods", ns, name)
    if pod is None:
        raise ApiError(404, "NotFound", f'pods "{name}" not found', {"name": name, "kind": "pods"})
    q = LogQuery.parse(query, pod, time.time_ns())
    sim.logs.ensure_ticker()
    generation = _check_serveable(pod, q)
    key = (ns, name, q.container, generation)
    logs = sim.logs
    with logs.changed:
        run = logs.prepared(pod, key, q.previous)
        chosen = [line for line in run.lines if q.since_ns is None or line[1] >= q.since_ns]
        if q.tail_lines is not None:
            chosen = chosen[len(chosen) - q.tail_lines :] if q.tail_lines else []
        sent = run.next_seq - 1
    handler.send_response(200)
    handler.send_header("Content-Type", "text/plain")
    handler.send_header("Transfer-Encoding", "chunked")
    handler.send_header("Cache-Control", "no-cache, private")
    handler.end_headers()

    def write(lines: list[tuple[int, int, str]]) -> None:
        if lines:
            data = "".join(
                f"{format_time(t)} {text}\n" if q.timestamps else f"{text}\n"
                for _, t, text in lines
            ).encode("utf-8", "surrogateescape")
            handler.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            handler.wfile.flush()

    try:
        write(chosen)
        if q.follow and not q.previous:
            logs.open_stream(handler.connection)
            try:
                if not _follow(sim, key, run, sent, write):
                    handler.close_connection = True
                    return
            finally:
                logs.close_stream(handler.connection)
        handler.wfile.write(b"0\r\n\r\n")
        handler.wfile.flush()
    except OSError:
        handler.close_connection = True


def _follow(
    sim: _Sim,
    key: RunKey,
    run: _Run,
    sent: int,
    write: Callable[[list[tuple[int, int, str]]], None],
) -> bool:
    """Stream new lines until the run ends (pod gone, container restarted) or the server stops;
    True for a clean end (the chunked stream is closed), False when the server is stopping."""
    logs = sim.logs
    while True:
        with logs.changed:
            if run.next_seq - 1 <= sent:
                run.grew.wait(0.5)
            new = [line for line in run.lines if line[0] > sent]
        if new:
            sent = new[-1][0]
            write(new)
        if sim.stopping.is_set():
            return False
        pod = sim.get("pods", key[0], key[1])
        if pod is None or _served_generation(pod, key[2], False) != key[3]:
            return True


def fault_lines(sim: Any) -> None:
    """One tick of the drills' log lines: `loop` from pods pinned at high CPU, `No space left on
    device` from pods on a node under DiskPressure."""
    hot = {
        name
        for (ns, name), fraction in dict(sim.usage.cpu_overrides).items()
        if ns == sim.namespace and fraction >= 0.9
    }
    full = set[str]()
    for node in sim.store.items("nodes"):
        for condition in _list(_obj(_obj(node).get("status")).get("conditions")):
            if (
                _obj(condition).get("type") == "DiskPressure"
                and _obj(condition).get("status") == "True"
            ):
                full.add(_str(_obj(_obj(node).get("metadata")).get("name")))
    if not hot and not full:
        return
    for pod in sim.store.items("pods", sim.namespace):
        name = _str(_obj(_obj(pod).get("metadata")).get("name"))
        if name in hot:
            sim.logs.write(sim.namespace, name, LOOP_LINE)
        if _str(_obj(_obj(pod).get("spec")).get("nodeName")) in full:
            sim.logs.write(sim.namespace, name, DISK_LINE)


def request_line(method: str, path: str, status: int, seconds: float) -> str:
    """The API's JSON access line for one request (429s say `rate limit exceeded`)."""
    level = "error" if status >= 500 else "warn" if status == 429 else "info"
    message = "rate limit exceeded" if status == 429 else "request"
    return json.dumps(
        {
            "level": level,
            "msg": message,
            "method": method,
            "path": path,
            "status": status,
            "latency_ms": round(seconds * 1000, 2),
        },
        separators=(",", ":"),
    )


__all__ = ["LogQuery", "PodLogs", "format_time", "parse_time", "request_line", "serve_log"]
