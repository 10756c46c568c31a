"""The audit trail: append-only, hash-chained JSON lines, one per event, fsynced, secrets masked.

Each entry carries `seq`, `time` (UTC), `event`, `operator`, `session`, the caller's fields,
`prev` (the previous entry's hash) and `hash` = sha256 of the entry's canonical JSON without
`hash`. Editing, deleting or reordering a line breaks the chain at that line; `verify` names it.
A sidecar `<log>.head` remembers the last seq/hash, so cutting entries off the end is seen too.

Several cockpits on one host may share a file: reading the last hash and appending happen under
an exclusive `fcntl.flock`. JSON escapes every control character (and ensure_ascii the Unicode
line separators), so untrusted text (a query, a pod name) can never start a line of its own.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, cast

from cockpit.audit.operator import operator_for_entry
from cockpit.config import mask_dsn
from cockpit.models import to_jsonable, utcnow

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


def _last_line(fd: int) -> bytes:
    """The last line of an open file (without its newline), read backwards in chunks."""
    end = os.lseek(fd, 0, os.SEEK_END)
    if end and os.pread(fd, 1, end - 1) == b"\n":
        end -= 1
    buf, pos = b"", end
    while pos > 0:
        step = min(8192, pos)
        pos -= step
        buf = os.pread(fd, step, pos) + buf
        nl = buf.rfind(b"\n")
        if nl >= 0:
            return buf[nl + 1 :]
    return buf


class AuditLog:
    """One audit trail file. `record()` appends an entry and returns it; raises AuditError."""

    def __init__(self, path: Path | str, session_id: str | None = None) -> None:
        self.path = Path(path).expanduser()
        self.head_path = self.path.with_name(self.path.name + ".head")
        self.session_id = session_id or uuid.uuid4().hex[:12]
        # told of every entry once it is on disk (the team store's upload): never before the
        # fsync, and a failing observer never fails the append
        self.observers: list[Callable[[dict[str, Any]], None]] = []

    def record(self, event: str, **fields: Any) -> dict[str, Any]:
        """Append one entry (flush + fsync, under an exclusive lock) and return it."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
        except OSError as exc:
            raise AuditError(f"cannot open audit log {self.path}: {exc.strerror or exc}") from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            prev, seq, damaged = self._tail(fd)
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
            # a crash may have left a partial last line: never glue our entry onto it
            data = (b"\n" if damaged else b"") + line.encode("ascii")
            written = os.write(fd, data)
            if written != len(data):
                raise OSError(28, "short write (disk full?)")
            os.fsync(fd)
            self._write_head(entry)
        except OSError as exc:
            raise AuditError(f"cannot write audit log {self.path}: {exc.strerror or exc}") from exc
        finally:
            os.close(fd)  # closing releases the lock
        for observer in list(self.observers):
            try:
                observer(entry)
            except Exception:  # the entry is written; an observer's trouble is its own
                continue
        return entry

    def _tail(self, fd: int) -> tuple[str, int, bool]:
        """(hash of the last entry, its seq, whether the file ends in a partial line)."""
        size = os.lseek(fd, 0, os.SEEK_END)
        if size == 0:
            return GENESIS, 0, False
        damaged = os.pread(fd, 1, size - 1) != b"\n"
        last = _last_line(fd)
        try:
            entry = json.loads(last)
            return str(entry["hash"]), int(entry["seq"]), damaged
        except (ValueError, KeyError, TypeError):
            # the last line is damaged: chain from the last good entry; verify reports the damage
            good = [e for _, e, _ in _iter_lines(self.path) if e is not None]
            if good:
                return str(good[-1].get("hash", GENESIS)), int(good[-1].get("seq", 0)), damaged
            return GENESIS, 0, damaged

    def _write_head(self, entry: dict[str, Any]) -> None:
        """Remember the newest seq/hash next to the log (atomic replace), to catch a cut tail."""
        tmp = self.head_path.with_name(self.head_path.name + f".{os.getpid()}.tmp")
        with open(tmp, "w", encoding="ascii") as fh:
            json.dump({"seq": entry["seq"], "hash": entry["hash"]}, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.head_path)


def _iter_lines(path: Path) -> Iterator[tuple[int, dict[str, Any] | None, bytes]]:
    """(line number from 1, parsed entry or None, raw bytes) for every line of the log."""
    with open(path, "rb") as fh:
        for no, raw in enumerate(fh, start=1):
            try:
                entry = json.loads(raw)
            except ValueError:
                entry = None
            yield no, entry if isinstance(entry, dict) else None, raw


def read_entries(path: Path | str) -> list[dict[str, Any]]:
    """Every parseable entry, in file order (damaged lines are skipped: `verify` reports them)."""
    p = Path(path).expanduser()
    if not p.exists():
        return []
    return [e for _, e, _ in _iter_lines(p) if e is not None]


def verify(path: Path | str) -> tuple[bool, int | None, str]:
    """Check the chain. Returns (ok, first bad line number or None, reason in operator words)."""
    p = Path(path).expanduser()
    if not p.exists():
        return False, None, f"{p}: no such file"
    prev, seq, count = GENESIS, 0, 0
    hashes: dict[int, str] = {}
    for no, entry, raw in _iter_lines(p):
        count = no
        if entry is None:
            if not raw.endswith(b"\n"):
                return (
                    False,
                    no,
                    f"line {no} is truncated (incomplete last line: a crash while writing?)",
                )
            return False, no, f"line {no} is not a JSON entry (damaged, or cut short by a crash)"
        if entry.get("hash") != entry_hash(entry):
            return False, no, f"line {no} was modified (its hash does not match its content)"
        if entry.get("prev") != prev:
            return (
                False,
                no,
                (
                    f"line {no} does not follow the previous entry (prev hash mismatch): "
                    "a line before it was deleted, inserted or reordered"
                ),
            )
        if entry.get("seq") != seq + 1:
            return (
                False,
                no,
                f"line {no} has seq {entry.get('seq')}, expected {seq + 1}: an entry is missing",
            )
        if not raw.endswith(b"\n"):
            return (
                False,
                no,
                f"line {no} is truncated (no newline at the end: a crash while writing?)",
            )
        prev, seq = entry["hash"], entry["seq"]
        hashes[seq] = prev
    head = _read_head(p)
    if head is not None:
        hseq, hhash = head
        if hseq > seq:
            return (
                False,
                count + 1,
                (
                    f"entries {seq + 1}..{hseq} are missing after line {count} "
                    f"(the head file records seq {hseq})"
                ),
            )
        if hashes.get(hseq) != hhash:
            return False, hseq, f"line {hseq} does not match the hash recorded in the head file"
    elif count:
        head_path = p.with_name(p.name + ".head")
        return (
            True,
            None,
            (
                f"{count} entries, chain intact; but the head file {head_path} is "
                "missing, so entries cut off the end would not be noticed"
            ),
        )
    return True, None, f"{count} entries, chain intact"


def _read_head(path: Path) -> tuple[int, str] | None:
    head = path.with_name(path.name + ".head")
    try:
        data = json.loads(head.read_text(encoding="ascii"))
        return int(data["seq"]), str(data["hash"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
