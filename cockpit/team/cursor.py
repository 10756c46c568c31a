"""What of the local audit log is already in the team store: a small sidecar `<log>.team`.

It holds the log's identity (`log_id`, random, made once: the store groups a log's entries by
it, and a cockpit never re-applies entries of its own log) and how far the upload got (the
file's inode, the byte offset, the seq). It is only a hint: inserts are idempotent by session
and seq, so a cursor lost or behind costs a re-upload, never a duplicate. A rotation renames the
file (same inode): the rest of it is read, then the new one; a cursor whose file is gone reads
the whole series again, skipping the seqs already uploaded.
"""

from __future__ import annotations

import json
import os
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from cockpit.audit.series import series_files


@dataclass(frozen=True)
class Cursor:
    """The log's identity and the upload's progress: in which file (by inode, which a rotation
    keeps: the file is renamed), how far, and the highest seq uploaded."""

    log_id: str
    offset: int = 0
    seq: int = 0
    inode: int = 0


def cursor_path(log: Path) -> Path:
    """The sidecar of `log`."""
    return log.with_name(log.name + ".team")


def load_cursor(log: Path) -> Cursor:
    """The sidecar's cursor; a new identity when there is none (or it is unreadable)."""
    try:
        data = cast("dict[str, Any]", json.loads(cursor_path(log).read_text(encoding="ascii")))
        return Cursor(
            str(data["log_id"]),
            int(data.get("offset", 0)),
            int(data.get("seq", 0)),
            int(data.get("inode", 0)),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return Cursor(uuid.uuid4().hex)


def save_cursor(log: Path, cursor: Cursor) -> None:
    """Replace the sidecar atomically (no fsync: a cursor behind only costs a re-upload)."""
    path = cursor_path(log)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp.write_text(
        json.dumps(
            {
                "log_id": cursor.log_id,
                "offset": cursor.offset,
                "seq": cursor.seq,
                "inode": cursor.inode,
            }
        )
    )
    os.replace(tmp, path)


def _inode(path: Path) -> int:
    try:
        return path.stat().st_ino
    except OSError:
        return -1


def unsent(
    log: Path, cursor: Cursor, limit: int = 500
) -> tuple[list[tuple[str, dict[str, Any]]], Cursor]:
    """Up to `limit` complete entries after the cursor as (line, entry), and the cursor past
    them, across rotations: the rest of the file the cursor was in (rotated meanwhile), then
    the newer ones. A cursor whose file is gone reads the whole series, skipping the seqs it
    already uploaded. Damaged lines are stepped over (`cockpit audit verify` reports them)."""
    files = [f for _, f in series_files(log)]
    if not files:
        return [], cursor
    inodes = [_inode(f) for f in files]
    if cursor.inode in inodes:
        at = inodes.index(cursor.inode)
        plan, skip_seen = [(files[at], cursor.offset)] + [(f, 0) for f in files[at + 1 :]], False
    elif cursor.inode == 0 and len(files) == 1 and cursor.offset <= _size(files[0]):
        plan, skip_seen = [(files[0], cursor.offset)], False  # a cursor from before inodes
    else:
        plan, skip_seen = [(f, 0) for f in files], True
    out: list[tuple[str, dict[str, Any]]] = []
    seq, where = cursor.seq, cursor
    for file, start in plan:
        offset = start
        try:
            fh = open(file, "rb")
        except OSError:
            continue
        with fh:
            fh.seek(start)
            while len(out) < limit:
                raw = fh.readline()
                if not raw.endswith(b"\n"):
                    break  # a line being written (or cut by a crash): read it next time
                offset += len(raw)
                entry = _entry(raw)
                if entry is None:
                    continue
                entry_seq = entry.get("seq")
                if skip_seen and isinstance(entry_seq, int) and entry_seq <= cursor.seq:
                    continue  # uploaded before the file it was in was replaced
                if isinstance(entry_seq, int):
                    seq = max(seq, entry_seq)
                out.append((raw.decode("ascii", "replace").rstrip("\n"), entry))
        where = Cursor(cursor.log_id, offset, seq, _inode(file))
        if len(out) >= limit:
            break
    return out, where


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _entry(raw: bytes) -> dict[str, Any] | None:
    try:
        value: object = json.loads(raw)
    except ValueError:
        return None
    return cast("dict[str, Any]", value) if isinstance(value, dict) else None
