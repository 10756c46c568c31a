"""Polling for tests: wait for a condition on a server with a deadline, never a bare sleep."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable

import pytest


def wait_for(
    condition: Callable[[], object],
    timeout: float = 10.0,
    interval: float = 0.1,
    what: str = "condition",
) -> object:
    """Poll `condition` until it returns something truthy (returned); fail after `timeout` s."""
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"{what} not met within {timeout} s")
        pause.wait(interval)


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    """Whether something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False
