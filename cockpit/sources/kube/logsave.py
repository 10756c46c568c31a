"""Save what a log view holds to a file (mode 0600) and record it in the audit trail.

The file keeps every line whole and verbatim, prefixed with its RFC 3339 time and pod: it is
evidence, so nothing is cut or rewritten (read it with `less`, which shows control characters
escaped, rather than `cat`). The audit entry `logs.saved` names the path, the pods, the line
count and the sha256 of the file, so a security incident's evidence can be traced and checked.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from cockpit.sources.kube.logtext import LogLine, format_time


class Recorder(Protocol):
    """What a save needs of the audit trail (cockpit.audit.log.AuditLog): one entry recorded.
    A protocol, because the sources never import the audit package that reads them."""

    def record(self, event: str, **fields: Any) -> object:
        """Append one entry."""
        ...


SAVED_EVENT = "logs.saved"


@dataclass(frozen=True)
class SavedLogs:
    """Where the lines went and what the audit trail says of them."""

    path: Path
    pods: tuple[str, ...]
    lines: int
    sha256: str


def file_name(subject: str, now: datetime) -> str:
    """'logs-predictiq-api-7d9f8-abcde-20261201T104213Z.log' (unsafe characters replaced)."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", subject).strip("._") or "pods"
    return f"logs-{safe}-{now.strftime('%Y%m%dT%H%M%SZ')}.log"


def render_lines(lines: Iterable[LogLine]) -> bytes:
    """The file's bytes: `time pod text` per line, the text verbatim."""
    return b"".join(
        f"{format_time(ln.time_ns)} {ln.pod} ".encode()
        + ln.text.encode("utf-8", "surrogateescape")
        + b"\n"
        for ln in lines
    )


def save_logs(
    lines: list[LogLine],
    directory: Path,
    subject: str,
    now: datetime,
    audit: Recorder | None = None,
    **context: Any,
) -> SavedLogs:
    """Write the lines to a new file in `directory` (0600, never overwriting) and, with an audit
    log, record `logs.saved` (path, pods, lines, sha256 and `context`). OSError when it cannot."""
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    data = render_lines(lines)
    name = file_name(subject, now)
    path = directory / name
    for attempt in range(1, 100):
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            break
        except FileExistsError:
            path = directory / name.replace(".log", f"-{attempt}.log")
    else:
        raise OSError(f"cannot find a free file name for {name} in {directory}")
    try:
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        os.fsync(fd)
    finally:
        os.close(fd)
    pods = tuple(sorted({ln.pod for ln in lines}))
    saved = SavedLogs(path.resolve(), pods, len(lines), hashlib.sha256(data).hexdigest())
    if audit is not None:
        audit.record(
            SAVED_EVENT,
            path=str(saved.path),
            pods=list(saved.pods),
            lines=saved.lines,
            sha256=saved.sha256,
            **context,
        )
    return saved


__all__ = ["SAVED_EVENT", "SavedLogs", "file_name", "render_lines", "save_logs"]
