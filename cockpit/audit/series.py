"""The audit trail as a series of files: `audit.jsonl.000001`, `audit.jsonl.000002`, ... (rotated,
oldest first) then `audit.jsonl` (the one being written).

Every file of the series has a number: a rotated file its suffix, the current file the number it
will get when it is rotated (one more than the newest rotated file). A `Position` (file number,
byte offset) names a point in the series; the checkpoint and the incident entry references use it.
The chain runs across files: the first entry of a file follows the last entry of the file before.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

ROTATED_DIGITS = 6


@dataclass(frozen=True, order=True)
class Position:
    """A point in the series: the file's number and a byte offset in it."""

    number: int
    offset: int


@dataclass(frozen=True)
class Line:
    """One line of the series: where it starts and ends, its entry (None when damaged), bytes."""

    number: int
    start: int
    end: int
    entry: dict[str, Any] | None
    raw: bytes


def rotated_name(path: Path, number: int) -> Path:
    """The name a file of the series gets when it is rotated."""
    return path.with_name(f"{path.name}.{number:0{ROTATED_DIGITS}d}")


def rotated_files(path: Path) -> list[tuple[int, Path]]:
    """The rotated files of a log, oldest first."""
    pattern = re.compile(re.escape(path.name) + r"\.(\d{" + str(ROTATED_DIGITS) + r",})$")
    try:
        names = os.listdir(path.parent)
    except OSError:
        return []
    found = [(int(m.group(1)), path.with_name(n)) for n in names if (m := pattern.match(n))]
    return sorted(found)


def current_number(path: Path) -> int:
    """The number of the file being written (the next rotated file's number)."""
    rotated = rotated_files(path)
    return rotated[-1][0] + 1 if rotated else 1


def series_files(path: Path) -> list[tuple[int, Path]]:
    """Every file of the series that exists, oldest first (the current file last)."""
    files = rotated_files(path)
    if path.exists():
        files.append((files[-1][0] + 1 if files else 1, path))
    return files


def file_of(path: Path, number: int) -> Path | None:
    """The file with that number in the series (the current one included), or None."""
    return next((p for n, p in series_files(path) if n == number), None)


def parse_line(raw: bytes) -> dict[str, Any] | None:
    """The entry on one line, or None when the line is not a JSON object."""
    try:
        entry = json.loads(raw)
    except ValueError:
        return None
    return cast("dict[str, Any]", entry) if isinstance(entry, dict) else None


def iter_lines(path: Path, start: Position | None = None) -> Iterator[Line]:
    """Every line of the series from `start` (the beginning when None), in order."""
    for number, file in series_files(path):
        if start is not None and number < start.number:
            continue
        offset = start.offset if start is not None and number == start.number else 0
        yield from _lines_of(file, number, offset)


def _lines_of(file: Path, number: int, offset: int) -> Iterator[Line]:
    try:
        with open(file, "rb") as fh:
            fh.seek(offset)
            for raw in fh:
                end = offset + len(raw)
                yield Line(number, offset, end, parse_line(raw), raw)
                offset = end
    except OSError:
        return  # rotated away or unreadable between listing and reading: what was read stands


def read_entries(path: Path | str) -> list[dict[str, Any]]:
    """Every parseable entry of the series, in order (damaged lines are skipped: `verify`
    reports them)."""
    p = Path(path).expanduser()
    return [line.entry for line in iter_lines(p) if line.entry is not None]


def last_line(fd: int, end: int | None = None) -> bytes:
    """The last line of an open file before byte `end` (the file's end when None), without its
    newline, read backwards in chunks."""
    end = os.lseek(fd, 0, os.SEEK_END) if end is None else end
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


def line_ending_at(file: Path, offset: int) -> dict[str, Any] | None:
    """The entry of the line that ends exactly at `offset` (newline included), or None."""
    try:
        fd = os.open(file, os.O_RDONLY)
    except OSError:
        return None
    try:
        if offset <= 0 or os.fstat(fd).st_size < offset or os.pread(fd, 1, offset - 1) != b"\n":
            return None
        return parse_line(last_line(fd, offset))
    finally:
        os.close(fd)


def read_at(path: Path, where: Position) -> dict[str, Any] | None:
    """The entry of the line starting at `where`, or None (moved, damaged, gone)."""
    file = file_of(path, where.number)
    if file is None:
        return None
    try:
        with open(file, "rb") as fh:
            fh.seek(where.offset)
            return parse_line(fh.readline())
    except OSError:
        return None
