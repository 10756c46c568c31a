"""The runbook's three communication templates, filled from an incident and its audit trail.

Pure functions: the caller passes the audit entries (as `cockpit.audit.log.read_entries` returns
them); nothing here reads files. Every field of the runbook's templates is filled: a value the
cockpit cannot know is said in words ("not yet known"), never left as a "[placeholder]".
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from cockpit.durations import duration
from cockpit.incidents.model import Incident
from cockpit.incidents.runbook import render_diagnosis
from cockpit.models import utcnow

TEMPLATES = {"initial": "Initial Alert", "update": "Status Update", "resolution": "Resolution"}
NEXT_UPDATE_MINUTES = {"P1": 15, "P2": 30, "P3": 60, "P4": 240}
_ACTION_EVENTS = ("result", "denied", "cancelled")


def when(value: Any) -> str:
    """'2026-11-27 09:00 UTC' from a datetime or an audit ISO time; '' when unknown."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return value
    if not isinstance(value, datetime):
        return ""
    return value.strftime("%Y-%m-%d %H:%M UTC")


def entries_for(incident_id: str, entries: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The audit entries about one incident, in log order."""
    return [e for e in entries if e.get("incident_id") == incident_id]


def describe_action(entry: Mapping[str, Any]) -> str:
    """'09:05 UTC kill_idle predictiq: ok (terminated 31 connections)' for an action entry."""
    what = " ".join(str(x) for x in (entry.get("action"), entry.get("target")) if x)
    outcome = entry.get("outcome") or entry.get("event")
    detail = entry.get("message") or entry.get("error") or entry.get("reason") or ""
    text = f"{when(entry.get('time'))} {what}: {outcome}"
    return f"{text} ({detail})" if detail else text


def actions_done(incident_id: str, entries: Iterable[Mapping[str, Any]]) -> list[str]:
    """What was done for the incident: every action result (or refusal) recorded for it."""
    return [
        describe_action(e)
        for e in entries_for(incident_id, entries)
        if e.get("event") in _ACTION_EVENTS
    ]


def _diagnosis(incident: Incident) -> str:
    if incident.runbook is None:
        return "no runbook entry"
    return render_diagnosis(incident.runbook, incident.evidence, incident.context)


def _affected(incident: Incident) -> str:
    return ", ".join(incident.affected) or "not yet known"


def _root_cause(incident: Incident) -> str:
    for note in reversed(incident.notes):
        if note.text.lower().startswith("root cause:"):
            return note.text.split(":", 1)[1].strip()
    source = incident.runbook.title if incident.runbook else "declared by an operator"
    return f"under investigation ({source}: {_diagnosis(incident)})"


def initial_alert(
    incident: Incident,
    entries: Sequence[Mapping[str, Any]] = (),
    *,
    now: datetime | None = None,
    notified: Sequence[str] = (),
) -> str:
    """The runbook's Initial Alert."""
    now = now or utcnow()
    ack = f" (acknowledged by {incident.acknowledged_by})" if incident.acknowledged_by else ""
    lines = [
        "🚨 INCIDENT ALERT",
        "",
        f"Incident: {incident.id}",
        f"Severity: {incident.severity}",
        f"Title: {incident.title}",
        f"Status: {incident.status}",
        f"Impact: {incident.impact or 'being assessed'}",
        f"Affected: {_affected(incident)}",
        (
            f"Detected: {when(incident.detected_at)} "
            f"({duration(incident.age_seconds(now), coarse=True)} ago)"
        ),
        "",
        "Actions:",
        f"- [{'x' if incident.acknowledged_by else ' '}] Investigating root cause{ack}",
        f"- [{'x' if notified else ' '}] Notified: {', '.join(notified) or 'nobody yet'}",
        *(f"- [x] {a}" for a in actions_done(incident.id, entries)),
        "",
        f"Next update in: {NEXT_UPDATE_MINUTES.get(incident.severity, 30)} minutes",
    ]
    return "\n".join(lines) + "\n"


def status_update(
    incident: Incident,
    entries: Sequence[Mapping[str, Any]] = (),
    *,
    now: datetime | None = None,
    eta: str = "",
) -> str:
    """The runbook's Status Update."""
    now = now or utcnow()
    done = actions_done(incident.id, entries)
    if done:
        doing = "; ".join(done)
    elif incident.runbook and incident.runbook.resolution:
        doing = f"following the runbook: {incident.runbook.resolution[0]}"
    else:
        doing = "investigating"
    lines = [
        "📊 INCIDENT UPDATE",
        "",
        f"Incident: {incident.id}",
        f"Status: {incident.status}",
        f"Title: {incident.title}",
        f"Severity: {incident.severity}",
        "",
        f"What happened: {incident.impact or incident.title} Since {when(incident.detected_at)} "
        f"({duration(incident.age_seconds(now), coarse=True)}). Now: {_diagnosis(incident)}",
        f"What we're doing: {doing}",
        f"ETA: {eta or 'not yet known'}",
        "",
        f"Next update in: {NEXT_UPDATE_MINUTES.get(incident.severity, 30)} minutes",
    ]
    return "\n".join(lines) + "\n"


def resolution(
    incident: Incident, entries: Sequence[Mapping[str, Any]] = (), *, now: datetime | None = None
) -> str:
    """The runbook's Resolution."""
    now = now or utcnow()
    end = incident.resolved_at or now
    done = actions_done(incident.id, entries)
    lines = [
        "✅ INCIDENT RESOLVED",
        "",
        f"Incident: {incident.id}",
        f"Title: {incident.title}",
        f"Duration: {when(incident.detected_at)} - {when(end)} "
        f"({duration(incident.duration_seconds(now), coarse=True)})",
        f"Severity: {incident.severity}",
        "",
        f"Root cause: {_root_cause(incident)}",
        f"Fix applied: {'; '.join(done) if done else 'no cockpit action recorded'}",
        "Lessons learned: to be collected in the post-mortem",
        "",
        f"Post-mortem: cockpit audit export --incident {incident.id} --format markdown",
    ]
    return "\n".join(lines) + "\n"


def render_template(
    kind: str,
    incident: Incident,
    entries: Sequence[Mapping[str, Any]] = (),
    *,
    now: datetime | None = None,
) -> str:
    """One of TEMPLATES ("initial", "update", "resolution") for the incident."""
    renderers = {"initial": initial_alert, "update": status_update, "resolution": resolution}
    if kind not in renderers:
        raise ValueError(f"unknown template {kind!r} (one of {', '.join(TEMPLATES)})")
    return renderers[kind](incident, entries, now=now)
