"""The checkpoint: a small file beside the audit log (`<log>.checkpoint`) so that start-up reads
only the entries written after it, not the whole trail.

It holds the position it covers (file number and byte offset in the series), the incident state
up to there (`cockpit.incidents.replay.IncidentBook`: id counters, open and recently resolved
incidents, pending intents, last seq and hash), and where each of those incidents' entries are
(for the detail's templates and post-mortem, read on demand). It is a cache: written atomically
(temp file + rename) after each append, never fsynced, and trusted only when the line that ends
at its position in the log has the seq and hash it records. On any doubt (missing, unreadable,
ahead of or not matching the log) the state is rebuilt from the log, and cockpit.log says why.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, cast

from cockpit.audit.series import Position, file_of, iter_lines, line_ending_at, series_files
from cockpit.audit.sessions import this_host
from cockpit.config import Config
from cockpit.incidents.replay import INCIDENT_ID, IncidentBook, apply, book_from_json, book_to_json
from cockpit.incidents.replay import prune as prune_book

VERSION = 1


class CheckpointError(Exception):
    """The checkpoint cannot be used (the reason is in operator words)."""


@dataclass
class Checkpoint:
    """The state of the trail up to `position`."""

    position: Position = field(default_factory=lambda: Position(1, 0))
    book: IncidentBook = field(default_factory=IncidentBook)
    refs: dict[str, list[Position]] = field(default_factory=dict[str, list[Position]])

    def advance(self, entry: dict[str, Any], start: Position, end: Position, cfg: Config) -> None:
        """Apply one entry that occupies [start, end) of the series."""
        apply(self.book, entry, cfg)
        incident_id = str(entry.get("incident_id") or "")
        if INCIDENT_ID.match(incident_id) and (
            incident_id in self.book.open or incident_id in self.book.closed
        ):
            self.refs.setdefault(incident_id, []).append(start)
        self.position = end

    def prune(self, since: datetime) -> None:
        """Forget incidents resolved before `since`, and where their entries were, and other
        hosts' intents without a result from before `since` (no cockpit here can settle them)."""
        prune_book(self.book, since, pending_of_other_hosts=this_host())
        for incident_id in list(self.refs):
            if incident_id not in self.book.open and incident_id not in self.book.closed:
                del self.refs[incident_id]


def checkpoint_path(log_path: Path) -> Path:
    """Where the checkpoint of a log lives."""
    return log_path.with_name(log_path.name + ".checkpoint")


def to_json(cp: Checkpoint) -> dict[str, Any]:
    """The checkpoint's JSON form."""
    return {
        "version": VERSION,
        "position": [cp.position.number, cp.position.offset],
        "book": book_to_json(cp.book),
        "refs": {k: [[p.number, p.offset] for p in v] for k, v in cp.refs.items()},
    }


def from_json(data: object) -> Checkpoint:
    """A checkpoint from its JSON form; CheckpointError when it is not one."""
    if not isinstance(data, dict):
        raise CheckpointError("not a JSON object")
    d = cast("dict[str, Any]", data)
    if d.get("version") != VERSION:
        raise CheckpointError(f"version {d.get('version')!r}, expected {VERSION}")
    try:
        number, offset = (int(v) for v in cast("list[Any]", d["position"]))
        refs = {
            str(k): [Position(int(p[0]), int(p[1])) for p in cast("list[list[Any]]", v)]
            for k, v in cast("dict[str, Any]", d["refs"]).items()
        }
        book = book_from_json(d["book"])
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise CheckpointError(f"damaged ({exc})") from exc
    return Checkpoint(Position(number, offset), book, refs)


def load(log_path: Path) -> Checkpoint:
    """The checkpoint on disk, checked against the log. CheckpointError says why not."""
    path = checkpoint_path(log_path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CheckpointError("there is none") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"unreadable ({exc})") from exc
    try:
        data: object = json.loads(text)
    except ValueError as exc:
        raise CheckpointError(f"not JSON ({exc})") from exc
    cp = from_json(data)
    check(log_path, cp)
    return cp


def check(log_path: Path, cp: Checkpoint) -> None:
    """Raise CheckpointError unless the log's line ending at the checkpoint's position is the
    entry it records (same seq, same hash)."""
    where = cp.position
    if where.offset == 0:
        if cp.book.seq == 0 and not any(n < where.number for n, _ in series_files(log_path)):
            return
        raise CheckpointError("it points at the start of a file but records entries")
    file = file_of(log_path, where.number)
    if file is None:
        raise CheckpointError(f"the log file number {where.number} it covers is gone")
    entry = line_ending_at(file, where.offset)
    if entry is None:
        raise CheckpointError(f"no entry ends at byte {where.offset} of {file.name}")
    if entry.get("seq") != cp.book.seq or entry.get("hash") != cp.book.hash:
        raise CheckpointError(
            f"it records seq {cp.book.seq}, the log has seq {entry.get('seq')} there "
            "(the log was replaced or rewritten)"
        )


def catch_up(log_path: Path, cp: Checkpoint, cfg: Config) -> int:
    """Apply the entries written after the checkpoint's position; how many were applied."""
    count = 0
    for line in iter_lines(log_path, cp.position):
        if not line.raw.endswith(b"\n"):
            break  # a line being written (or cut by a crash): not covered yet
        end = Position(line.number, line.end)
        if line.entry is None:
            cp.position = end  # a damaged line: `verify` reports it; nothing to apply
            continue
        cp.advance(line.entry, Position(line.number, line.start), end, cfg)
        count += 1
    return count


def write(log_path: Path, cp: Checkpoint) -> None:
    """Replace the checkpoint atomically (temp file + rename). Raises OSError."""
    path = checkpoint_path(log_path)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    data = json.dumps(to_json(cp), ensure_ascii=True, separators=(",", ":"))
    try:
        # as private as the log: it holds incident notes and evidence
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with open(fd, "w", encoding="ascii") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except OSError:
        try:
            tmp.unlink()
        except OSError:
            pass
        raise
