"""Formatting shared by the panes: cells that sort by value, sizes, bars and sparklines (durations
come from cockpit.durations).

Pure functions over plain values, so panes stay small and the wording is the same everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from rich.text import Text

from cockpit.durations import duration
from cockpit.state import SourceView

SPARK = "▁▂▃▄▅▆▇█"


@dataclass(frozen=True)
class Cell:
    """A table cell: the text shown, the value it sorts by, and an optional style class."""

    text: str
    sort: Any = None
    style: str = ""

    def __rich__(self) -> Text:
        return Text(self.text, style=self.style, no_wrap=True, overflow="ellipsis")

    def sort_key(self) -> tuple[int, Any]:
        """Missing values sort last whatever the direction of the other values."""
        value = self.text if self.sort is None else self.sort
        return (0, value) if value not in (None, "") else (1, "")

    def __str__(self) -> str:
        return self.text


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
    return "".join(SPARK[min(int((v - low) / span * (len(SPARK) - 1) + 0.5), len(SPARK) - 1)]
                   for v in points)


def buckets(values: list[float], width: int, pick: Any = max) -> list[float]:
    """`values` (a whole trend window, oldest first) in at most `width` points, each the
    `pick` (max: a spike; min: a dip) of its share of samples, so the sparkline spans the whole
    window instead of its last `width` samples, and a short spike 8 minutes ago still shows."""
    if len(values) <= width:
        return list(values)
    out: list[float] = []
    for i in range(width):
        lo, hi = i * len(values) // width, (i + 1) * len(values) // width
        out.append(pick(values[lo:max(hi, lo + 1)]))
    return out


def trend_line(values: list[float], width: int, pick: Any = max, fmt: str = "{:.0f}") -> str:
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


def summary_status(status: str) -> str:
    """The status line as the one-line summary starts with it: 'updated 3s ago' -> '3s ago'
    (the rest of the line is the numbers; the age must fit first)."""
    return status.removeprefix("updated ")
