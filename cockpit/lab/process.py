"""Child server processes that never outlive us, and TCP port helpers for the lab."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import pwd
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

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
                raise TimeoutError(f"{host}:{port} not accepting connections after {timeout}s") from None
            time.sleep(0.02)


class ServerProcess:
    """A server child process in its own session, so stop() can kill its whole process group."""

    def __init__(self, argv: list[str], log_path: Path, user: int | None = None) -> None:
        self.log_path = log_path
        with open(log_path, "ab") as log:
            self.popen = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True, preexec_fn=_die_with_parent(), **as_user(user),
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


def gid_of(uid: int | None) -> int | None:
    """The primary group of `uid` (None for None)."""
    return pwd.getpwuid(uid).pw_gid if uid is not None else None


def as_user(uid: int | None) -> dict:
    """subprocess keyword arguments that drop to `uid` (no-op when uid is None)."""
    if uid is None:
        return {}
    return {"user": uid, "group": gid_of(uid), "extra_groups": []}
