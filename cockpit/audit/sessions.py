"""Is the cockpit that wrote an action intent still alive? Session locks beside the audit log.

A session that runs an action first takes an exclusive `flock` on `<log>.sessions/<session>.lock`
and holds it until it ends; the kernel releases it when the process dies, however it dies, so a
lock nobody holds is proof the session is gone, pid reuse or not. The intent also records the
session's pid and host, for intents whose lock file is absent (a session that ended cleanly
removes its own; earlier versions wrote none): such a session is gone when it ran on this host
and its pid is not alive. A session of another host is never declared gone here.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import re
import socket
from pathlib import Path

from cockpit.incidents.replay import PendingIntent

log = logging.getLogger("cockpit.audit")
_SAFE = re.compile(r"[^A-Za-z0-9_.-]")


def sessions_dir(log_path: Path) -> Path:
    """Where the session locks of a log live."""
    return log_path.with_name(log_path.name + ".sessions")


def lock_path(log_path: Path, session: str) -> Path:
    """The lock file of one session."""
    return sessions_dir(log_path) / f"{_SAFE.sub('_', session) or '_'}.lock"


def this_host() -> str:
    """The host name intents record."""
    return socket.gethostname()


class SessionLock:
    """This session's lock, held from the first action until `release()` (or the process's end)."""

    def __init__(self, log_path: Path, session: str) -> None:
        self.path = lock_path(log_path, session)
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        """Whether this process holds the lock now."""
        return self._fd is not None

    def hold(self) -> bool:
        """Take the lock (once); False when it cannot be taken (then liveness falls back to the
        pid and host the intent records)."""
        if self._fd is not None:
            return True
        try:
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            log.warning("cannot create the session lock %s: %s", self.path, exc)
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            log.warning("cannot lock the session lock %s: %s", self.path, exc)
            return False
        self._fd = fd
        return True

    def release(self) -> None:
        """Remove the lock file and let go (a clean end: nothing of ours is in flight)."""
        if self._fd is None:
            return
        with contextlib.suppress(OSError):
            self.path.unlink()
        os.close(self._fd)
        self._fd = None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: alive
    except OSError:
        return True
    return True


def session_gone(log_path: Path, intent: PendingIntent, own_session: str) -> bool:
    """Whether the session that wrote `intent` has certainly ended (see the module docstring)."""
    if intent.session == own_session:
        return False
    if intent.host is not None and intent.host != this_host():
        return False
    path = lock_path(log_path, intent.session)
    try:
        fd = os.open(path, os.O_RDWR)
    except FileNotFoundError:
        return intent.pid is None or not _pid_alive(intent.pid)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False  # held: the session is alive
    finally:
        os.close(fd)  # closing also lets go of the lock we may have taken
    return True


def remove_stale(log_path: Path, session: str) -> None:
    """Remove the lock file of a session found gone (best effort)."""
    path = lock_path(log_path, session)
    try:
        fd = os.open(path, os.O_RDWR)
    except OSError:
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        path.unlink()
    except OSError:
        pass  # held again (cannot be: session ids are unique) or already gone
    finally:
        os.close(fd)
