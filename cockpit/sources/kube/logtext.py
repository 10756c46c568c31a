"""Pod log text: parse the API server's timestamped lines, make untrusted text safe to show, read
JSON log lines, and keep a bounded, time-ordered buffer of them.

Log text is untrusted: a line can carry escape sequences that clear the screen, move the cursor,
set the window title (OSC 0) or write the clipboard (OSC 52). `sanitize` shows every control
character escaped (`\\x1b`), so nothing a pod prints reaches the terminal as a control.
"""

from __future__ import annotations

import json
import threading
from bisect import bisect_right
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import NamedTuple

from cockpit.sources.fields import as_list, as_mapping, is_object

DISPLAY_LIMIT = 64 * 1024  # characters of one line shown; the save writes the whole line

# C0 controls (tab becomes spaces), DEL, C1 controls, and the bidi overrides that reorder text.
_ESCAPES: dict[int, str] = {c: f"\\x{c:02x}" for c in (*range(0x20), 0x7F, *range(0x80, 0xA0))}
_ESCAPES[0x09] = "    "
_ESCAPES.update({c: f"\\u{c:04x}" for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A))})


def obj(value: object) -> dict[str, object]:
    """A JSON value as an object ({} when it is not one)."""
    return dict(as_mapping(value))


def items(value: object) -> list[object]:
    """A JSON value as an array ([] when it is not one; a tuple counts as one)."""
    return as_list(value)


def text_of(value: object) -> str:
    """A JSON value as a string ("" for null and non-strings)."""
    return value if isinstance(value, str) else ""


def sanitize(text: str) -> str:
    """`text` with every control character and escape sequence shown escaped, never active."""
    return text.translate(_ESCAPES)


def human_size(n: int) -> str:
    """1234567 -> '1.2 MB'."""
    size = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{n} B"


def shown(text: str) -> str:
    """The line as the view shows it: sanitised, cut past 64 KB with its full length noted."""
    if len(text) > DISPLAY_LIMIT:
        size = human_size(len(text.encode("utf-8", "surrogatepass")))
        return sanitize(text[:DISPLAY_LIMIT]) + f" … ({size} line)"
    return sanitize(text)


_SECONDS_CACHE: dict[
    str, int
] = {}  # "2026-12-01T10:42:13+00:00" -> epoch s (a log's lines share it)


def parse_time(text: str) -> int | None:
    """RFC 3339 (nanoseconds or fewer digits, Z or an offset) -> ns since the epoch, else None."""
    value = text.strip()
    if len(value) < 20 or value[10] != "T":
        return None
    if value.endswith("Z"):
        head, offset = value[:-1], "+00:00"
    else:
        head, offset = value[:-6], value[-6:]
    main, _, frac = head.partition(".")
    if frac and not frac.isdigit():
        return None
    key = main + offset
    seconds = _SECONDS_CACHE.get(key)
    if seconds is None:
        try:
            seconds = int(datetime.fromisoformat(key).timestamp())
        except ValueError:
            return None
        if len(_SECONDS_CACHE) > 4096:
            _SECONDS_CACHE.clear()
        _SECONDS_CACHE[key] = seconds
    return seconds * 1_000_000_000 + int((frac + "000000000")[:9])


def format_time(ns: int, digits: int = 9) -> str:
    """ns -> RFC 3339 UTC with `digits` fraction digits (0: whole seconds)."""
    seconds, frac = divmod(ns, 1_000_000_000)
    base = datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{base}.{frac:09d}"[: len(base) + 1 + digits] + "Z" if digits else base + "Z"


class LogLine(NamedTuple):
    """One log line: when the container wrote it, which pod, and its text (decoded, unescaped).

    A tuple of plain values: the garbage collector stops tracking it, which matters for the
    10,000 a view holds and the thousands a second that pass through."""

    time_ns: int
    pod: str
    text: str
    seq: int = 0  # arrival order, to keep equal timestamps stable


def split_timestamp(raw: bytes) -> tuple[int | None, str]:
    """b'2026-12-01T10:42:13.123456789Z text' -> (ns, 'text'); invalid UTF-8 becomes U+FFFD."""
    head, sep, rest = raw.partition(b" ")
    stamp = parse_time(head.decode("ascii", "replace")) if sep else None
    body = rest if stamp is not None else raw
    return stamp, body.decode("utf-8", "replace")


@dataclass(frozen=True)
class JsonLine:
    """A JSON log line read as time, level, message and the other fields."""

    time: str
    level: str
    message: str
    fields: tuple[tuple[str, str], ...]


_TIME_KEYS = ("time", "ts", "timestamp", "@timestamp")
_LEVEL_KEYS = ("level", "severity", "lvl")
_MESSAGE_KEYS = ("msg", "message")


def _scalar(value: object) -> str:
    return value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))


def read_json(text: str) -> JsonLine | None:
    """The line as a JSON log object, or None when it is not one object."""
    stripped = text.strip()
    if not (stripped.startswith("{") and stripped.endswith("}")):
        return None
    try:
        doc: object = json.loads(stripped)
    except ValueError:
        return None
    if not is_object(doc):  # json.loads gives a dict for an object
        return None
    obj = dict(as_mapping(doc))

    def take(keys: tuple[str, ...]) -> str:
        for key in keys:
            if key in obj:
                return _scalar(obj.pop(key))
        return ""

    return JsonLine(
        take(_TIME_KEYS),
        take(_LEVEL_KEYS),
        take(_MESSAGE_KEYS),
        tuple((str(k), _scalar(v)) for k, v in obj.items()),
    )


class LogBuffer:
    """The view's lines, in time order, at most `capacity`; the oldest go first and are counted.

    Thread-safe: the stream threads add, the UI reads a copy. `received` = lines kept + dropped.
    """

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.lock = threading.Lock()
        self._lines: list[LogLine] = []
        self._keys: list[tuple[int, int]] = []
        self.dropped = 0
        self.received = 0
        self.version = 0
        self._seq = 0

    def add(self, pod: str, lines: list[tuple[int, str]]) -> None:
        """Add one pod's lines (time ns, text), merged into time order."""
        if not lines:
            return
        with self.lock:
            for stamp, text in lines:
                self._seq += 1
                line = LogLine(stamp, pod, text, self._seq)
                key = (stamp, self._seq)
                if not self._keys or key >= self._keys[-1]:
                    self._lines.append(line)
                    self._keys.append(key)
                else:  # another pod's stream was behind: keep the merge in time order
                    at = bisect_right(self._keys, key)
                    self._lines.insert(at, line)
                    self._keys.insert(at, key)
            self.received += len(lines)
            excess = len(self._lines) - self.capacity
            if excess > 0:
                del self._lines[:excess]
                del self._keys[:excess]
                self.dropped += excess
            self.version += 1

    def snapshot(self) -> tuple[int, list[LogLine], int, int]:
        """(version, lines, dropped, received) at one instant."""
        with self.lock:
            return self.version, list(self._lines), self.dropped, self.received

    def clear(self) -> None:
        """Forget every line and count (a new stream: other container, since, previous)."""
        with self.lock:
            self._lines.clear()
            self._keys.clear()
            self.dropped = self.received = 0
            self.version += 1
