"""The incident engine: findings in, incidents out, with hysteresis, escalation and audit.

`evaluate(state)` runs after each source update. A rule is *sampled* in an evaluation only when
one of its sources delivered a new result since the previous evaluation (CockpitState.samples),
so an update of the cache does not count as another breaching sample of the database: an
incident opens after `open_after_samples` consecutive breaching samples of its own source and
closes after `close_after_samples` healthy ones. Severity and evidence follow every evaluation
while open (escalating and de-escalating); an operator's severity sticks, but a worse automatic
one still escalates over it. Operator steps are audited before they change anything, so a
failing audit log refuses the step; automatic records (detected/closed) never stop detection:
their failure is kept in `audit_error` for the UI to show.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from cockpit.config import Config
from cockpit.incidents.model import (
    STATUSES,
    Incident,
    Note,
    TimelineEntry,
    countdown,
    deadline_after_severity_change,
    response_deadline,
    sort_key,
)
from cockpit.incidents.rules import RULES, Finding, evaluate_rules
from cockpit.incidents.runbook import Runbook, load_runbook
from cockpit.incidents.severity import SEVERITIES
from cockpit.models import to_jsonable, utcnow
from cockpit.state import CockpitState

if TYPE_CHECKING:
    from cockpit.audit.log import AuditLog

__all__ = ["IncidentEngine", "Incident", "countdown", "evaluate_once", "incidents_json", "STATUSES"]
_ID = re.compile(r"^INC-(\d{8})-(\d{4,})$")


@dataclass
class _Streak:
    """Consecutive breaching / healthy samples of one finding key (engine-private)."""

    rule: str
    breaching: int = 0
    healthy: int = 0


def _context(cfg: Config, namespace: str | None = None) -> dict[str, Any]:
    k = cfg.kubernetes
    # The namespace in use, as the Kubernetes source resolved it (the context's own when the
    # config leaves it empty, as kubectl does).
    return {"namespace": (namespace or k.namespace or "default") if k else None, "deployment": k.deployment if k else None,
            "selector": k.selector if k else None, "api_url": cfg.api.base_url if cfg.api else None}


class IncidentEngine:
    """Open, escalate and close incidents from the cockpit's state; record operator steps."""

    def __init__(self, cfg: Config, *, audit: AuditLog | None = None, clock: Callable[[], datetime] = utcnow,
                 runbook: Runbook | None = None) -> None:
        self.cfg = cfg
        self.audit = audit
        self.clock = clock
        self.runbook = runbook or load_runbook(cfg.incidents.runbook_path or None)
        self.audit_error: str | None = None
        self._namespace: str | None = None
        self.closed: list[Incident] = []  # resolved incidents, newest last (kept for the session)
        self._open: dict[str, Incident] = {}
        self._key_to_id: dict[str, str] = {}
        self._streaks: dict[str, _Streak] = {}
        self._seen: dict[str, int] = {}
        self._counters: dict[str, int] = {}
        self._seed_counters()

    # ------------------------------------------------------------------ ids and audit
    def _seed_counters(self) -> None:
        """Continue numbering after the ids already in the audit log, so ids stay unique."""
        if self.audit is None:
            return
        path = self.audit.path
        try:
            from cockpit.audit.log import read_entries

            entries = read_entries(path)
        except Exception:  # a missing or damaged log must not stop the engine
            return
        for e in entries:
            m = _ID.match(str(e.get("incident_id", "")))
            if m:
                self._counters[m.group(1)] = max(self._counters.get(m.group(1), 0), int(m.group(2)))

    def _new_id(self, at: datetime) -> str:
        day = at.strftime("%Y%m%d")
        self._counters[day] = self._counters.get(day, 0) + 1
        return f"INC-{day}-{self._counters[day]:04d}"

    def _record(self, event: str, *, strict: bool, **fields: Any) -> None:
        if self.audit is None:
            return
        try:
            self.audit.record(event, **fields)
        except Exception as exc:
            if strict:
                raise
            self.audit_error = f"{event}: {exc}"

    # ------------------------------------------------------------------ evaluation
    def evaluate(self, state: CockpitState, now: datetime | None = None) -> list[Incident]:
        """Apply one evaluation of every rule; return the active incidents, worst then oldest."""
        now = now or self.clock()
        if state.kube is not None:
            self._namespace = state.kube.namespace
        fresh = {s for s, n in state.samples.items() if n != self._seen.get(s, 0)}
        self._seen = dict(state.samples)
        findings: dict[str, Finding] = {f.key: f for f in evaluate_rules(state, self.cfg, now)}
        for spec in RULES:
            sampled = bool(fresh.intersection(spec.sources)) and not any(
                state.failure(s) for s in spec.data_sources)
            keys = {k for k, f in findings.items() if f.rule == spec.rule}
            keys |= {k for k, s in self._streaks.items() if s.rule == spec.rule}
            for key in sorted(keys):
                self._step(key, spec.rule, findings.get(key), sampled, now)
        return self.active()

    def _step(self, key: str, rule: str, finding: Finding | None, sampled: bool,
              now: datetime) -> None:
        streak = self._streaks.setdefault(key, _Streak(rule))
        if sampled:
            if finding:
                streak.breaching, streak.healthy = streak.breaching + 1, 0
            else:
                streak.breaching, streak.healthy = 0, streak.healthy + 1
        incident_id = self._key_to_id.get(key)
        if incident_id is None:
            if finding and streak.breaching >= self.cfg.incidents.open_after_samples:
                self._open_incident(finding, now)
            elif not finding and streak.breaching == 0:
                del self._streaks[key]
            return
        if finding:
            self._follow(incident_id, finding, now)
        elif streak.healthy >= self.cfg.incidents.close_after_samples:
            self._close(incident_id, now, f"healthy for {streak.healthy} samples")

    def _open_incident(self, f: Finding, now: datetime) -> None:
        entry = self.runbook.entry(f.rule)
        spec_actions = next((s.actions for s in RULES if s.rule == f.rule), ())
        inc = Incident(
            id=self._new_id(now), key=f.key, rule=f.rule, title=f.title, severity=f.severity,
            detected_at=now, response_deadline=response_deadline(self.cfg, f.severity, now),
            evidence=dict(f.evidence), impact=f.impact, affected=f.affected, runbook=entry,
            actions=entry.actions if entry and entry.actions else spec_actions,
            context=_context(self.cfg, self._namespace),
            timeline=(TimelineEntry(now, "detected", f"{f.severity} {f.title}"),))
        self._open[inc.id] = inc
        self._key_to_id[f.key] = inc.id
        self._record("incident.detected", strict=False, incident_id=inc.id, rule=f.rule,
                     target=f.key, severity=f.severity, title=f.title, impact=f.impact,
                     affected=list(f.affected), evidence=to_jsonable(dict(f.evidence)))

    def _follow(self, incident_id: str, f: Finding, now: datetime) -> None:
        inc = replace(self._open[incident_id], evidence=dict(f.evidence), title=f.title,
                      impact=f.impact, affected=f.affected)
        wanted = f.severity
        if inc.severity_set_by_operator and SEVERITIES.index(wanted) >= SEVERITIES.index(inc.severity):
            wanted = inc.severity  # the operator's call stands unless things got worse
        if wanted != inc.severity:
            self._record("incident.severity", strict=False, incident_id=inc.id, auto=True,
                         before=inc.severity, after=wanted, evidence=to_jsonable(dict(f.evidence)))
            inc = self._with_severity(inc, wanted, now, "auto")
        self._open[incident_id] = inc

    def _with_severity(self, inc: Incident, severity: str, now: datetime, by: str) -> Incident:
        deadline = deadline_after_severity_change(self.cfg, inc, severity, now)
        line = TimelineEntry(now, "severity", f"{inc.severity} -> {severity} ({by})")
        return replace(inc, severity=severity, response_deadline=deadline,
                       timeline=inc.timeline + (line,))

    def _finish(self, incident_id: str, now: datetime, event: str, text: str) -> Incident:
        inc = self._open.pop(incident_id)
        if inc.key:
            self._key_to_id.pop(inc.key, None)
            self._streaks.pop(inc.key, None)  # still breaching? it reopens as a new incident
        inc = replace(inc, status="Resolved", resolved_at=now,
                      timeline=inc.timeline + (TimelineEntry(now, event, text),))
        self.closed.append(inc)
        return inc

    def _close(self, incident_id: str, now: datetime, why: str) -> None:
        inc = self._finish(incident_id, now, "closed", f"closed automatically: {why}")
        self._record("incident.closed", strict=False, incident_id=inc.id, rule=inc.rule,
                     severity=inc.severity, reason=why,
                     duration_seconds=round(inc.duration_seconds(now), 1))

    # ------------------------------------------------------------------ queries
    def active(self) -> list[Incident]:
        """Open incidents, worst severity first, then oldest."""
        return sorted(self._open.values(), key=sort_key)

    def get(self, incident_id: str) -> Incident:
        """An open or closed incident by id. Raises KeyError for an unknown id."""
        if incident_id in self._open:
            return self._open[incident_id]
        for inc in reversed(self.closed):
            if inc.id == incident_id:
                return inc
        raise KeyError(f"no incident {incident_id}")

    def countdown(self, incident: Incident, now: datetime | None = None) -> tuple[float, bool]:
        """Seconds to the response deadline and whether it is overdue (see model.countdown)."""
        return countdown(incident, now or self.clock())

    # ------------------------------------------------------------------ operator steps
    def _active(self, incident_id: str) -> Incident:
        if incident_id not in self._open:
            raise KeyError(f"no open incident {incident_id}")
        return self._open[incident_id]

    def acknowledge(self, incident_id: str, operator: str) -> Incident:
        """Record who responded, and when: the response clock stops."""
        inc, now = self._active(incident_id), self.clock()
        self._record("incident.ack", strict=True, incident_id=inc.id, acknowledged_by=operator)
        inc = replace(inc, acknowledged_by=operator, acknowledged_at=inc.acknowledged_at or now,
                      timeline=inc.timeline + (TimelineEntry(now, "ack", f"acknowledged by {operator}"),))
        self._open[incident_id] = inc
        return inc

    def set_status(self, incident_id: str, status: str, operator: str | None = None) -> Incident:
        """Move to Investigating / Identified / Monitoring, or Resolved (same as resolve())."""
        if status not in STATUSES:
            raise ValueError(f"unknown status {status!r} (one of {', '.join(STATUSES)})")
        if status == "Resolved":
            return self.resolve(incident_id, operator)
        inc, now = self._active(incident_id), self.clock()
        self._record("incident.status", strict=True, incident_id=inc.id, before=inc.status,
                     after=status, by=operator)
        inc = replace(inc, status=status, timeline=inc.timeline + (
            TimelineEntry(now, "status", f"{inc.status} -> {status}"),))
        self._open[incident_id] = inc
        return inc

    def set_severity(self, incident_id: str, severity: str, operator: str | None = None) -> Incident:
        """The operator's severity: it stands until the rule sees something worse."""
        if severity not in SEVERITIES:
            raise ValueError(f"unknown severity {severity!r} (one of {', '.join(SEVERITIES)})")
        inc, now = self._active(incident_id), self.clock()
        self._record("incident.severity", strict=True, incident_id=inc.id, auto=False,
                     before=inc.severity, after=severity, by=operator)
        inc = replace(self._with_severity(inc, severity, now, operator or "operator"),
                      severity_set_by_operator=True)
        self._open[incident_id] = inc
        return inc

    def add_note(self, incident_id: str, text: str, operator: str | None = None) -> Incident:
        """Append a note to the incident and the audit trail."""
        text = text.strip()
        if not text:
            raise ValueError("an empty note")
        inc, now = self._active(incident_id), self.clock()
        self._record("incident.note", strict=True, incident_id=inc.id, text=text, by=operator)
        inc = replace(inc, notes=inc.notes + (Note(now, operator or "", text),),
                      timeline=inc.timeline + (TimelineEntry(now, "note", text),))
        self._open[incident_id] = inc
        return inc

    def declare(self, title: str, severity: str, impact: str = "", affected: tuple[str, ...] = (),
                *, rule: str | None = None, operator: str | None = None) -> Incident:
        """Open an incident by hand (a user report); it closes only when an operator resolves it."""
        if severity not in SEVERITIES:
            raise ValueError(f"unknown severity {severity!r} (one of {', '.join(SEVERITIES)})")
        if not title.strip():
            raise ValueError("an incident needs a title")
        now = self.clock()
        entry = self.runbook.entry(rule) if rule else None
        inc = Incident(id=self._new_id(now), key="", rule=rule or "declared", title=title.strip(),
                       severity=severity, detected_at=now,
                       response_deadline=response_deadline(self.cfg, severity, now),
                       impact=impact, affected=tuple(affected), runbook=entry,
                       actions=entry.actions if entry else (), context=_context(self.cfg, self._namespace),
                       declared=True, severity_set_by_operator=True,
                       timeline=(TimelineEntry(now, "declared", f"{severity} {title.strip()}"),))
        self._record("incident.declared", strict=True, incident_id=inc.id, rule=inc.rule,
                     severity=severity, title=inc.title, impact=impact, affected=list(affected),
                     by=operator)
        self._open[inc.id] = inc
        return inc

    def resolve(self, incident_id: str, operator: str | None = None, summary: str = "") -> Incident:
        """Resolve by hand. If the rule still breaches, it reopens as a new incident."""
        inc, now = self._active(incident_id), self.clock()
        self._record("incident.resolved", strict=True, incident_id=inc.id, before=inc.status,
                     by=operator, summary=summary,
                     duration_seconds=round(inc.duration_seconds(now), 1))
        return self._finish(incident_id, now, "resolved",
                            f"resolved by {operator or 'operator'}" + (f": {summary}" if summary else ""))


def evaluate_once(cfg: Config, state: CockpitState, now: datetime | None = None) -> list[Finding]:
    """What breaches now, without hysteresis (a one-shot snapshot has no history)."""
    return evaluate_rules(state, cfg, now or utcnow())


def incidents_json(cfg: Config, state: CockpitState,
                   now: datetime | None = None) -> list[Mapping[str, Any]]:
    """`cockpit snapshot --json`'s incidents: rule, severity, title, status, detected_at, evidence."""
    now = now or utcnow()
    return [{"rule": f.rule, "key": f.key, "severity": f.severity, "title": f.title,
             "status": "Investigating", "detected_at": to_jsonable(now),
             "impact": f.impact, "affected": list(f.affected),
             "evidence": to_jsonable(dict(f.evidence))}
            for f in evaluate_once(cfg, state, now)]
