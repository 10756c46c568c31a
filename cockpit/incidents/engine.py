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

An incident keeps its identity: resolved by an operator while its rule still breaches, it is
reopened (same id, status back to Investigating, "reopened: still breaching" in its timeline)
if the rule breaches again before `close_after_samples` healthy samples would have closed it.
Resolved incidents stay listed for 24 h (`recent`), those of earlier sessions restored from
the audit trail, so their detail and post-mortem stay one `enter` away.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, cast

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
from cockpit.models import DeploymentInfo, to_jsonable, utcnow
from cockpit.state import CockpitState

if TYPE_CHECKING:
    from cockpit.audit.log import AuditLog

__all__ = ["IncidentEngine", "Incident", "countdown", "evaluate_once", "incidents_json", "STATUSES"]
_ID = re.compile(r"^INC-(\d{8})-(\d{4,})$")
RECENT = timedelta(hours=24)  # resolved incidents stay listed (and restored) this long
ROLLBACK_WINDOW = timedelta(minutes=30)  # an incident this soon after a rollout offers Roll back


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
    return {
        "namespace": (namespace or k.namespace or "default") if k else None,
        "deployment": k.deployment if k else None,
        "selector": k.selector if k else None,
        "api_url": cfg.api.base_url if cfg.api else None,
    }


class IncidentEngine:
    """Open, escalate and close incidents from the cockpit's state; record operator steps."""

    def __init__(
        self,
        cfg: Config,
        *,
        audit: AuditLog | None = None,
        clock: Callable[[], datetime] = utcnow,
        runbook: Runbook | None = None,
    ) -> None:
        self.cfg = cfg
        self.audit = audit
        self.clock = clock
        self.runbook = runbook or load_runbook(cfg.incidents.runbook_path or None)
        self.audit_error: str | None = None
        self._namespace: str | None = None
        self._rollout_done: tuple[int, datetime] | None = None  # (revision, when it finished)
        self.closed: list[Incident] = []  # resolved incidents, newest last (kept for the session)
        self._open: dict[str, Incident] = {}
        self._key_to_id: dict[str, str] = {}
        self._streaks: dict[str, _Streak] = {}
        self._seen: dict[str, int] = {}
        self._counters: dict[str, int] = {}
        # finding key -> the incident an operator resolved while it still breached
        self._reopenable: dict[str, str] = {}
        self._seed_from_audit()

    # ------------------------------------------------------------------ ids and audit
    def _seed_from_audit(self) -> None:
        """Continue numbering after the ids already in the audit log, so ids stay unique, and
        bring back the incidents resolved in the last 24 h."""
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
        try:
            self.closed.extend(restore_resolved(entries, self.clock() - RECENT, self.cfg))
        except Exception:  # an odd entry must not stop the engine: the history is a courtesy
            self.audit_error = "could not restore the recently resolved incidents"

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
            self._note_rollout(state.kube.deployment)
        fresh = {s for s, n in state.samples.items() if n != self._seen.get(s, 0)}
        self._seen = dict(state.samples)
        findings: dict[str, Finding] = {f.key: f for f in evaluate_rules(state, self.cfg, now)}
        for spec in RULES:
            sampled = bool(fresh.intersection(spec.sources)) and not any(
                state.failure(s) for s in spec.data_sources
            )
            keys = {k for k, f in findings.items() if f.rule == spec.rule}
            keys |= {k for k, s in self._streaks.items() if s.rule == spec.rule}
            for key in sorted(keys):
                self._step(key, spec.rule, findings.get(key), sampled, now)
        return self.active()

    def _step(
        self, key: str, rule: str, finding: Finding | None, sampled: bool, now: datetime
    ) -> None:
        streak = self._streaks.setdefault(key, _Streak(rule))
        if sampled:
            if finding:
                streak.breaching, streak.healthy = streak.breaching + 1, 0
            else:
                streak.breaching, streak.healthy = 0, streak.healthy + 1
        incident_id = self._key_to_id.get(key)
        if incident_id is None and key in self._reopenable:
            if finding and sampled:
                self._reopen(self._reopenable.pop(key), finding, now)
                return
            if streak.healthy >= self.cfg.incidents.close_after_samples:
                del self._reopenable[key]  # healthy long enough: the resolution stands
            elif finding or streak.breaching or streak.healthy:
                return
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

    def declarable_entries(self) -> tuple[str, ...]:
        """The runbook entries no rule detects (the security-incident template): what an
        incident declared by hand may be, for its runbook text and fixes."""
        detected = {spec.rule for spec in RULES}
        return tuple(rule for rule in self.runbook.entries if rule not in detected)

    def _note_rollout(self, dep: DeploymentInfo | None) -> None:
        """Remember when the current revision finished rolling out (revision 2 on: there is one
        to roll back to). A pod failing afterwards can turn the status back to progressing; the
        finish time of this revision stands until another revision rolls out."""
        if dep is None or dep.revision < 2:
            self._rollout_done = None
        elif dep.rollout_finished_at is not None:
            self._rollout_done = (dep.revision, dep.rollout_finished_at)
        elif self._rollout_done is not None and self._rollout_done[0] != dep.revision:
            self._rollout_done = None  # a new revision is rolling out

    def _with_rollback(self, actions: tuple[str, ...], now: datetime) -> tuple[str, ...]:
        """The fixes, plus Roll back when the incident opens within ROLLBACK_WINDOW after a
        rollout finished (a release is the first suspect)."""
        if self._rollout_done is None or "rollback" in actions:
            return actions
        done = self._rollout_done[1]
        if not done <= now <= done + ROLLBACK_WINDOW:
            return actions
        return (*actions, "rollback")

    def _open_incident(self, f: Finding, now: datetime) -> None:
        entry = self.runbook.entry(f.rule)
        spec_actions = next((s.actions for s in RULES if s.rule == f.rule), ())
        inc = Incident(
            id=self._new_id(now),
            key=f.key,
            rule=f.rule,
            title=f.title,
            severity=f.severity,
            detected_at=now,
            response_deadline=response_deadline(self.cfg, f.severity, now),
            evidence=dict(f.evidence),
            impact=f.impact,
            affected=f.affected,
            runbook=entry,
            actions=self._with_rollback(
                entry.actions if entry and entry.actions else spec_actions, now
            ),
            context=_context(self.cfg, self._namespace),
            timeline=(TimelineEntry(now, "detected", f"{f.severity} {f.title}"),),
        )
        self._open[inc.id] = inc
        self._key_to_id[f.key] = inc.id
        self._record(
            "incident.detected",
            strict=False,
            incident_id=inc.id,
            rule=f.rule,
            target=f.key,
            severity=f.severity,
            title=f.title,
            impact=f.impact,
            affected=list(f.affected),
            evidence=to_jsonable(dict(f.evidence)),
        )

    def _follow(self, incident_id: str, f: Finding, now: datetime) -> None:
        inc = replace(
            self._open[incident_id],
            evidence=dict(f.evidence),
            title=f.title,
            impact=f.impact,
            affected=f.affected,
        )
        wanted = f.severity
        if inc.severity_set_by_operator and SEVERITIES.index(wanted) >= SEVERITIES.index(
            inc.severity
        ):
            wanted = inc.severity  # the operator's call stands unless things got worse
        if wanted != inc.severity:
            self._record(
                "incident.severity",
                strict=False,
                incident_id=inc.id,
                auto=True,
                before=inc.severity,
                after=wanted,
                evidence=to_jsonable(dict(f.evidence)),
            )
            inc = self._with_severity(inc, wanted, now, "auto")
        self._open[incident_id] = inc

    def _with_severity(self, inc: Incident, severity: str, now: datetime, by: str) -> Incident:
        deadline = deadline_after_severity_change(self.cfg, inc, severity, now)
        line = TimelineEntry(now, "severity", f"{inc.severity} -> {severity} ({by})")
        return replace(
            inc, severity=severity, response_deadline=deadline, timeline=inc.timeline + (line,)
        )

    def _reopen(self, incident_id: str, f: Finding, now: datetime) -> None:
        inc = next(i for i in self.closed if i.id == incident_id)
        self.closed.remove(inc)
        inc = replace(
            inc,
            status="Investigating",
            resolved_at=None,
            evidence=dict(f.evidence),
            timeline=inc.timeline + (TimelineEntry(now, "reopened", "reopened: still breaching"),),
        )
        self._open[inc.id] = inc
        self._key_to_id[inc.key] = inc.id
        self._record(
            "incident.reopened",
            strict=False,
            incident_id=inc.id,
            rule=inc.rule,
            reason="still breaching",
            evidence=to_jsonable(dict(f.evidence)),
        )

    def still_breaching(self, incident_id: str) -> bool:
        """Whether the incident's rule breached at its last sample (resolving it now would be
        premature: the engine would see it again at once)."""
        inc = self._open.get(incident_id)
        streak = self._streaks.get(inc.key) if inc is not None and inc.key else None
        return streak is not None and streak.breaching > 0

    def _finish(self, incident_id: str, now: datetime, event: str, text: str) -> Incident:
        inc = self._open.pop(incident_id)
        if inc.key:
            self._key_to_id.pop(inc.key, None)
            streak = self._streaks.get(inc.key)
            if event == "resolved" and streak is not None and streak.breaching > 0:
                # resolved by hand while breaching: the next breaching sample reopens this one
                self._reopenable[inc.key] = inc.id
                streak.breaching = streak.healthy = 0
            else:
                self._streaks.pop(inc.key, None)
        inc = replace(
            inc,
            status="Resolved",
            resolved_at=now,
            timeline=inc.timeline + (TimelineEntry(now, event, text),),
        )
        self.closed.append(inc)
        return inc

    def _close(self, incident_id: str, now: datetime, why: str) -> None:
        inc = self._finish(incident_id, now, "closed", f"closed automatically: {why}")
        self._record(
            "incident.closed",
            strict=False,
            incident_id=inc.id,
            rule=inc.rule,
            severity=inc.severity,
            reason=why,
            duration_seconds=round(inc.duration_seconds(now), 1),
        )

    # ------------------------------------------------------------------ queries
    def active(self) -> list[Incident]:
        """Open incidents, worst severity first, then oldest."""
        return sorted(self._open.values(), key=sort_key)

    def recent(self, now: datetime | None = None) -> list[Incident]:
        """Incidents resolved in the last 24 h (this session's and the audit trail's), newest
        resolution first."""
        since = (now or self.clock()) - RECENT
        done = [i for i in self.closed if i.resolved_at is not None and i.resolved_at >= since]
        return sorted(done, key=lambda i: i.resolved_at or since, reverse=True)

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
        inc = replace(
            inc,
            acknowledged_by=operator,
            acknowledged_at=inc.acknowledged_at or now,
            timeline=inc.timeline + (TimelineEntry(now, "ack", f"acknowledged by {operator}"),),
        )
        self._open[incident_id] = inc
        return inc

    def set_status(self, incident_id: str, status: str, operator: str | None = None) -> Incident:
        """Move to Investigating / Identified / Monitoring, or Resolved (same as resolve())."""
        if status not in STATUSES:
            raise ValueError(f"unknown status {status!r} (one of {', '.join(STATUSES)})")
        if status == "Resolved":
            return self.resolve(incident_id, operator)
        inc, now = self._active(incident_id), self.clock()
        self._record(
            "incident.status",
            strict=True,
            incident_id=inc.id,
            before=inc.status,
            after=status,
            by=operator,
        )
        inc = replace(
            inc,
            status=status,
            timeline=inc.timeline + (TimelineEntry(now, "status", f"{inc.status} -> {status}"),),
        )
        self._open[incident_id] = inc
        return inc

    def set_severity(
        self, incident_id: str, severity: str, operator: str | None = None
    ) -> Incident:
        """The operator's severity: it stands until the rule sees something worse."""
        if severity not in SEVERITIES:
            raise ValueError(f"unknown severity {severity!r} (one of {', '.join(SEVERITIES)})")
        inc, now = self._active(incident_id), self.clock()
        self._record(
            "incident.severity",
            strict=True,
            incident_id=inc.id,
            auto=False,
            before=inc.severity,
            after=severity,
            by=operator,
        )
        inc = replace(
            self._with_severity(inc, severity, now, operator or "operator"),
            severity_set_by_operator=True,
        )
        self._open[incident_id] = inc
        return inc

    def add_note(self, incident_id: str, text: str, operator: str | None = None) -> Incident:
        """Append a note to the incident and the audit trail."""
        text = text.strip()
        if not text:
            raise ValueError("an empty note")
        inc, now = self._active(incident_id), self.clock()
        self._record("incident.note", strict=True, incident_id=inc.id, text=text, by=operator)
        inc = replace(
            inc,
            notes=inc.notes + (Note(now, operator or "", text),),
            timeline=inc.timeline + (TimelineEntry(now, "note", text),),
        )
        self._open[incident_id] = inc
        return inc

    def declare(
        self,
        title: str,
        severity: str,
        impact: str = "",
        affected: tuple[str, ...] = (),
        *,
        rule: str | None = None,
        operator: str | None = None,
    ) -> Incident:
        """Open an incident by hand (a user report); it closes only when an operator resolves it."""
        if severity not in SEVERITIES:
            raise ValueError(f"unknown severity {severity!r} (one of {', '.join(SEVERITIES)})")
        if not title.strip():
            raise ValueError("an incident needs a title")
        now = self.clock()
        entry = self.runbook.entry(rule) if rule else None
        inc = Incident(
            id=self._new_id(now),
            key="",
            rule=rule or "declared",
            title=title.strip(),
            severity=severity,
            detected_at=now,
            response_deadline=response_deadline(self.cfg, severity, now),
            impact=impact,
            affected=tuple(affected),
            runbook=entry,
            actions=self._with_rollback(entry.actions if entry else (), now),
            context=_context(self.cfg, self._namespace),
            declared=True,
            severity_set_by_operator=True,
            timeline=(TimelineEntry(now, "declared", f"{severity} {title.strip()}"),),
        )
        self._record(
            "incident.declared",
            strict=True,
            incident_id=inc.id,
            rule=inc.rule,
            severity=severity,
            title=inc.title,
            impact=impact,
            affected=list(affected),
            by=operator,
        )
        self._open[inc.id] = inc
        return inc

    def resolve(self, incident_id: str, operator: str | None = None, summary: str = "") -> Incident:
        """Resolve by hand. If the rule still breaches (`still_breaching`), the next breaching
        sample reopens this same incident."""
        inc, now = self._active(incident_id), self.clock()
        self._record(
            "incident.resolved",
            strict=True,
            incident_id=inc.id,
            before=inc.status,
            by=operator,
            summary=summary,
            duration_seconds=round(inc.duration_seconds(now), 1),
        )
        return self._finish(
            incident_id,
            now,
            "resolved",
            f"resolved by {operator or 'operator'}" + (f": {summary}" if summary else ""),
        )


def _when(entry: Mapping[str, Any]) -> datetime | None:
    try:
        return datetime.fromisoformat(str(entry.get("time", "")).replace("Z", "+00:00"))
    except ValueError:
        return None


_LINES = {
    "incident.detected": "detected",
    "incident.declared": "declared",
    "incident.ack": "ack",
    "incident.status": "status",
    "incident.severity": "severity",
    "incident.note": "note",
    "incident.resolved": "resolved",
    "incident.closed": "closed",
    "incident.reopened": "reopened",
}


def restore_resolved(entries: list[dict[str, Any]], since: datetime, cfg: Config) -> list[Incident]:
    """The incidents the audit trail shows opened and then resolved or closed at or after
    `since` (an incident reopened since its last resolution is not among them)."""
    by_id: dict[str, list[dict[str, Any]]] = {}
    for e in entries:
        incident_id = str(e.get("incident_id") or "")
        if _ID.match(incident_id) and str(e.get("event", "")) in _LINES:
            by_id.setdefault(incident_id, []).append(e)
    out: list[Incident] = []
    for incident_id, mine in by_id.items():
        opening = next(
            (e for e in mine if e.get("event") in ("incident.detected", "incident.declared")), None
        )
        last = mine[-1]
        start, end = (_when(opening) if opening else None), _when(last)
        if (
            opening is None
            or start is None
            or end is None
            or end < since
            or last.get("event") not in ("incident.resolved", "incident.closed")
        ):
            continue
        severity = str(opening.get("severity") or "P3")
        for e in mine:
            if e.get("event") == "incident.severity" and str(e.get("after")) in SEVERITIES:
                severity = str(e.get("after"))
        timeline = tuple(
            TimelineEntry(t, _LINES[str(e.get("event"))], _audit_text(e))
            for e in mine
            if (t := _when(e)) is not None
        )
        notes = tuple(
            Note(t, str(e.get("by") or ""), str(e.get("text") or ""))
            for e in mine
            if e.get("event") == "incident.note" and (t := _when(e)) is not None
        )
        ack = next((e for e in mine if e.get("event") == "incident.ack"), None)
        affected: object = opening.get("affected")
        evidence: object = opening.get("evidence")
        out.append(
            Incident(
                id=incident_id,
                key=str(opening.get("target") or ""),
                rule=str(opening.get("rule") or "declared"),
                title=str(opening.get("title") or "(untitled)"),
                severity=severity,
                detected_at=start,
                response_deadline=response_deadline(cfg, severity, start),
                status="Resolved",
                evidence=_str_keys(evidence),
                impact=str(opening.get("impact") or ""),
                affected=_strings(affected),
                acknowledged_by=str(ack.get("acknowledged_by") or "") if ack else None,
                acknowledged_at=_when(ack) if ack else None,
                notes=notes,
                timeline=timeline,
                declared=opening.get("event") == "incident.declared",
                resolved_at=end,
            )
        )
    return out


def _str_keys(value: object) -> dict[str, Any]:
    """A JSON object read back from the trail, as a dict with string keys ({} otherwise)."""
    if not isinstance(value, dict):
        return {}
    items = cast(dict[object, Any], value).items()
    return {str(k): v for k, v in items}


def _strings(value: object) -> tuple[str, ...]:
    """A JSON list read back from the trail, as strings (() otherwise)."""
    return tuple(str(v) for v in cast(list[object], value)) if isinstance(value, list) else ()


def _audit_text(e: Mapping[str, Any]) -> str:
    event = str(e.get("event"))
    if event in ("incident.detected", "incident.declared"):
        return f"{e.get('severity')} {e.get('title')}"
    if event in ("incident.status", "incident.severity"):
        return f"{e.get('before')} -> {e.get('after')}"
    if event == "incident.note":
        return str(e.get("text") or "")
    if event == "incident.ack":
        return f"acknowledged by {e.get('acknowledged_by')}"
    if event == "incident.reopened":
        return "reopened: still breaching"
    if event == "incident.resolved":
        return f"resolved by {e.get('by') or 'operator'}"
    return f"closed automatically: {e.get('reason') or 'healthy again'}"


def evaluate_once(cfg: Config, state: CockpitState, now: datetime | None = None) -> list[Finding]:
    """What breaches now, without hysteresis (a one-shot snapshot has no history)."""
    return evaluate_rules(state, cfg, now or utcnow())


def incidents_json(
    cfg: Config, state: CockpitState, now: datetime | None = None
) -> list[Mapping[str, Any]]:
    """`cockpit snapshot --json`'s incidents: rule, severity, title, status, detected_at,
    evidence."""
    now = now or utcnow()
    return [
        {
            "rule": f.rule,
            "key": f.key,
            "severity": f.severity,
            "title": f.title,
            "status": "Investigating",
            "detected_at": to_jsonable(now),
            "impact": f.impact,
            "affected": list(f.affected),
            "evidence": to_jsonable(dict(f.evidence)),
        }
        for f in evaluate_once(cfg, state, now)
    ]
