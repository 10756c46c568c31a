"""How the log view draws lines: the pod prefix, the time, JSON as `time level message key=value`,
search highlights, and which rows show when non-matching lines are hidden (with context).

Every piece of log text goes through `sanitize`/`shown` before it becomes a Rich Text, so no
escape sequence a pod prints reaches the terminal.
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass

from rich.text import Text

from cockpit.sources.kube.logtext import LogLine, read_json, sanitize, shown

CONTEXT_LINES = 2
POD_COLOURS = (
    "cyan",
    "magenta",
    "green",
    "yellow",
    "bright_blue",
    "bright_red",
    "bright_cyan",
    "bright_magenta",
    "bright_green",
    "orange1",
)
LEVEL_STYLES = {
    "error": "bold red",
    "fatal": "bold red",
    "panic": "bold red",
    "critical": "bold red",
    "warn": "yellow",
    "warning": "yellow",
    "info": "green",
    "debug": "dim",
    "trace": "dim",
}
MATCH_STYLE = "black on yellow"


@dataclass(frozen=True)
class RenderOptions:
    """The view's toggles that change how a line looks."""

    prefix: bool = False  # merged view: the short pod name first
    timestamps: bool = False
    raw_json: bool = False


def short_pod(pod: str) -> str:
    """'predictiq-api-7d9f8c-x2k9q' -> 'x2k9q' (the part that tells replicas apart)."""
    return pod.rsplit("-", 1)[-1] if "-" in pod else pod


def pod_colour(pod: str) -> str:
    """A stable colour per pod name."""
    return POD_COLOURS[zlib.crc32(pod.encode()) % len(POD_COLOURS)]


def compile_search(pattern: str) -> re.Pattern[str] | None:
    """A regex, or the plain text when it is not a valid one; case-insensitive unless the pattern
    has a capital letter (smart case). None for an empty pattern."""
    if not pattern:
        return None
    flags = 0 if any(c.isupper() for c in pattern) else re.IGNORECASE
    try:
        return re.compile(pattern, flags)
    except re.error:
        return re.compile(re.escape(pattern), flags)


def _stamp(line: LogLine) -> str:
    """'10:42:13.123' (UTC), by integer arithmetic: strftime was most of a search's cost when
    the timestamps are toggled over a full buffer."""
    ms = line.time_ns // 1_000_000
    seconds, ms = divmod(ms, 1000)
    minutes, second = divmod(seconds % 86_400, 60)
    hour, minute = divmod(minutes, 60)
    return f"{hour:02d}:{minute:02d}:{second:02d}.{ms:03d}"


def head_plain(line: LogLine, options: RenderOptions) -> str:
    """The plain text `line_text` puts before the line's own text: pod prefix, time."""
    head = f"{short_pod(line.pod)} " if options.prefix else ""
    return (head + f"{_stamp(line)} ") if options.timestamps else head


def body_plain(line: LogLine, raw_json: bool) -> str:
    """The plain text of the line itself as `line_text` shows it (JSON read unless `raw_json`):
    `head_plain + body_plain` is `line_text(...).plain`, without building a Rich Text, so a
    search over the whole buffer stays cheap when the timestamps are toggled."""
    parsed = None if raw_json else read_json(line.text)
    if parsed is None:
        return shown(line.text)
    parts: list[str] = []
    if parsed.time:
        parts.append(sanitize(parsed.time) + " ")
    if parsed.level:
        parts.append(sanitize(parsed.level.upper()) + " ")
    parts.append(shown(parsed.message))
    for key, value in parsed.fields:
        parts.append(f" {sanitize(key)}=")
        parts.append(shown(value))
    return "".join(parts)


def line_text(line: LogLine, options: RenderOptions) -> Text:
    """One line as shown (sanitised), without highlights."""
    out = Text(no_wrap=False)
    if options.prefix:
        out.append(f"{short_pod(line.pod)} ", style=pod_colour(line.pod))
    if options.timestamps:
        out.append(f"{_stamp(line)} ", style="dim")
    parsed = None if options.raw_json else read_json(line.text)
    if parsed is None:
        out.append(shown(line.text))
        return out
    if parsed.time:
        out.append(sanitize(parsed.time) + " ", style="dim")
    if parsed.level:
        out.append(
            sanitize(parsed.level.upper()) + " ",
            style=LEVEL_STYLES.get(parsed.level.lower(), "bold"),
        )
    out.append(shown(parsed.message))
    for key, value in parsed.fields:
        out.append(f" {sanitize(key)}=", style="dim")
        out.append(shown(value))
    return out


def matches(
    lines: list[LogLine], search: re.Pattern[str] | None, options: RenderOptions
) -> list[int]:
    """Indices of the lines whose shown text matches."""
    if search is None:
        return []
    return [i for i, ln in enumerate(lines) if search.search(line_text(ln, options).plain)]


def visible_rows(count: int, matched: list[int], hide: bool) -> list[int | None]:
    """Line indices to show; with `hide`, only matches and CONTEXT_LINES around each, and None
    (a `--` separator, as grep) between groups that are not adjacent."""
    if not hide:
        return list(range(count))
    keep: set[int] = set()
    for i in matched:
        keep.update(range(max(i - CONTEXT_LINES, 0), min(i + CONTEXT_LINES + 1, count)))
    rows: list[int | None] = []
    previous = -1
    for i in sorted(keep):
        if rows and i != previous + 1:
            rows.append(None)
        rows.append(i)
        previous = i
    return rows


def highlighted(text: Text, search: re.Pattern[str] | None) -> Text:
    """The text with every match of the search highlighted."""
    if search is not None:
        text.highlight_regex(search, MATCH_STYLE)
    return text


__all__ = [
    "RenderOptions",
    "body_plain",
    "compile_search",
    "head_plain",
    "line_text",
    "matches",
    "visible_rows",
]
