"""`cockpit audit verify|tail|export`: read and check the audit trail from a shell, headless.

Exit codes: 0 ok; 1 the chain is broken (verify) or nothing matched an export filter that
names one incident/checklist run; 2 bad input (unknown path, bad --since).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, BinaryIO, TextIO, cast

from cockpit.audit.log import read_entries, verify
from cockpit.audit.series import series_files
from cockpit.config import ConfigError, audit_path, default_state_dir, find_config_path, load_config

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)\s*([smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def resolve_path(args: argparse.Namespace) -> Path:
    """The log to read: an explicit path, else the configured one, else the XDG default."""
    explicit = getattr(args, "path", None)
    if explicit:
        return Path(explicit).expanduser()
    cfg_path = find_config_path(getattr(args, "config", None))
    if cfg_path.exists() or getattr(args, "config", None):
        return audit_path(load_config(cfg_path))
    return default_state_dir() / "audit.jsonl"


def parse_since(text: str, now: datetime | None = None) -> datetime:
    """'2h', '30m', '7d' (ago) or an ISO time (naive means UTC)."""
    now = now or datetime.now(UTC)
    m = _DURATION.match(text.strip())
    if m:
        return now - timedelta(**{_UNITS[m.group(2)]: float(m.group(1))})
    try:
        when = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"--since: expected an ISO time or a duration like 2h, 30m, 7d; got {text!r}"
        ) from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _time(entry: dict[str, Any]) -> datetime | None:
    try:
        return datetime.fromisoformat(str(entry.get("time", "")).replace("Z", "+00:00"))
    except ValueError:
        return None


LIST_HEAD = 2  # items of a long list that `tail` shows before "… (+N)"
LONG_LIST = 4  # lists longer than this are summarised unless --full


def _noun(key: str) -> str:
    return {"pids": "connections"}.get(key, key)


def summarise_params(params: dict[str, Any], full: bool = False) -> str:
    """Params for one `tail` line: a kill of 46 connections is '46 connections: 21667, 21668, …
    (+44)', not a 4 KB line; `full` prints every item."""
    parts: list[str] = []
    for key in sorted(params):
        value: object = params[key]
        items = [str(v) for v in cast(list[object], value)] if isinstance(value, list) else []
        if len(items) > LONG_LIST and not full:
            shown = ", ".join(items[:LIST_HEAD])
            parts.append(f"{len(items)} {_noun(key)}: {shown}, … (+{len(items) - LIST_HEAD})")
        else:
            parts.append(f"{key}={json.dumps(value, separators=(',', ':'), sort_keys=True)}")
    return " ".join(parts)


def one_line(entry: dict[str, Any], full: bool = False) -> str:
    """A human line for `tail`: seq, time, event, who, what, outcome (long lists summarised
    unless `full`)."""
    op: dict[str, Any] = entry.get("operator") or {}
    who = f"{op.get('login') or op.get('uid', '?')}@{op.get('host', '?')}"
    what = " ".join(str(entry[k]) for k in ("action", "target", "incident_id") if entry.get(k))
    params = entry.get("params")
    if isinstance(params, dict) and params:
        what += " " + summarise_params(params, full)  # type: ignore[arg-type]  # a JSON object
    tail = entry.get("outcome") or ""
    if entry.get("error"):
        tail = f"{tail} error: {entry['error']}".strip()
    return (
        f"#{entry.get('seq')} {entry.get('time')} {entry.get('event'):<10} {who} {what} {tail}"
    ).rstrip()


LOCAL_ONLY = (
    "note: this checks the local files only; a full rewrite (every hash and the head file "
    "recomputed) is not detectable locally: that needs a copy held elsewhere (a team store)"
)


def cmd_verify(args: argparse.Namespace, out: TextIO) -> int:
    """Exit 0 when the chain is intact, 1 naming the first bad line."""
    path = resolve_path(args)
    if not path.exists():
        print(f"cockpit: error: {path}: no such audit log", file=sys.stderr)
        return 2
    ok, line, reason = verify(path)
    if ok:
        print(f"{path}: OK, {reason}", file=out)
        print(LOCAL_ONLY, file=out)
        return 0
    where = f"line {line}: " if line else ""
    print(f"{path}: BROKEN at {where}{reason}", file=out)
    return 1


def _last_entries(path: Path, n: int) -> tuple[list[dict[str, Any]], int]:
    """The last n entries of the series (complete lines only), and the offset in the current
    file right after what was read."""
    files = series_files(path)
    entries: list[dict[str, Any]] = []
    offset = 0
    for index, (_, file) in enumerate(reversed(files)):
        try:
            data = file.read_bytes()
        except OSError:
            continue
        end = data.rfind(b"\n") + 1  # complete lines only; a partial one is read again later
        if index == 0:
            offset = end
        older: list[dict[str, Any]] = []
        for raw in data[:end].splitlines():
            try:
                older.append(json.loads(raw))
            except ValueError:
                continue  # damaged lines are `verify`'s business
        entries = older + entries
        if len(entries) >= n:
            break
    return entries[-n:] if n > 0 else [], offset


def cmd_tail(args: argparse.Namespace, out: TextIO) -> int:
    """Print the last N entries (across rotated files); with --follow, keep printing new ones
    until interrupted, following the log into the next file when it rotates."""
    path = resolve_path(args)
    # Read once and follow from exactly what was read: an entry appended meanwhile is not lost.
    entries, offset = _last_entries(path, max(args.n, 0))
    full = bool(getattr(args, "full", False))
    for entry in entries:
        print(one_line(entry, full), file=out)
    out.flush()
    if not args.follow:
        return 0
    followed: list[BinaryIO] = []  # the file followed (the log's name moves on: rotation)
    try:
        _follow(path, offset, full, out, followed)
    finally:
        for fh in followed:
            fh.close()
    return 0


def _follow(path: Path, offset: int, full: bool, out: TextIO, held: list[BinaryIO]) -> None:
    pending = b""
    followed: BinaryIO | None = None
    while True:  # ended by Ctrl-C (the CLI returns 130)
        if followed is None:
            try:
                followed = open(path, "rb")
            except OSError:
                time.sleep(0.5)
                continue
            held[:] = [followed]
            followed.seek(offset)
        chunk = followed.read()
        pending += chunk
        *complete, pending = pending.split(b"\n")
        for raw in complete:
            try:
                print(one_line(json.loads(raw), full), file=out)
            except ValueError:
                print(f"(unreadable line: {raw[:80]!r})", file=out)
        out.flush()
        if chunk:
            continue
        try:
            moved = os.stat(path).st_ino != os.fstat(followed.fileno()).st_ino
        except OSError:
            moved = False
        if moved:  # rotated: what was left in the old file is read; the new one from its start
            followed.close()
            held.clear()
            followed, offset, pending = None, 0, b""
            continue
        time.sleep(0.5)  # polling a file: no inotify dependency, and half a second is plenty


def select(entries: list[dict[str, Any]], args: argparse.Namespace) -> list[dict[str, Any]]:
    """Apply --since, --incident and --checklist."""
    if args.since:
        since = parse_since(args.since)
        entries = [e for e in entries if (t := _time(e)) is not None and t >= since]
    if args.incident:
        entries = [e for e in entries if str(e.get("incident_id", "")) == args.incident]
    if args.checklist:
        runs = [e for e in entries if e.get("event") == "checklist.run"]
        wanted = args.checklist
        if wanted == "last" and runs:
            wanted = str(_run_id(runs[-1]))
        entries = [e for e in runs if str(_run_id(e)) == wanted]
    return entries


def _run_id(entry: dict[str, Any]) -> Any:
    return entry.get("run_id", entry.get("run", entry.get("seq")))


def _cell(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    return str(text).replace("|", "\\|").replace("\n", " ")


def timeline_markdown(title: str, entries: list[dict[str, Any]]) -> str:
    """A plain Markdown timeline: one row per entry."""
    rows = [
        f"# {title}",
        "",
        "| time (UTC) | event | operator | action | target | outcome |",
        "|---|---|---|---|---|---|",
    ]
    for e in entries:
        op: dict[str, Any] = e.get("operator") or {}
        outcome = e.get("outcome") or e.get("status") or e.get("note") or ""
        if e.get("error"):
            outcome = f"{outcome} ({e['error']})".strip()
        rows.append(
            "| "
            + " | ".join(
                _cell(v)
                for v in (
                    e.get("time", ""),
                    e.get("event", ""),
                    op.get("login") or op.get("uid", ""),
                    e.get("action", ""),
                    e.get("target", ""),
                    outcome,
                )
            )
            + " |"
        )
    return "\n".join(rows) + "\n"


def render_markdown(entries: list[dict[str, Any]], args: argparse.Namespace) -> str:
    """A post-mortem skeleton for --incident, the checklist runs for --checklist, a timeline
    otherwise."""
    if args.incident:
        from cockpit.incidents.postmortem import render_postmortem

        return str(render_postmortem(args.incident, entries))
    if args.checklist:
        from cockpit.checklists.checklists import render_checklist_markdown

        return "\n".join(render_checklist_markdown(e) for e in entries)
    return timeline_markdown("Audit trail", entries)


def cmd_export(args: argparse.Namespace, out: TextIO) -> int:
    """Export the selected entries as JSON or Markdown, to stdout or -o FILE."""
    path = resolve_path(args)
    try:
        entries = select(read_entries(path), args)
    except ValueError as exc:
        print(f"cockpit: error: {exc}", file=sys.stderr)
        return 2
    if (args.incident or args.checklist) and not entries:
        # one error line and no skeleton: a post-mortem of nothing reads like a real one
        what = f"incident {args.incident}" if args.incident else f"checklist run {args.checklist}"
        print(f"cockpit: error: no audit entries for {what} in {path}", file=sys.stderr)
        return 1
    if args.format == "markdown":
        text = render_markdown(entries, args)
    else:
        text = json.dumps(entries, indent=2, sort_keys=False) + "\n"
    if args.output:
        Path(args.output).expanduser().write_text(text, encoding="utf-8")
    else:
        out.write(text)
    return 0


def main(args: argparse.Namespace) -> int:
    """Dispatch `cockpit audit <verify|tail|export>`."""
    commands = {"verify": cmd_verify, "tail": cmd_tail, "export": cmd_export}
    try:
        return commands[args.audit_command](args, sys.stdout)
    except ConfigError as exc:
        print(f"cockpit: error: {exc}", file=sys.stderr)
        return 2
