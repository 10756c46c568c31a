"""Formatting shared by the panes: cells that sort by value, sizes, bars and sparklines (durations
come from cockpit.durations).

Pure functions over plain values, so panes stay small and the wording is the same everywhere.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from rich.cells import cell_len
from rich.text import Text

from cockpit.durations import duration
from cockpit.state import SourceView, Trend

SPARK = "▁▂▃▄▅▆▇█"
MISSING_TEXT = ("", "-")  # what a cell shows for an unknown value (`number(None)`, a duration)

#: what a cell sorts by: a number, a tuple of numbers (bools count: running before idle), or a
#: text other than the one shown (a name cut in the middle sorts by the whole name)
SortValue = float | tuple[float, ...] | str
#: (missing, numbers, text): one type for every cell, so any two rows of a column compare
SortKey = tuple[bool, tuple[float, ...], str]


@dataclass(frozen=True)
class Cell:
    """A table cell: the text shown, the value it sorts by, and an optional style class."""

    text: str
    sort: SortValue | None = None
    style: str = ""

    def __rich__(self) -> Text:
        # `or ""`: a None that slipped through from backend data shows as blank, not a crash
        return Text(self.text or "", style=self.style, no_wrap=True, overflow="ellipsis")

    def sort_key(self) -> SortKey:
        """(missing, numbers, text), the same shape for every cell of every column.

        A cell with a sort value sorts by it; one without sorts by its text. A value that is
        unknown (no sort value and a text of '' or '-', or a NaN) is missing: `sort_rows` puts
        missing rows last whatever the direction. Sort values of one column are all numbers
        or all tuples of numbers (each pane builds them one way), and even a mix would compare.
        """
        if isinstance(self.sort, str):
            return (True, (), "") if self.sort in MISSING_TEXT else (False, (), self.sort)
        numbers = _numbers(self.sort)
        if numbers is None:
            text = self.text if isinstance(self.text, str) else ""
            return (True, (), "") if text in MISSING_TEXT else (False, (), text)
        return (False, numbers, "") if all(v == v for v in numbers) else (True, (), "")

    def __str__(self) -> str:
        return self.text


def _numbers(value: object) -> tuple[float, ...] | None:
    """A sort value as a tuple of floats; None when there is none (or it is not a number)."""
    if isinstance(value, bool | int | float):
        return (float(value),)
    if isinstance(value, tuple):
        items: tuple[object, ...] = value
        if all(isinstance(v, bool | int | float) for v in items):
            return tuple(float(v) for v in items if isinstance(v, bool | int | float))
    return None


def utc_time(t: datetime | None) -> str:
    """'2026-11-27 10:42:13 UTC' for the detail views, '-' when unknown."""
    return t.strftime("%Y-%m-%d %H:%M:%S UTC") if t else "-"


def size(n: int | float | None) -> str:
    """Bytes for humans: '512B', '1.5M', '2.0G'."""
    if n is None:
        return "-"
    value = float(n)
    for unit in ("B", "K", "M", "G", "T"):
        if abs(value) < 1024 or unit == "T":
            return f"{value:.0f}{unit}" if unit == "B" else f"{value:.1f}{unit}"
        value /= 1024
    return f"{value:.1f}T"


def number(v: float | None, fmt: str = "{:.1f}", missing: str = "-") -> str:
    """A number with a format, or a dash when unknown."""
    return missing if v is None else fmt.format(v)


def bar(fraction: float, width: int = 20) -> str:
    """A text usage bar that reads without colour: '███████░░░░░░'."""
    fraction = min(max(fraction, 0.0), 1.0)
    filled = round(fraction * width)
    return "█" * filled + "░" * (width - filled)


def spark(values: list[float], width: int = 16) -> str:
    """A one-line sparkline of the last `width` values, scaled to their own range."""
    points = values[-width:]
    if not points:
        return ""
    low, high = min(points), max(points)
    span = high - low
    if span <= 0:
        return SPARK[0 if high == 0 else 3] * len(points)
    return "".join(
        SPARK[min(int((v - low) / span * (len(SPARK) - 1) + 0.5), len(SPARK) - 1)] for v in points
    )


Pick = Callable[[list[float]], float]  # max (a spike shows) or min (a dip shows)


def buckets(values: list[float], width: int, pick: Pick = max) -> list[float]:
    """`values` (a whole trend window, oldest first) in at most `width` points, each the
    `pick` (max: a spike; min: a dip) of its share of samples, so the sparkline spans the whole
    window instead of its last `width` samples, and a short spike 8 minutes ago still shows.

    A `Trend` (the state's, with times) is cut by time instead: bar i holds the samples of the
    i-th span of window/width seconds (counted from the epoch), so a new sample changes only
    the last bar, and the line moves one bar per span (30 s for 15 min in 30 bars) rather than
    one per refresh."""
    if isinstance(values, Trend) and values.window_seconds > 0 and len(values.times) == len(values):
        return _timed_buckets(values, width, pick)
    if len(values) <= width:
        return list(values)
    out: list[float] = []
    for i in range(width):
        lo, hi = i * len(values) // width, (i + 1) * len(values) // width
        out.append(pick(values[lo : max(hi, lo + 1)]))
    return out


def _timed_buckets(values: Trend, width: int, pick: Pick) -> list[float]:
    span = values.window_seconds / max(width, 1)
    groups: list[list[float]] = []
    last: int | None = None
    for at, value in zip(values.times, values, strict=True):
        bar = int(at // span)
        if bar != last:
            groups.append([])
            last = bar
        groups[-1].append(value)
    return [pick(group) for group in groups[-width:]]


def trend_line(values: list[float], width: int, pick: Pick = max, fmt: str = "{:.0f}") -> str:
    """A sparkline of a whole trend window, with the peak named when the current value is far
    below it ('▁▁█▂▁  peak 48'): the scale alone hides how high it went."""
    if not values:
        return ""
    line = spark(buckets(values, width, pick), width)
    peak, now = (max(values), values[-1]) if pick is max else (min(values), values[-1])
    far = (now <= peak / 2) if pick is max else (now >= peak * 2 if peak > 0 else False)
    if pick is max and far and peak > 0:
        line += f"  peak {fmt.format(peak)}"
    elif pick is min and far:
        line += f"  low {fmt.format(peak)}"
    return line


def samples(values: list[float]) -> list[float]:
    """A trend with runs of one repeated value collapsed: one point per sample of a value that
    is measured more slowly than it is recorded (pod CPU: metrics.k8s.io every 10 s, the trend
    every refresh). Its sparkline then changes only when the measurement does."""
    return [v for i, v in enumerate(values) if i == 0 or v != values[i - 1]]


def status_line(view: SourceView | None, now: datetime, configured: bool) -> tuple[str, str]:
    """What a pane says about its data, and a style class: 'ok', 'stale', 'waiting', 'off'.

    Always one of: 'updated 3s ago', 'stale since 10:42:13 — connect: connection refused'
    (the last good data stays on screen), 'not configured', or 'waiting for first data'.
    """
    if not configured:
        return "not configured", "off"
    if view is None or (view.snapshot is None and view.failure is None):
        return "waiting for first data", "waiting"
    if view.failure is not None:
        since = view.failure.first_seen.astimezone(now.tzinfo).strftime("%H:%M:%S")
        kept = "" if view.snapshot is not None else " (no data yet)"
        return f"stale since {since} — {view.failure.describe()}{kept}", "stale"
    if view.updated_at is None:
        return "updated", "ok"
    return f"updated {duration((now - view.updated_at).total_seconds(), coarse=True)} ago", "ok"


def short(text: str, width: int) -> str:
    """One line of at most `width` characters (whitespace collapsed, ellipsis when cut)."""
    line = " ".join(text.split())
    return line if len(line) <= width else line[: max(width - 1, 0)] + "…"


def middle(text: str, width: int) -> str:
    """`text` cut in the middle to `width` cells, head and tail kept: a 253-character pod name
    reads 'predictiq-api-xxxx…-ünïcode' (both ends tell pods apart: deployment and hash)."""
    if cell_len(text) <= width:
        return text
    if width <= 1:
        return "…"[:width]
    tail_width = (width - 1) // 2
    head_width = width - 1 - tail_width
    head, tail = "", ""
    for char in text:
        if cell_len(head + char) > head_width:
            break
        head += char
    for char in reversed(text):
        if cell_len(char + tail) > tail_width:
            break
        tail = char + tail
    return f"{head}…{tail}"


def summary_status(status: str) -> str:
    """The status line as the one-line summary starts with it: 'updated 3s ago' -> '3s ago'
    (the rest of the line is the numbers; the age must fit first)."""
    return status.removeprefix("updated ")
