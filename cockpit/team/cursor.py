"""What of the local audit log is already in the team store: a small sidecar `<log>.team`.

It holds the log's identity (`log_id`, random, made once: the store groups a log's entries by
it, and a cockpit never re-applies entries of its own log) and how far the upload got (byte
offset and seq). It is only a hint: inserts are idempotent by session and seq, so a cursor lost
or behind costs a re-upload, never a duplicate; one ahead of a shorter file (the log replaced or
rotated) is read from the start again, skipping seqs already uploaded.
"""

from __future__ import annotations

import json
import os
import uuid
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, cast


@dataclass(frozen=True)
class Cursor:
    """The log's identity and the upload's progress through it."""

    log_id: str
    offset: int = 0
    seq: int = 0


def cursor_path(log: Path) -> Path:
    """The sidecar of `log`."""
    return log.with_name(log.name + ".team")


def load_cursor(log: Path) -> Cursor:
    """The sidecar's cursor; a new identity when there is none (or it is unreadable)."""
    try:
        data = cast("dict[str, Any]", json.loads(cursor_path(log).read_text(encoding="ascii")))
        return Cursor(str(data["log_id"]), int(data.get("offset", 0)), int(data.get("seq", 0)))
    except (OSError, ValueError, KeyError, TypeError):
        return Cursor(uuid.uuid4().hex)


def save_cursor(log: Path, cursor: Cursor) -> None:
    """Replace the sidecar atomically (no fsync: a cursor behind only costs a re-upload)."""
    path = cursor_path(log)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp.write_text(
        json.dumps({"log_id": cursor.log_id, "offset": cursor.offset, "seq": cursor.seq})
    )
    os.replace(tmp, path)


def unsent(
    log: Path, cursor: Cursor, limit: int = 500
) -> tuple[list[tuple[str, dict[str, Any]]], Cursor]:
    """Up to `limit` complete entries after the cursor as (line, entry), and the cursor past
    them. Damaged lines are stepped over (`cockpit audit verify` reports them)."""
    try:
        size = log.stat().st_size
    except OSError:
        return [], cursor
    offset = cursor.offset if cursor.offset <= size else 0
    if offset == size:
        return [], replace(cursor, offset=offset)
    out: list[tuple[str, dict[str, Any]]] = []
    seq = cursor.seq
    with open(log, "rb") as fh:
        fh.seek(offset)
        while len(out) < limit:
            raw = fh.readline()
            if not raw.endswith(b"\n"):
                break  # a line being written (or cut by a crash): read it next time
            offset += len(raw)
            try:
                value: object = json.loads(raw)
            except ValueError:
                continue
            if not isinstance(value, dict):
                continue
            entry = cast("dict[str, Any]", value)
            entry_seq = entry.get("seq")
            if isinstance(entry_seq, int) and entry_seq <= seq and cursor.offset > size:
                continue  # re-reading a replaced file: these went up already
            if isinstance(entry_seq, int):
                seq = max(seq, entry_seq)
            out.append((raw.decode("ascii", "replace").rstrip("\n"), entry))
    return out, Cursor(cursor.log_id, offset, seq)
