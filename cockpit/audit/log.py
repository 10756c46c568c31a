"""The audit trail: append-only, hash-chained JSON lines, one per event, fsynced, secrets masked.

Each entry carries `seq`, `time` (UTC), `event`, `operator`, `session`, the caller's fields,
`prev` (the previous entry's hash) and `hash` = sha256 of the entry's canonical JSON without
`hash`. Editing, deleting or reordering a line breaks the chain at that line; `verify` names it.
A sidecar `<log>.head` remembers the last seq/hash, so cutting entries off the end is seen too.

Several cockpits on one host may share a file: reading the last hash and appending happen under
an exclusive `fcntl.flock`. JSON escapes every control character (and ensure_ascii the Unicode
line separators), so untrusted text (a query, a pod name) can never start a line of its own.

Rotation (`rotate_bytes`, `[audit] rotate_mb`): when an entry would take the file past the size,
the file becomes `<log>.NNNNNN` (hard link, then the new empty file is swapped in with a rename,
so the log's name always exists) and the entry starts the new file, chained from the previous
file's last hash with the next seq: `verify`, `read_entries` and the checkpoint read the whole
series (cockpit.audit.series). A writer that waited for the lock of a file rotated meanwhile
sees the name now points elsewhere and starts again.

Each append also advances the checkpoint (cockpit.audit.checkpoint), and `restore()` reads it at
start. An append's listeners (`listeners`) are told of each entry this log wrote.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import re
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, cast

from cockpit.audit import checkpoint as checkpoints
from cockpit.audit.checkpoint import Checkpoint, CheckpointError
from cockpit.audit.operator import operator_for_entry
from cockpit.audit.series import (
    Position,
    current_number,
    iter_lines,
    last_line,
    read_at,
    read_entries,
    rotated_files,
    rotated_name,
    series_files,
)
from cockpit.audit.sessions import SessionLock, remove_stale, session_gone, this_host
from cockpit.config import Config, mask_dsn
from cockpit.incidents.replay import UNKNOWN_ENDED, IncidentBook, PendingIntent, entry_time
from cockpit.models import to_jsonable, utcnow

__all__ = [
    "GENESIS",
    "AuditError",
    "AuditLog",
    "Restored",
    "entry_hash",
    "mask_text",
    "read_entries",
    "scrub",
    "verify",
]
log = logging.getLogger("cockpit.audit")
RECENT = timedelta(hours=24)  # resolved incidents the checkpoint keeps (the engine lists them)

GENESIS = "0" * 64
MASK = "***"
_SECRET_KEY = re.compile(
    r"pass(word|wd)?$|token|secret|authori[sz]ation|api[-_]?key|cookie|credential", re.IGNORECASE
)
_BEARER = re.compile(r"\b(Bearer|Basic|Token)\s+[A-Za-z0-9._~+/=-]+", re.IGNORECASE)
_AUTH_HEADER = re.compile(
    r"(authorization\s*[:=]\s*)(\"[^\"]*\"|'[^']*'|[^\s,;]+(\s+[^\s,;]+)?)", re.IGNORECASE
)


class AuditError(Exception):
    """The audit trail cannot be written; whatever was about to be audited must not happen."""


def mask_text(text: str) -> str:
    """A string with DSN passwords, bearer tokens and Authorization header values masked."""
    text = mask_dsn(text)
    text = _AUTH_HEADER.sub(lambda m: m.group(1) + MASK, text)
    return _BEARER.sub(lambda m: f"{m.group(1)} {MASK}", text)


def scrub(value: Any) -> Any:
    """JSON-ready data with secrets masked, recursively: keys named like password/token/secret/
    authorization get their value replaced, and every string is passed through `mask_text`."""
    value = to_jsonable(value)
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for k, v in cast("dict[object, object]", value).items():
            key = str(k)
            if _SECRET_KEY.search(key) and v not in (None, "", [], {}):
                out[key] = MASK
            else:
                out[key] = scrub(v)
        return out
    if isinstance(value, list):
        return [scrub(v) for v in cast("list[object]", value)]
    if isinstance(value, str):
        return mask_text(value)
    if value is None or isinstance(value, bool | int | float):
        return value
    return mask_text(str(value))


def canonical(entry: dict[str, Any]) -> bytes:
    """The bytes an entry's hash covers: sorted keys, no spaces, ASCII only."""
    body = {k: v for k, v in entry.items() if k != "hash"}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode(
        "ascii"
    )


def entry_hash(entry: dict[str, Any]) -> str:
    """sha256 hex of the canonical form of an entry (its own `hash` excluded)."""
    return hashlib.sha256(canonical(entry)).hexdigest()


def _chain_of(raw: bytes) -> tuple[str, int] | None:
    try:
        entry = json.loads(raw)
        return str(entry["hash"]), int(entry["seq"])
    except (ValueError, KeyError, TypeError):
        return None


@dataclass(frozen=True)
class Restored:
    """What `AuditLog.restore()` found: the incident state, where each incident's entries are,
    how many entries were read after the checkpoint, and why it was rebuilt (None: it was not)."""

    book: IncidentBook
    refs: dict[str, list[Position]] = field(default_factory=dict[str, list[Position]])
    read: int = 0
    rebuilt_because: str | None = None


class AuditLog:
    """One audit trail (a series of files). `record()` appends an entry and returns it; raises
    AuditError."""

    def __init__(
        self,
        path: Path | str,
        session_id: str | None = None,
        *,
        rotate_bytes: int | None = None,
        cfg: Config | None = None,
    ) -> None:
        self.path = Path(path).expanduser()
        self.head_path = self.path.with_name(self.path.name + ".head")
        self.session_id = session_id or uuid.uuid4().hex[:12]
        self.rotate_bytes = rotate_bytes if rotate_bytes and rotate_bytes > 0 else None
        self.cfg = cfg or Config()
        self.listeners: list[Callable[[dict[str, Any]], None]] = []
        self._checkpoint: Checkpoint | None = None
        self._checkpoint_warned = False
        self._session_lock = SessionLock(self.path, self.session_id)

    @classmethod
    def for_config(cls, cfg: Config, path: Path | str, session_id: str | None = None) -> AuditLog:
        """The log as the config sets it up (rotation size from `[audit] rotate_mb`)."""
        rotate = int(cfg.audit.rotate_mb * 1024 * 1024) if cfg.audit.rotate_mb else None
        return cls(path, session_id, rotate_bytes=rotate, cfg=cfg)

    # ------------------------------------------------------------------ appending
    def record(self, event: str, **fields: Any) -> dict[str, Any]:
        """Append one entry (flush + fsync, under an exclusive lock) and return it."""
        entry = self._append(event, fields, None)
        assert entry is not None  # no guard: always written (or AuditError)
        return entry

    def record_if(
        self, guard: Callable[[IncidentBook], bool], event: str, **fields: Any
    ) -> dict[str, Any] | None:
        """Append one entry only if `guard` holds for the trail's state at that moment (under
        the lock, checkpoint caught up); None when it did not hold or the state is unknown."""
        return self._append(event, fields, guard)

    def liveness(self) -> dict[str, Any]:
        """The fields an action intent carries so a later cockpit can tell whether this one is
        still running it (cockpit.audit.sessions): takes this session's lock on first use."""
        self._session_lock.hold()
        return {"pid": os.getpid(), "host": this_host()}

    def close(self) -> None:
        """A clean end of the session: let go of its lock (nothing of ours is in flight)."""
        self._session_lock.release()

    def _open_locked(self) -> int:
        """The current file, opened and locked; retried when it was rotated while we waited."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise AuditError(f"cannot open audit log {self.path}: {exc.strerror or exc}") from exc
        for _ in range(100):
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
            except OSError as exc:
                raise AuditError(
                    f"cannot open audit log {self.path}: {exc.strerror or exc}"
                ) from exc
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                if os.fstat(fd).st_ino == os.stat(self.path).st_ino:
                    return fd
            except OSError:
                pass  # the name moved on between open and stat: open it again
            os.close(fd)
        raise AuditError(f"cannot open audit log {self.path}: it keeps being replaced")

    def _append(
        self, event: str, fields: dict[str, Any], guard: Callable[[IncidentBook], bool] | None
    ) -> dict[str, Any] | None:
        fd = self._open_locked()
        try:
            number = current_number(self.path)
            size = os.fstat(fd).st_size
            prev, seq, damaged = self._tail(fd, size)
            cp = self._synced(prev, seq, number)
            if guard is not None and (cp is None or not guard(cp.book)):
                return None
            entry: dict[str, Any] = {
                "seq": seq + 1,
                "time": utcnow().isoformat().replace("+00:00", "Z"),
                "event": str(event),
                "operator": operator_for_entry(),
                "session": self.session_id,
            }
            for key, value in scrub(fields).items():
                if key not in entry and key not in ("prev", "hash"):
                    entry[key] = value
            entry["prev"] = prev
            entry["hash"] = entry_hash(entry)
            line = json.dumps(entry, ensure_ascii=True, separators=(",", ":")) + "\n"
            assert line.count("\n") == 1  # json escapes newlines: one entry is one line
            if self.rotate_bytes and size > 0 and size + len(line) > self.rotate_bytes:
                rotated = self._rotate(fd, number)
                if rotated is not None:
                    fd, number, size, damaged = rotated, number + 1, 0, False
            # a crash may have left a partial last line: never glue our entry onto it
            data = (b"\n" if damaged else b"") + line.encode("ascii")
            written = os.write(fd, data)
            if written != len(data):
                raise OSError(28, "short write (disk full?)")
            os.fsync(fd)
            self._write_head(entry)
            start = Position(number, size + (1 if damaged else 0))
            self._advance(cp, entry, start, Position(number, size + len(data)))
        except OSError as exc:
            raise AuditError(f"cannot write audit log {self.path}: {exc.strerror or exc}") from exc
        finally:
            os.close(fd)  # closing releases the lock
        for listener in list(self.listeners):
            try:
                listener(entry)
            except Exception:  # a listener's bug must not undo or fail an audited step
                log.exception("audit listener failed on %s", entry.get("event"))
        return entry

    def _tail(self, fd: int, size: int) -> tuple[str, int, bool]:
        """(hash of the last entry of the series, its seq, whether the current file ends in a
        partial line)."""
        if size == 0:
            rotated = rotated_files(self.path)
            if not rotated:
                return GENESIS, 0, False
            try:
                pfd = os.open(rotated[-1][1], os.O_RDONLY)
            except OSError as exc:
                raise AuditError(f"cannot read the previous audit file: {exc}") from exc
            try:
                chain = _chain_of(last_line(pfd))
            finally:
                os.close(pfd)
            if chain is None:  # damaged: chain from its last good entry; verify reports it
                good = [e for _, e, _ in _iter_lines(rotated[-1][1]) if e is not None]
                last = good[-1] if good else {}
                return str(last.get("hash", GENESIS)), int(last.get("seq", 0)), False
            return chain[0], chain[1], False
        damaged = os.pread(fd, 1, size - 1) != b"\n"
        chain = _chain_of(last_line(fd, size))
        if chain is not None:
            return chain[0], chain[1], damaged
        # the last line is damaged: chain from the last good entry; verify reports the damage
        good = [ln.entry for ln in iter_lines(self.path) if ln.entry is not None]
        if good:
            return str(good[-1].get("hash", GENESIS)), int(good[-1].get("seq", 0)), damaged
        return GENESIS, 0, damaged

    def _rotate(self, fd: int, number: int) -> int | None:
        """Start a new current file (locked, returned); the full one becomes `<log>.number`.
        None (keep appending to the full file) when the rotation cannot be done."""
        fresh = self.path.with_name(f"{self.path.name}.{os.getpid()}.new")
        try:
            nfd = os.open(fresh, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_EXCL, 0o600)
        except OSError as exc:
            log.warning("audit log not rotated (cannot create %s): %s", fresh, exc)
            return None
        try:
            fcntl.flock(nfd, fcntl.LOCK_EX)
            os.link(self.path, rotated_name(self.path, number))
            os.replace(fresh, self.path)
        except OSError as exc:
            log.warning("audit log not rotated: %s", exc)
            os.close(nfd)
            with contextlib.suppress(OSError):
                fresh.unlink()
            return None
        _fsync_dir(self.path.parent)
        os.close(fd)  # writers waiting on the old file now see the name moved, and retry
        return nfd

    def _write_head(self, entry: dict[str, Any]) -> None:
        """Remember the newest seq/hash next to the log (atomic replace), to catch a cut tail."""
        tmp = self.head_path.with_name(self.head_path.name + f".{os.getpid()}.tmp")
        with open(tmp, "w", encoding="ascii") as fh:
            json.dump({"seq": entry["seq"], "hash": entry["hash"]}, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.head_path)

    # ------------------------------------------------------------------ the checkpoint
    def _synced(self, prev: str, seq: int, number: int) -> Checkpoint | None:
        """The checkpoint state covering exactly the entries before the one being appended
        (called under the lock), or None when it cannot be had cheaply (start-up rebuilds it)."""
        cp = self._checkpoint
        if cp is not None and cp.book.seq == seq and cp.book.hash == prev:
            return cp
        if seq == 0:
            self._checkpoint = Checkpoint(Position(number, 0))
            return self._checkpoint
        for candidate in self._candidates():
            try:
                checkpoints.catch_up(self.path, candidate, self.cfg)
            except OSError:
                continue
            if candidate.book.seq == seq and candidate.book.hash == prev:
                self._checkpoint = candidate
                return candidate
        self._checkpoint = None
        return None

    def _candidates(self) -> Iterator[Checkpoint]:
        """The checkpoint on disk (another cockpit may have advanced it), then ours."""
        try:
            yield checkpoints.load(self.path)
        except CheckpointError:
            pass
        if self._checkpoint is not None:
            try:
                checkpoints.check(self.path, self._checkpoint)
                yield self._checkpoint
            except CheckpointError:
                pass

    def _advance(
        self, cp: Checkpoint | None, entry: dict[str, Any], start: Position, end: Position
    ) -> None:
        if cp is None:
            return
        try:
            cp.advance(entry, start, end, self.cfg)
            when = entry_time(entry)  # the engine's own time when it gave one
            if when is not None:
                cp.prune(when - RECENT)
            checkpoints.write(self.path, cp)
            self._checkpoint_warned = False
        except Exception as exc:  # a cache: the entry is safe in the log; start-up rebuilds
            if not self._checkpoint_warned:
                log.warning("audit checkpoint not updated (%s): the next start reads the log", exc)
                self._checkpoint_warned = True

    def restore(self, since: datetime, cfg: Config | None = None) -> Restored:
        """The trail's state at start: the checkpoint, then only the entries written after it;
        rebuilt from the whole log when the checkpoint is missing, damaged or does not match
        (cockpit.log says why). Resolved incidents before `since` are forgotten."""
        if cfg is not None:
            self.cfg = cfg
        reason: str | None = None
        try:
            cp = checkpoints.load(self.path)
        except CheckpointError as exc:
            reason = str(exc)
            cp = Checkpoint(Position(series_files(self.path)[0][0] if self._exists() else 1, 0))
        try:
            read = checkpoints.catch_up(self.path, cp, self.cfg)
        except OSError as exc:
            log.warning("audit log %s unreadable at start: %s", self.path, exc)
            read = 0
        cp.prune(since)
        if reason is not None and self._exists():
            log.warning(
                "audit checkpoint %s not used (%s): rebuilt from the log (%d entries read)",
                checkpoints.checkpoint_path(self.path),
                reason,
                read,
            )
        self._checkpoint = cp
        if self._exists():
            try:
                checkpoints.write(self.path, cp)
            except OSError as exc:
                log.warning("audit checkpoint not written: %s", exc)
        refs = {k: list(v) for k, v in cp.refs.items()}
        return Restored(cp.book, refs, read, reason)

    def _exists(self) -> bool:
        return bool(series_files(self.path))

    def incident_entries(self, incident_id: str) -> list[dict[str, Any]]:
        """The entries about one incident (open, or resolved in the last 24 h), read where the
        checkpoint says they are: a few reads, never a scan of the log."""
        cp = self._checkpoint
        return self.entries_at(list(cp.refs.get(incident_id, ()))) if cp is not None else []

    def entries_at(self, refs: Sequence[Position]) -> list[dict[str, Any]]:
        """The entries that start at these positions (those that moved or are gone are left
        out): an incident's entries for its templates and post-mortem, without a scan."""
        out: list[dict[str, Any]] = []
        for where in refs:
            entry = read_at(self.path, where)
            if entry is not None:
                out.append(entry)
        return out

    # ------------------------------------------------------------------ interrupted actions
    def settle_interrupted(self) -> list[dict[str, Any]]:
        """Record `result: unknown (the cockpit that ran it ended)` for every intent without a
        result whose cockpit is gone; the entries written. Call after `restore()`."""
        cp = self._checkpoint
        if cp is None:
            return []
        written: list[dict[str, Any]] = []
        for pending in list(cp.book.pending.values()):
            if not session_gone(self.path, pending, self.session_id):
                continue
            entry = self.record_if(
                lambda book, key=pending.key: key in book.pending, "result", **_unknown(pending)
            )
            if entry is not None:
                written.append(entry)
            remove_stale(self.path, pending.session)
        return written


def _unknown(pending: PendingIntent) -> dict[str, Any]:
    """The fields of the result recorded for an intent whose cockpit ended."""
    keep = ("action", "target", "params", "context", "cluster", "namespace", "production")
    fields = {k: pending.fields[k] for k in keep if k in pending.fields}
    fields.update(
        outcome="unknown",
        message=UNKNOWN_ENDED,
        error="the cockpit that ran it ended before its result",
        intent_seq=pending.seq,
        intent_session=pending.session,
    )
    if pending.incident_id:
        fields["incident_id"] = pending.incident_id
    return fields


def _fsync_dir(directory: Path) -> None:
    try:
        dfd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dfd)
    except OSError:
        pass
    finally:
        os.close(dfd)


def _iter_lines(path: Path) -> Iterator[tuple[int, dict[str, Any] | None, bytes]]:
    """(line number from 1, parsed entry or None, raw bytes) for every line of one file."""
    with open(path, "rb") as fh:
        for no, raw in enumerate(fh, start=1):
            try:
                entry = json.loads(raw)
            except ValueError:
                entry = None
            yield no, entry if isinstance(entry, dict) else None, raw


def verify(path: Path | str) -> tuple[bool, int | None, str]:
    """Check the chain across the whole series. Returns (ok, first bad line number in its file
    or None, reason in operator words; the file is named when the series has several)."""
    p = Path(path).expanduser()
    if not p.exists():
        return False, None, f"{p}: no such file"
    files = series_files(p)
    several = len(files) > 1
    head = _read_head(p)
    prev, seq, count, last_no = GENESIS, 0, 0, 0
    head_hash: str | None = None
    for position, (_, file) in enumerate(files):
        name = f"{file.name} " if several else ""
        last_no = 0
        for no, entry, raw in _iter_lines(file):
            last_no = no
            where = f"{name}line {no}"
            if entry is None:
                if not raw.endswith(b"\n"):
                    return (
                        False,
                        no,
                        f"{where} is truncated (incomplete last line: a crash while writing?)",
                    )
                return False, no, f"{where} is not a JSON entry (damaged, or cut short by a crash)"
            if entry.get("hash") != entry_hash(entry):
                return False, no, f"{where} was modified (its hash does not match its content)"
            if entry.get("prev") != prev:
                if count == 0 and position == 0 and several:
                    return (
                        False,
                        no,
                        (
                            f"{where} follows an entry that is not in the series: the files "
                            f"before {file.name} are missing"
                        ),
                    )
                return (
                    False,
                    no,
                    (
                        f"{where} does not follow the previous entry (prev hash mismatch): "
                        "a line before it was deleted, inserted or reordered"
                    ),
                )
            if entry.get("seq") != seq + 1:
                return (
                    False,
                    no,
                    f"{where} has seq {entry.get('seq')}, expected {seq + 1}: an entry is missing",
                )
            if not raw.endswith(b"\n"):
                return (
                    False,
                    no,
                    f"{where} is truncated (no newline at the end: a crash while writing?)",
                )
            prev, seq = entry["hash"], entry["seq"]
            count += 1
            if head is not None and seq == head[0]:
                head_hash = prev
    in_files = f" in {len(files)} files" if several else ""
    if head is not None:
        hseq, hhash = head
        if hseq > seq:
            return (
                False,
                last_no + 1,
                (
                    f"entries {seq + 1}..{hseq} are missing after line {last_no}"
                    f"{' of ' + files[-1][1].name if several else ''} "
                    f"(the head file records seq {hseq})"
                ),
            )
        if head_hash != hhash:
            if not several:
                return False, hseq, f"line {hseq} does not match the hash recorded in the head file"
            return False, None, f"entry {hseq} does not match the hash recorded in the head file"
    elif count:
        head_path = p.with_name(p.name + ".head")
        return (
            True,
            None,
            (
                f"{count} entries{in_files}, chain intact; but the head file {head_path} is "
                "missing, so entries cut off the end would not be noticed"
            ),
        )
    return True, None, f"{count} entries{in_files}, chain intact"


def _read_head(path: Path) -> tuple[int, str] | None:
    head = path.with_name(path.name + ".head")
    try:
        data = json.loads(head.read_text(encoding="ascii"))
        return int(data["seq"]), str(data["hash"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
