"""A post-mortem skeleton in Markdown, rebuilt from the audit trail alone.

`cockpit audit export --incident ID --format markdown` calls `render_postmortem(ID, entries)`
with the log's entries: only those whose incident_id matches are used, in log order, so the
export needs no running cockpit. Passing an Incident fills what the log lacks (a title when
the detection entry was written by another session, say).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, cast

from cockpit.durations import duration
from cockpit.incidents.comms import describe_action, entries_for
from cockpit.incidents.model import Incident

Entry = Mapping[str, Any]
_NO_ENTRY: Entry = {}


def _time(entry: Entry) -> datetime | None:
    try:
        return datetime.fromisoformat(str(entry.get("time", "")).replace("Z", "+00:00"))
    except ValueError:
        return None


def _cell(text: Any) -> str:
    """Text safe inside a Markdown table cell."""
    return str(text).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ").strip()


def _who(entry: Entry) -> str:
    op: object = entry.get("operator")
    login = cast(Entry, op).get("login") if isinstance(op, Mapping) else op
    return str(entry.get("by") or entry.get("acknowledged_by") or login or "someone")


def _evidence(entry: Entry) -> str:
    ev: object = entry.get("evidence")
    if not isinstance(ev, Mapping):
        return ""
    return ", ".join(
        f"{k} {v}" for k, v in cast(Entry, ev).items() if not isinstance(v, Mapping | list)
    )


def describe(entry: Entry, answered: set[Any]) -> tuple[str, str] | None:
    """(event label, details) for one timeline row, or None for entries not worth a row."""
    ev = entry.get("event")
    if ev == "incident.detected":
        return (
            "Detected",
            (
                f"{entry.get('severity')} {entry.get('title')} ({entry.get('rule')}): "
                f"{_evidence(entry)}"
            ),
        )
    if ev == "incident.declared":
        return "Declared", f"{entry.get('severity')} {entry.get('title')} by {_who(entry)}"
    if ev == "incident.ack":
        return "Acknowledged", f"by {_who(entry)}"
    if ev == "incident.status":
        return "Status", f"{entry.get('before')} -> {entry.get('after')} ({_who(entry)})"
    if ev == "incident.severity":
        how = "automatic" if entry.get("auto") else _who(entry)
        return "Severity", f"{entry.get('before')} -> {entry.get('after')} ({how})"
    if ev == "incident.note":
        return "Note", f"{_who(entry)}: {entry.get('text', '')}"
    if ev == "incident.resolved":
        summary = entry.get("summary")
        return "Resolved", f"by {_who(entry)}" + (f": {summary}" if summary else "")
    if ev == "incident.closed":
        return "Closed", f"automatically: {entry.get('reason', 'healthy again')}"
    if ev == "incident.reopened":
        return "Reopened", str(entry.get("reason") or "still breaching")
    if isinstance(ev, str) and ev.startswith("page."):  # page.trigger / .acknowledge / .resolve
        reason = entry.get("reason")
        return (
            "Paged",
            f"{ev.removeprefix('page.')} to {entry.get('target')}: {entry.get('result')}"
            + (f" ({reason})" if reason else ""),
        )
    if ev == "incident.log_evidence":
        return "Log evidence", str(entry.get("summary", ""))
    if ev in ("result", "denied", "cancelled"):
        return "Action", describe_action(entry)
    if ev == "intent" and entry.get("seq") not in answered:
        return (
            "Action",
            (
                f"{entry.get('action')} {entry.get('target')}: "
                "started, no result recorded (outcome unknown)"
            ),
        )
    return None


def action_taken(entry: Entry) -> str:
    """'2026-11-27T09:05:00Z alice: kill_idle on postgresql://… — plan: terminate 46 idle
    connections … — result: ok (terminated 46 of 46)' for the "Actions taken" list."""
    effect: object = entry.get("effect")
    lines = [str(line) for line in cast(list[object], effect)] if isinstance(effect, list) else []
    plan = lines[0] if lines else ""
    outcome = entry.get("outcome") or entry.get("event")
    detail = entry.get("message") or entry.get("error") or entry.get("reason") or ""
    text = f"{entry.get('time', '?')} {_who(entry)}: {entry.get('action')} on {entry.get('target')}"
    if plan:
        text += f" — plan: {plan}"
    return text + f" — result: {outcome}" + (f" ({detail})" if detail else "")


def _summary(incident_id: str, mine: list[Entry], incident: Incident | None) -> list[str]:
    opening = next(
        (e for e in mine if e.get("event") in ("incident.detected", "incident.declared")), _NO_ENTRY
    )
    ending = next(
        (
            e
            for e in reversed(mine)
            if e.get("event") in ("incident.closed", "incident.resolved", "incident.reopened")
        ),
        None,
    )
    if ending is not None and ending.get("event") == "incident.reopened":
        ending = None  # reopened since its last resolution: still open
    severities = [str(e.get("after")) for e in mine if e.get("event") == "incident.severity"]
    first = str(opening.get("severity") or (incident.severity if incident else "unknown"))
    worst = min([first, *severities]) if first.startswith("P") else first
    start, end = _time(opening) if opening else None, _time(ending) if ending else None
    took = (
        duration((end - start).total_seconds(), coarse=True)
        if start and end
        else "still open at export"
    )
    affected: list[str] = opening.get("affected") or (list(incident.affected) if incident else [])
    source = (
        "declared by " + _who(opening)
        if opening.get("event") == "incident.declared"
        else "rule " + str(opening.get("rule", incident.rule if incident else "unknown"))
    )
    ended = (
        str(ending.get("time")) + " (" + str(ending.get("event")).removeprefix("incident.") + ")"
        if ending
        else "not yet"
    )
    return [
        f"- **Severity:** {first} at detection, highest {worst}",
        f"- **Source:** {source}",
        f"- **Detected:** {opening.get('time', 'unknown')}",
        f"- **Ended:** {ended}",
        f"- **Duration:** {took}",
        (
            "- **Impact:** "
            f"{opening.get('impact') or (incident.impact if incident else '') or 'to be described'}"
        ),
        f"- **Affected:** {', '.join(affected) or 'to be described'}",
    ]


def _log_section(mine: list[Entry]) -> list[str]:
    """The last log evidence recorded for the incident, as an indented (inert) Markdown block."""
    from cockpit.incidents.log_evidence import EVENT, evidence_text

    recorded = [e for e in mine if e.get("event") == EVENT]
    if not recorded:
        return []
    text = evidence_text(recorded[-1])
    return [
        "## Log evidence",
        "",
        f"Recorded {recorded[-1].get('time', '')}: {text[0]}",
        "",
        *(f"    {line}" for line in text[1:]),
        "",
    ]


def render_postmortem(incident_or_id: Incident | str, entries: Iterable[Entry]) -> str:
    """The Markdown skeleton: summary, timeline, actions, notes, and sections to write."""
    incident = incident_or_id if isinstance(incident_or_id, Incident) else None
    incident_id = incident.id if incident else str(incident_or_id)
    mine = entries_for(incident_id, entries)
    opening = next(
        (e for e in mine if e.get("event") in ("incident.detected", "incident.declared")), _NO_ENTRY
    )
    title = str(opening.get("title") or (incident.title if incident else "unknown incident"))
    answered = {e.get("intent_seq") for e in mine if e.get("event") == "result"}
    rows: list[str] = []
    for e in mine:
        row = describe(e, answered)
        if row:
            rows.append(f"| {_cell(e.get('time', ''))} | {row[0]} | {_cell(row[1])} |")
    actions = [action_taken(e) for e in mine if e.get("event") in ("result", "denied", "cancelled")]
    notes = [f"{_who(e)}: {e.get('text', '')}" for e in mine if e.get("event") == "incident.note"]
    causes = [n.split(":", 2)[-1].strip() for n in notes if "root cause:" in n.lower()]
    out = [
        f"# Post-mortem: {title} ({incident_id})",
        "",
        "## Summary",
        "",
        *_summary(incident_id, mine, incident),
        "",
        "## Timeline",
        "",
        "| Time (UTC) | Event | Details |",
        "|---|---|---|",
        *(rows or ["| | | no audit entries for this incident |"]),
        "",
        "## Actions taken",
        "",
        *([f"- {a}" for a in actions] or ["- none recorded by the cockpit"]),
        "",
        "## Notes",
        "",
        *([f"- {n}" for n in notes] or ["- none"]),
        "",
        *_log_section(mine),
        "## Root cause",
        "",
        causes[-1] if causes else "_To be written._",
        "",
        "## What went well",
        "",
        "_To be written._",
        "",
        "## What went wrong",
        "",
        "_To be written._",
        "",
        "## Lessons learned",
        "",
        "_To be written._",
        "",
        "## Follow-up actions",
        "",
        "- [ ] Update the runbook entry if it was wrong or missing",
        "- [ ] Prevention measures identified and assigned",
        "",
    ]
    return "\n".join(out)
