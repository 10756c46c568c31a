"""Child server processes that never outlive us, and TCP port helpers for the lab."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypedDict, overload

_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> Callable[[], None] | None:
    """A preexec_fn asking Linux to SIGTERM the child when the thread that started it dies.

    Our servers run in their own session (so stop() can kill the group), which means a SIGKILLed
    lab would otherwise leave them running. Resolved here, in the parent, so the child only makes
    one system call. Servers must be started from a long-lived thread (the main thread in the lab,
    the demo and the tests): the signal follows the starting *thread*.
    """
    if not sys.platform.startswith("linux"):
        return None
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    prctl = libc.prctl

    def preexec() -> None:
        prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)  # applied after the uid change

    return preexec


class PortInUse(RuntimeError):
    """Another process bound our port between free_port() and the server's bind()."""


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
                raise TimeoutError(
                    f"{host}:{port} not accepting connections after {timeout}s"
                ) from None
            time.sleep(0.02)


class ServerProcess:
    """A server child process in its own session, so stop() can kill its whole process group."""

    def __init__(self, argv: list[str], log_path: Path, user: int | None = None) -> None:
        self.log_path = log_path
        with open(log_path, "ab") as log:
            self.popen = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_die_with_parent(),
                **as_user(user),
            )

    def alive(self) -> bool:
        """True while the child runs."""
        return self.popen.poll() is None

    def log_tail(self, lines: int = 15) -> str:
        """The end of the child's log, for start-up error messages."""
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


@overload
def gid_of(uid: int) -> int: ...
@overload
def gid_of(uid: None) -> None: ...
def gid_of(uid: int | None) -> int | None:
    """The primary group of `uid` (None for None)."""
    return pwd.getpwuid(uid).pw_gid if uid is not None else None


class UserArgs(TypedDict, total=False):
    """The subprocess keyword arguments that run a child as another user."""

    user: int
    group: int
    extra_groups: list[int]


def as_user(uid: int | None) -> UserArgs:
    """subprocess keyword arguments that drop to `uid` (no-op when uid is None)."""
    if uid is None:
        return {}
    return {"user": uid, "group": gid_of(uid), "extra_groups": []}


class ThrowawayServer:
    """What the throwaway servers share: one port for life (so `restart()` keeps the URL), a temp
    dir, a start that waits until the server answers (retrying a port lost to a race on the first
    start), and a stop that leaves nothing behind.

    Subclasses give `name`, `stop_signal`, `_initialise()` (first start: make `tmpdir`),
    `_argv()`, `_probe(first_start)` (raises `probe_errors` until the server answers) and
    `bind_errors` (log phrases meaning the port was taken).
    """

    name = "server"
    stop_signal = signal.SIGTERM
    stop_timeout = 5.0
    probe_errors: tuple[type[BaseException], ...] = (OSError,)
    bind_errors: tuple[str, ...] = ("already in use",)
    log_name = "server.log"
    run_as: int | None = None

    def __init__(self) -> None:
        self.port = free_port()
        self.tmpdir: Path | None = None  # created by the first start()
        self._process: ServerProcess | None = None

    def _initialise(self) -> None:
        raise NotImplementedError

    def _argv(self) -> list[str]:
        raise NotImplementedError

    def _probe(self, first_start: bool) -> None:
        raise NotImplementedError

    def start(self, timeout: float = 30.0):  # returns the subclass
        """Start and wait until the server answers. A failed first start removes what it made."""
        first_start = self.tmpdir is None
        try:
            if first_start:
                self._initialise()
            for attempt in range(3):
                try:
                    self._run_until_ready(timeout, first_start)
                    return self
                except PortInUse:
                    if not first_start or attempt == 2:
                        raise
                    self.port = free_port()
        except BaseException:
            self.cleanup()
            raise
        return self

    def _run_until_ready(self, timeout: float, first_start: bool) -> None:
        assert self.tmpdir is not None
        self._process = ServerProcess(self._argv(), self.tmpdir / self.log_name, user=self.run_as)
        deadline = time.monotonic() + timeout
        while True:
            try:
                self._probe(first_start)
                return
            except self.probe_errors:
                if not self._process.alive() or time.monotonic() > deadline:
                    tail = self._process.log_tail()
                    self.stop(timeout=1)
                    if any(phrase in tail for phrase in self.bind_errors):
                        raise PortInUse(tail) from None
                    raise RuntimeError(f"throwaway {self.name} did not start:\n{tail}") from None
                time.sleep(0.03)

    def stop(self, timeout: float | None = None) -> None:
        """Signal the server and wait; kill its process group if it lingers."""
        if self._process is not None:
            self._process.stop(self.stop_signal, self.stop_timeout if timeout is None else timeout)
            self._process = None

    def restart(self) -> None:
        """Stop and start again on the same port (and data dir)."""
        self.stop()
        self.start()

    @property
    def running(self) -> bool:
        """True while the server process is alive."""
        return self._process is not None and self._process.alive()

    def cleanup(self) -> None:
        """Stop the server and remove its temp dir."""
        self.stop()
        if self.tmpdir is not None:
            shutil.rmtree(self.tmpdir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.cleanup()
