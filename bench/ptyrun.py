"""Run the real `cockpit` in a pseudo-terminal (80×24) and record every byte it writes, with
timestamps, so start-up, output volume and CPU time are measured on the shipped process."""

from __future__ import annotations

import fcntl
import os
import re
import select
import struct
import subprocess
import termios
import threading
import time
from collections.abc import Sequence

ANSI = re.compile(
    rb"\x1b\[[0-9;?<>=$]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(\x07|\x1b\\)|\x1b[()][0-9A-B]|\x1b[=>78]"
)
CLK_TCK = os.sysconf("SC_CLK_TCK")


def visible_text(data: bytes) -> str:
    """The printable text in a chunk of terminal output (escape sequences removed)."""
    return ANSI.sub(b"", data).decode("utf-8", "replace")


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process from /proc (children excluded: the cockpit starts none)."""
    with open(f"/proc/{pid}/stat", "rb") as fh:
        fields = fh.read().rsplit(b")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def rss_bytes(pid: int) -> int:
    """Resident set size from /proc/PID/status."""
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


class PtyProcess:
    """A process whose stdin/stdout are a pty of the given size; output is read by a thread."""

    def __init__(
        self,
        argv: Sequence[str],
        env: dict[str, str],
        cols: int = 80,
        rows: int = 24,
        stderr_path: str | None = None,
    ) -> None:
        master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        self.master = master
        self.chunks: list[tuple[float, bytes]] = []
        self.lock = threading.Lock()
        stderr = open(stderr_path, "wb") if stderr_path else slave
        self.started = time.perf_counter()
        self.proc = subprocess.Popen(
            list(argv),
            stdin=slave,
            stdout=slave,
            stderr=stderr,
            env=env,
            start_new_session=True,
            close_fds=True,
        )
        os.close(slave)
        if stderr_path:
            stderr.close()
        self._closed = threading.Event()
        self._reader = threading.Thread(target=self._read, daemon=True, name="pty-reader")
        self._reader.start()

    @property
    def pid(self) -> int:
        """The cockpit's pid."""
        return self.proc.pid

    def _read(self) -> None:
        while not self._closed.is_set():
            ready, _, _ = select.select([self.master], [], [], 0.1)
            if not ready:
                continue
            try:
                data = os.read(self.master, 65536)
            except OSError:
                break
            if not data:
                break
            with self.lock:
                self.chunks.append((time.perf_counter(), data))

    def write(self, data: bytes) -> None:
        """Type into the terminal."""
        os.write(self.master, data)

    def output_since(self, t: float) -> list[tuple[float, bytes]]:
        """Chunks read at or after perf_counter time `t`."""
        with self.lock:
            return [(at, d) for at, d in self.chunks if at >= t]

    def wait_for(self, needle: bytes, timeout: float) -> float | None:
        """perf_counter time of the chunk that completes `needle` in the output, or None."""
        deadline = time.perf_counter() + timeout
        seen = 0
        buffer = b""
        while time.perf_counter() < deadline:
            with self.lock:
                fresh = self.chunks[seen:]
                seen = len(self.chunks)
            for at, data in fresh:
                buffer += data
                if needle in buffer:
                    return at
            time.sleep(0.002)
        return None

    def first_output_at(self, timeout: float) -> float | None:
        """perf_counter time of the first byte written, or None."""
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            with self.lock:
                if self.chunks:
                    return self.chunks[0][0]
            time.sleep(0.002)
        return None

    def stop(self, timeout: float = 5.0) -> None:
        """Ask to quit with the q key, then SIGTERM, then SIGKILL; always reaps the process."""
        if self.proc.poll() is None:
            try:
                self.write(b"q")  # the quit key (nothing in flight: quits at once)
                self.proc.wait(timeout=timeout / 2)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.terminate()
                try:
                    self.proc.wait(timeout=timeout / 2)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait(timeout=timeout)
        self._closed.set()
        self._reader.join(timeout=1)
        os.close(self.master)

    def __enter__(self) -> PtyProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
