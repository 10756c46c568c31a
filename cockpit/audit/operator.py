"""Who is at the keyboard: the operator identity written into every audit entry.

The kernel's answers (uid, effective uid, /proc/self/loginuid) cannot be changed by the process;
SSH_CLIENT, SUDO_USER and USER come from the environment and can be spoofed by anyone who starts
the cockpit, so they are recorded apart, under "from_env" (PITFALLS: audit trail).
"""

from __future__ import annotations

import functools
import os
import pwd
import socket
from collections.abc import Mapping
from typing import Any

# /proc/self/loginuid holds this when no login session set it (daemons, containers)
_UNSET_LOGINUID = 4294967295


def read_loginuid(path: str = "/proc/self/loginuid") -> int | None:
    """The audit login uid the kernel keeps across su/sudo, or None where unreadable or unset."""
    try:
        with open(path, encoding="ascii") as fh:
            value = int(fh.read().strip())
    except (OSError, ValueError):
        return None
    return None if value == _UNSET_LOGINUID else value


def _user_name(uid: int) -> str | None:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return None


def identity(env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The operator as plain JSON data: kernel-backed facts first, environment claims marked.

    `login` is the name of the real uid from the password database (not $USER); `loginuid_user`
    names who logged in originally, which survives `sudo -i`.
    """
    env = os.environ if env is None else env
    uid, euid = os.getuid(), os.geteuid()
    loginuid = read_loginuid()
    from_env: dict[str, str] = {}
    ssh_client = env.get("SSH_CLIENT", "")
    if ssh_client:
        # "ADDR CLIENT_PORT SERVER_PORT": the origin is the address and its port
        parts = ssh_client.split()
        from_env["ssh_client_origin"] = ":".join(parts[:2]) if len(parts) >= 2 else ssh_client
    for name in ("SUDO_USER", "USER"):
        if env.get(name):
            from_env[name] = env[name]
    out: dict[str, Any] = {
        "login": _user_name(uid),
        "uid": uid,
        "euid": euid,
        "loginuid": loginuid,
        "loginuid_user": _user_name(loginuid) if loginuid is not None else None,
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "from_env": from_env,
    }
    return out


@functools.lru_cache(maxsize=1)
def current_operator() -> dict[str, Any]:
    """The identity of this process, computed once (it does not change while the cockpit runs).

    Callers get a copy so that nobody mutates the cached value.
    """
    return identity()


def operator_for_entry() -> dict[str, Any]:
    """A fresh copy of the cached identity, safe to embed in an entry."""
    ident = current_operator()
    return {**ident, "from_env": dict(ident["from_env"])}
