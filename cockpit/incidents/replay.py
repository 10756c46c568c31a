"""Incident state from audit entries: the one place the trail is turned back into incidents.

The engine restores itself at start with it (checkpoint state, then the entries written after
the checkpoint), the checkpoint keeps itself current with it on every append, and team mode
applies other cockpits' entries with it. It does no I/O and reads no clock: the same entries in
the same order always give the same state.

Stable interface (add to it, never rename):

- `IncidentBook`: the state. `open` / `closed` (incident id -> `Incident`; closed = resolved or
  closed, kept while `prune` allows), `counters` (day "YYYYMMDD" -> highest incident number seen,
  so new ids stay unique), `pending` (intent key -> `PendingIntent`: an action intent without a
  result yet), `interrupted` (intent key -> `Interrupted`: a result "unknown" written because the
  cockpit that ran the action ended, not acknowledged yet), `seq` / `hash` of the last entry
  applied (0 / "" for none), `key_to_id` (finding key -> open incident id).
- `apply(book, entry, cfg) -> str | None`: apply one entry in place; returns the id of the
  incident it changed (None when it changed no incident). Unknown events, malformed fields and
  entries about unknown incidents are ignored, never raised: the trail is input, not code.
- `apply_all(book, entries, cfg)`: `apply` over many entries.
- `apply_to_incident(incident, entry, cfg) -> Incident | None`: the pure per-incident step
  (None in, a detected/declared entry gives a new incident; a later entry gives the changed copy).
- `prune(book, since, *, pending_of_other_hosts=None)`: drop closed incidents resolved before
  `since` (counters are kept); given this host's name, also other hosts' result-less intents
  older than `since`.
- `book_to_json(book)` / `book_from_json(data)`: a JSON-ready form of the book (the checkpoint);
  `book_from_json` raises `ValueError` on anything it cannot read (the caller then rebuilds
  from the log). Runbook entries are not stored: the engine looks them up by rule.
- `intent_key(session, seq)`, `entry_time(entry)`, `UNKNOWN_ENDED` (the message of the result
  written for an interrupted action), `INTERRUPTED_ACK` (the event that acknowledges one, with
  `intent_keys: [..]`), `INCIDENT_EVENTS`.

Times: an incident entry's `at` (the engine's clock when it happened) wins over the entry's
`time` (the log's wall clock); `deadline` (ISO) in detected/declared/severity entries is the
response deadline as the engine computed it, so a restored clock is the same clock. Older
entries without them fall back to `time` and the configured response times.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, cast

from cockpit.config import Config
from cockpit.incidents.model import (
    Incident,
    Note,
    TimelineEntry,
    deadline_after_severity_change,
    response_deadline,
)
from cockpit.incidents.severity import SEVERITIES

INCIDENT_ID = re.compile(r"^INC-(\d{8})-(\d{4,})$")
OPENING_EVENTS = frozenset({"incident.detected", "incident.declared"})
INCIDENT_EVENTS = frozenset(
    {
        "incident.detected",
        "incident.declared",
        "incident.ack",
        "incident.status",
        "incident.severity",
        "incident.note",
        "incident.resolved",
        "incident.closed",
        "incident.reopened",
    }
)
UNKNOWN_ENDED = "result: unknown (the cockpit that ran it ended)"
INTERRUPTED_ACK = "action.interrupted.acknowledged"
_STATUSES = ("Investigating", "Identified", "Monitoring")


def intent_key(session: str, seq: int) -> str:
    """The key of an action intent: the session that wrote it and its seq."""
    return f"{session}:{seq}"


@dataclass(frozen=True)
class PendingIntent:
    """An action intent with no result yet (running now, or its cockpit died)."""

    key: str
    session: str
    seq: int
    action: str
    target: str
    incident_id: str | None
    at: datetime | None
    operator: str  # login of who ran it
    pid: int | None = None  # of the cockpit that ran it (when it recorded one)
    host: str | None = None
    fields: Mapping[str, Any] = field(default_factory=dict[str, Any])  # the intent's own fields


@dataclass(frozen=True)
class Interrupted:
    """An action whose cockpit ended before its result: recorded as unknown, not acknowledged."""

    key: str
    action: str
    target: str
    incident_id: str | None
    at: datetime | None  # when the intent was written
    message: str = UNKNOWN_ENDED


@dataclass
class IncidentBook:
    """Incident state rebuilt from the trail (see the module docstring)."""

    open: dict[str, Incident] = field(default_factory=dict[str, Incident])
    closed: dict[str, Incident] = field(default_factory=dict[str, Incident])
    counters: dict[str, int] = field(default_factory=dict[str, int])
    pending: dict[str, PendingIntent] = field(default_factory=dict[str, PendingIntent])
    interrupted: dict[str, Interrupted] = field(default_factory=dict[str, Interrupted])
    seq: int = 0
    hash: str = ""

    @property
    def key_to_id(self) -> dict[str, str]:
        """Finding key -> id of the open incident detected for it."""
        return {i.key: i.id for i in self.open.values() if i.key}


# ---------------------------------------------------------------------- reading entries
def entry_time(entry: Mapping[str, Any]) -> datetime | None:
    """When an entry's event happened: its `at` if it has one, else its `time`."""
    for name in ("at", "time"):
        when = _parse_time(entry.get(name))
        if when is not None:
            return when
    return None


def _parse_time(value: object) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo is not None else None


def _text(entry: Mapping[str, Any], name: str, default: str = "") -> str:
    value = entry.get(name)
    return default if value is None else str(value)


def _int(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


def _str_keys(value: object) -> dict[str, Any]:
    if not isinstance(value, dict):
        return {}
    return {str(k): v for k, v in cast(dict[object, Any], value).items()}


def _strings(value: object) -> tuple[str, ...]:
    return tuple(str(v) for v in cast(list[object], value)) if isinstance(value, list) else ()


# ---------------------------------------------------------------------- one incident
def apply_to_incident(
    incident: Incident | None, entry: Mapping[str, Any], cfg: Config
) -> Incident | None:
    """The incident after one of its entries (None stays None unless the entry opens it)."""
    event, at = _text(entry, "event"), entry_time(entry)
    if at is None:
        return incident
    if incident is None:
        return _opened(entry, event, at, cfg) if event in OPENING_EVENTS else None
    line = _timeline_text(entry)
    if event == "incident.ack":
        who = _text(entry, "acknowledged_by") or _text(entry, "by") or "operator"
        return replace(
            incident,
            acknowledged_by=who,
            acknowledged_at=incident.acknowledged_at or at,
            timeline=incident.timeline + (TimelineEntry(at, "ack", line),),
        )
    if event == "incident.status":
        after = _text(entry, "after")
        if after not in _STATUSES:
            return incident
        return replace(
            incident,
            status=after,
            timeline=incident.timeline + (TimelineEntry(at, "status", line),),
        )
    if event == "incident.severity":
        after = _text(entry, "after")
        if after not in SEVERITIES:
            return incident
        deadline = _parse_time(entry.get("deadline")) or deadline_after_severity_change(
            cfg, incident, after, at
        )
        return replace(
            incident,
            severity=after,
            response_deadline=deadline,
            severity_set_by_operator=incident.severity_set_by_operator
            or entry.get("auto") is False,
            timeline=incident.timeline + (TimelineEntry(at, "severity", line),),
        )
    if event == "incident.note":
        text = _text(entry, "text")
        return replace(
            incident,
            notes=incident.notes + (Note(at, _text(entry, "by"), text),),
            timeline=incident.timeline + (TimelineEntry(at, "note", text),),
        )
    if event in ("incident.resolved", "incident.closed"):
        if not incident.active:
            return incident
        kind = "resolved" if event == "incident.resolved" else "closed"
        return replace(
            incident,
            status="Resolved",
            resolved_at=at,
            timeline=incident.timeline + (TimelineEntry(at, kind, line),),
        )
    if event == "incident.reopened":
        if incident.active:
            return incident
        evidence: object = entry.get("evidence")
        return replace(
            incident,
            status="Investigating",
            resolved_at=None,
            evidence=incident.evidence if evidence is None else _str_keys(evidence),
            timeline=incident.timeline + (TimelineEntry(at, "reopened", line),),
        )
    if event in ("intent", "result"):
        return replace(incident, timeline=incident.timeline + (TimelineEntry(at, "action", line),))
    return incident


def _opened(entry: Mapping[str, Any], event: str, at: datetime, cfg: Config) -> Incident | None:
    severity = _text(entry, "severity")
    if severity not in SEVERITIES:
        severity = "P3"
    incident_id = _text(entry, "incident_id")
    if not INCIDENT_ID.match(incident_id):
        return None
    declared = event == "incident.declared"
    title = _text(entry, "title") or "(untitled)"
    kind = "declared" if declared else "detected"
    return Incident(
        id=incident_id,
        key="" if declared else _text(entry, "target"),
        rule=_text(entry, "rule") or "declared",
        title=title,
        severity=severity,
        detected_at=at,
        response_deadline=_parse_time(entry.get("deadline"))
        or response_deadline(cfg, severity, at),
        evidence=_str_keys(entry.get("evidence")),
        impact=_text(entry, "impact"),
        affected=_strings(entry.get("affected")),
        actions=_strings(entry.get("actions")),
        context=_str_keys(entry.get("context")),
        declared=declared,
        severity_set_by_operator=declared,
        timeline=(TimelineEntry(at, kind, f"{severity} {title}"),),
    )


def _timeline_text(entry: Mapping[str, Any]) -> str:
    """The timeline line of an entry, worded as the live engine words it."""
    event = _text(entry, "event")
    if event in OPENING_EVENTS:
        return f"{_text(entry, 'severity')} {_text(entry, 'title')}"
    if event == "incident.status":
        return f"{_text(entry, 'before')} -> {_text(entry, 'after')}"
    if event == "incident.severity":
        by = "auto" if entry.get("auto") is not False else (_text(entry, "by") or "operator")
        return f"{_text(entry, 'before')} -> {_text(entry, 'after')} ({by})"
    if event == "incident.note":
        return _text(entry, "text")
    if event == "incident.ack":
        return f"acknowledged by {_text(entry, 'acknowledged_by') or _text(entry, 'by')}"
    if event == "incident.reopened":
        return f"reopened: {_text(entry, 'reason') or 'still breaching'}"
    if event == "incident.resolved":
        summary = _text(entry, "summary")
        return f"resolved by {_text(entry, 'by') or 'operator'}" + (
            f": {summary}" if summary else ""
        )
    if event == "incident.closed":
        return f"closed automatically: {_text(entry, 'reason') or 'healthy again'}"
    what = f"{_text(entry, 'action')} {_text(entry, 'target')}".strip()
    if event == "intent":
        return f"{what}: started by {_operator_login(entry)}"
    if event == "result":
        outcome, message = _text(entry, "outcome"), _text(entry, "message")
        if message == UNKNOWN_ENDED:
            return f"{what}: {UNKNOWN_ENDED}"
        return f"{what}: {outcome}" + (f" ({message})" if message else "")
    return event


def _operator_login(entry: Mapping[str, Any]) -> str:
    operator = entry.get("operator")
    if isinstance(operator, dict):
        login = cast(dict[str, Any], operator).get("login")
        if login:
            return str(login)
    return str(operator or "operator") if not isinstance(operator, dict) else "operator"


# ---------------------------------------------------------------------- the book
def apply(book: IncidentBook, entry: Mapping[str, Any], cfg: Config) -> str | None:
    """Apply one audit entry to the book in place; the id of the incident it changed, or None."""
    seq = _int(entry.get("seq"))
    if seq is not None:
        book.seq = seq
        book.hash = _text(entry, "hash")
    event = _text(entry, "event")
    incident_id = _text(entry, "incident_id")
    match = INCIDENT_ID.match(incident_id)
    if match:
        day, number = match.group(1), int(match.group(2))
        book.counters[day] = max(book.counters.get(day, 0), number)
    if event in ("intent", "result"):
        _apply_action(book, entry, event)
    elif event == INTERRUPTED_ACK:
        for key in _strings(entry.get("intent_keys")):
            book.interrupted.pop(key, None)
    if not match or (event not in INCIDENT_EVENTS and event not in ("intent", "result")):
        return None
    if incident_id in book.open:
        current: Incident | None = book.open[incident_id]
    else:
        current = book.closed.get(incident_id)
    if current is not None and event in OPENING_EVENTS:
        return None  # the same incident announced twice (team mode): the first one stands
    changed = apply_to_incident(current, entry, cfg)
    if changed is None or changed is current:
        return None
    book.open.pop(incident_id, None)
    book.closed.pop(incident_id, None)
    (book.open if changed.active else book.closed)[incident_id] = changed
    return incident_id


def _apply_action(book: IncidentBook, entry: Mapping[str, Any], event: str) -> None:
    session, seq = _text(entry, "session"), _int(entry.get("seq"))
    incident_id = _text(entry, "incident_id") or None
    if event == "intent":
        if seq is None:
            return
        key = intent_key(session, seq)
        book.pending[key] = PendingIntent(
            key=key,
            session=session,
            seq=seq,
            action=_text(entry, "action"),
            target=_text(entry, "target"),
            incident_id=incident_id,
            at=entry_time(entry),
            operator=_operator_login(entry),
            pid=_int(entry.get("pid")),
            host=_text(entry, "host") or None,
            fields={k: v for k, v in entry.items() if k not in ("hash", "prev")},
        )
        return
    intent_seq = _int(entry.get("intent_seq"))
    if intent_seq is None:
        return
    key = intent_key(_text(entry, "intent_session") or session, intent_seq)
    pending = book.pending.pop(key, None)
    if _text(entry, "message") == UNKNOWN_ENDED:
        book.interrupted[key] = Interrupted(
            key=key,
            action=_text(entry, "action"),
            target=_text(entry, "target"),
            incident_id=incident_id,
            at=pending.at if pending else entry_time(entry),
        )


def apply_all(book: IncidentBook, entries: Iterable[Mapping[str, Any]], cfg: Config) -> None:
    """`apply` every entry, in order."""
    for entry in entries:
        apply(book, entry, cfg)


def prune(
    book: IncidentBook, since: datetime, *, pending_of_other_hosts: str | None = None
) -> None:
    """Forget closed incidents resolved before `since` (their ids stay counted). With
    `pending_of_other_hosts` (this host's name), also forget intents without a result written
    before `since` on another host: no cockpit here can settle them, and they must not pile up."""
    for incident_id, inc in list(book.closed.items()):
        if inc.resolved_at is None or inc.resolved_at < since:
            del book.closed[incident_id]
    if pending_of_other_hosts is None:
        return
    for key, intent in list(book.pending.items()):
        foreign = intent.host is not None and intent.host != pending_of_other_hosts
        if foreign and (intent.at is None or intent.at < since):
            del book.pending[key]


# ---------------------------------------------------------------------- JSON form
def _iso(when: datetime | None) -> str | None:
    return None if when is None else when.isoformat()


def _need_time(value: object) -> datetime:
    when = _parse_time(value)
    if when is None:
        raise ValueError(f"not a time: {value!r}")
    return when


def incident_to_json(inc: Incident) -> dict[str, Any]:
    """An incident as JSON-ready data (without its runbook entry)."""
    return {
        "id": inc.id,
        "key": inc.key,
        "rule": inc.rule,
        "title": inc.title,
        "severity": inc.severity,
        "detected_at": _iso(inc.detected_at),
        "response_deadline": _iso(inc.response_deadline),
        "status": inc.status,
        "evidence": dict(inc.evidence),
        "impact": inc.impact,
        "affected": list(inc.affected),
        "actions": list(inc.actions),
        "context": dict(inc.context),
        "acknowledged_by": inc.acknowledged_by,
        "acknowledged_at": _iso(inc.acknowledged_at),
        "notes": [[_iso(n.at), n.author, n.text] for n in inc.notes],
        "timeline": [[_iso(t.at), t.event, t.text] for t in inc.timeline],
        "declared": inc.declared,
        "severity_set_by_operator": inc.severity_set_by_operator,
        "resolved_at": _iso(inc.resolved_at),
    }


def incident_from_json(data: Mapping[str, Any]) -> Incident:
    """The inverse of `incident_to_json`; ValueError (or KeyError/TypeError) on bad data."""
    notes = tuple(
        Note(_need_time(n[0]), str(n[1]), str(n[2])) for n in cast(list[list[Any]], data["notes"])
    )
    timeline = tuple(
        TimelineEntry(_need_time(t[0]), str(t[1]), str(t[2]))
        for t in cast(list[list[Any]], data["timeline"])
    )
    acknowledged_by = data.get("acknowledged_by")
    return Incident(
        id=str(data["id"]),
        key=str(data["key"]),
        rule=str(data["rule"]),
        title=str(data["title"]),
        severity=str(data["severity"]),
        detected_at=_need_time(data["detected_at"]),
        response_deadline=_need_time(data["response_deadline"]),
        status=str(data["status"]),
        evidence=_str_keys(data.get("evidence")),
        impact=str(data.get("impact") or ""),
        affected=_strings(data.get("affected")),
        actions=_strings(data.get("actions")),
        context=_str_keys(data.get("context")),
        acknowledged_by=None if acknowledged_by is None else str(acknowledged_by),
        acknowledged_at=_parse_time(data.get("acknowledged_at")),
        notes=notes,
        timeline=timeline,
        declared=bool(data.get("declared")),
        severity_set_by_operator=bool(data.get("severity_set_by_operator")),
        resolved_at=_parse_time(data.get("resolved_at")),
    )


def book_to_json(book: IncidentBook) -> dict[str, Any]:
    """The book as JSON-ready data (what the checkpoint stores)."""
    return {
        "seq": book.seq,
        "hash": book.hash,
        "counters": dict(book.counters),
        "open": [incident_to_json(i) for i in book.open.values()],
        "closed": [incident_to_json(i) for i in book.closed.values()],
        "pending": [
            {
                "key": p.key,
                "session": p.session,
                "seq": p.seq,
                "action": p.action,
                "target": p.target,
                "incident_id": p.incident_id,
                "at": _iso(p.at),
                "operator": p.operator,
                "pid": p.pid,
                "host": p.host,
                "fields": dict(p.fields),
            }
            for p in book.pending.values()
        ],
        "interrupted": [
            {
                "key": i.key,
                "action": i.action,
                "target": i.target,
                "incident_id": i.incident_id,
                "at": _iso(i.at),
                "message": i.message,
            }
            for i in book.interrupted.values()
        ],
    }


def book_from_json(data: object) -> IncidentBook:
    """A book from `book_to_json`'s form. Raises ValueError when the data is not one."""
    try:
        d = cast(dict[str, Any], data)
        if not isinstance(data, dict):
            raise ValueError("not an object")
        book = IncidentBook(seq=int(d["seq"]), hash=str(d["hash"]))
        book.counters = {str(k): int(v) for k, v in cast(dict[str, Any], d["counters"]).items()}
        for raw in cast(list[dict[str, Any]], d["open"]):
            inc = incident_from_json(raw)
            book.open[inc.id] = inc
        for raw in cast(list[dict[str, Any]], d["closed"]):
            inc = incident_from_json(raw)
            book.closed[inc.id] = inc
        for raw in cast(list[dict[str, Any]], d["pending"]):
            pending = PendingIntent(
                key=str(raw["key"]),
                session=str(raw["session"]),
                seq=int(raw["seq"]),
                action=str(raw["action"]),
                target=str(raw["target"]),
                incident_id=None if raw.get("incident_id") is None else str(raw["incident_id"]),
                at=_parse_time(raw.get("at")),
                operator=str(raw.get("operator") or ""),
                pid=_int(raw.get("pid")),
                host=None if raw.get("host") is None else str(raw["host"]),
                fields=_str_keys(raw.get("fields")),
            )
            book.pending[pending.key] = pending
        for raw in cast(list[dict[str, Any]], d["interrupted"]):
            item = Interrupted(
                key=str(raw["key"]),
                action=str(raw["action"]),
                target=str(raw["target"]),
                incident_id=None if raw.get("incident_id") is None else str(raw["incident_id"]),
                at=_parse_time(raw.get("at")),
                message=str(raw.get("message") or UNKNOWN_ENDED),
            )
            book.interrupted[item.key] = item
        return book
    except (KeyError, TypeError, AttributeError, IndexError) as exc:
        raise ValueError(f"not a checkpoint's incident state: {exc!r}") from exc
