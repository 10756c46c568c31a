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
Resolved incidents stay listed for 24 h (`recent`), so their detail and post-mortem stay one
`enter` away.

Restart-proof: at start the engine takes its state from the audit trail (AuditLog.restore: the
checkpoint, then the entries after it, through cockpit.incidents.replay): open incidents come
back with the same id, response clock, acknowledgement, status, operator severity and notes, and
a restored incident whose finding still breaches keeps its id (its key is known, so the next
breaching sample follows it instead of opening another). Entries carry the engine's own time
(`at`) and response deadline (`deadline`), so the restored clock is the same clock. An action
intent whose cockpit died is recorded `result: unknown (the cockpit that ran it ended)` and
listed in `interrupted` until an operator acknowledges it. `apply_entry` applies an entry
written elsewhere (another cockpit's, in team mode) with the same replay function.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, cast

from cockpit.config import Config
from cockpit.incidents.ids import IncidentIds
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
from cockpit.incidents.replay import (
    INTERRUPTED_ACK,
    UNKNOWN_ENDED,
    IncidentBook,
    Interrupted,
    apply_to_incident,
    intent_key,
)
from cockpit.incidents.rules import RULES, Finding, evaluate_rules
from cockpit.incidents.runbook import Runbook, load_runbook
from cockpit.incidents.severity import SEVERITIES
from cockpit.incidents.trail import Trail
from cockpit.incidents.watch import IncidentWatch
from cockpit.models import DeploymentInfo, to_jsonable, utcnow
from cockpit.state import CockpitState

log = logging.getLogger("cockpit.incidents")

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
        audit: Trail | None = None,
        clock: Callable[[], datetime] = utcnow,
        runbook: Runbook | None = None,
        ids: IncidentIds | None = None,
        watches: Sequence[IncidentWatch] = (),
    ) -> None:
        self.cfg = cfg
        self.watches: list[IncidentWatch] = list(watches)  # told after every change (the pager)
        self.watch_error: str | None = None  # the last failure of a watch (it logs its own)
        self.audit = audit
        self.ids = ids  # team mode: the store numbers incidents and shares them
        self.clock = clock
        self.runbook = runbook or load_runbook(cfg.incidents.runbook_path or None)
        self.audit_error: str | None = None
        # the rules that raised in the last evaluation (rule id -> exception): contained there,
        # the other rules evaluated; the app says so on the incident pane and logs it
        self.rule_failures: dict[str, Exception] = {}
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
        self.interrupted: list[Interrupted] = []  # actions whose cockpit ended, unacknowledged
        self._entries: dict[str, list[dict[str, Any]]] = {}  # incident id -> this session's
        self._older_read: set[str] = set()  # incidents whose earlier entries were read back
        self.restored_from: str | None = None  # "checkpoint" / "log" / None (no audit log)
        self._restore()
        if self.audit is not None:
            self.audit.listeners.append(self._observe)

    # ------------------------------------------------------------------ ids and audit
    def _restore(self) -> None:
        """Take up the state the audit trail holds: id counters, open incidents, incidents
        resolved in the last 24 h, actions interrupted by a cockpit's death."""
        if self.audit is None:
            return
        try:
            restored = self.audit.restore(self.clock() - RECENT, self.cfg)
        except Exception:  # a damaged trail must not stop the engine (verify reports it)
            log.exception("could not restore the incidents from the audit log")
            self.audit_error = "could not restore the incidents from the audit log"
            return
        self.restored_from = "log" if restored.rebuilt_because else "checkpoint"
        self._adopt(restored.book)
        try:
            settled = self.audit.settle_interrupted()
        except Exception as exc:  # the trail is unwritable: say so, detection goes on
            log.exception("could not record the interrupted actions")
            self.audit_error = f"interrupted actions not recorded: {exc}"
            settled = []
        for entry in settled:
            self.apply_entry(entry)

    def _adopt(self, book: IncidentBook) -> None:
        self._counters.update(book.counters)
        since = self.clock() - RECENT
        for inc in book.open.values():
            self._open[inc.id] = self._dress(inc)
            if inc.key:
                self._key_to_id[inc.key] = inc.id
                self._streaks.setdefault(inc.key, _Streak(inc.rule))  # so it can close again
        closed = [
            self._dress(i)
            for i in book.closed.values()
            if i.resolved_at is not None and i.resolved_at >= since
        ]
        self.closed.extend(sorted(closed, key=lambda i: i.resolved_at or since))
        self.interrupted = list(book.interrupted.values())

    def _dress(self, inc: Incident) -> Incident:
        """A replayed incident with what the trail does not hold: its runbook entry, its fixes
        and (for entries written before the context was recorded) the configured context."""
        entry = self.runbook.entry(inc.rule) if inc.rule != "declared" else None
        spec_actions = next((s.actions for s in RULES if s.rule == inc.rule), ())
        actions = entry.actions if entry and entry.actions else spec_actions
        return replace(
            inc,
            runbook=entry,
            actions=inc.actions or actions,
            context=inc.context or _context(self.cfg, self._namespace),
        )

    def apply_entry(self, entry: Mapping[str, Any]) -> str | None:
        """Apply an audit entry this engine did not make (another cockpit's, or one recorded at
        start for an interrupted action) to the incidents it shows; the id of the incident it
        changed, or None. Uses the same replay function as the start-up."""
        incident_id = str(entry.get("incident_id") or "")
        event = str(entry.get("event") or "")
        if event == "result" and entry.get("outcome") == "unknown":
            self._note_interrupted(entry)
        if event == INTERRUPTED_ACK:
            keys = set(cast(list[str], entry.get("intent_keys") or []))
            self.interrupted = [i for i in self.interrupted if i.key not in keys]
        m = _ID.match(incident_id)
        if not m:
            return None
        self._counters[m.group(1)] = max(self._counters.get(m.group(1), 0), int(m.group(2)))
        self._entries.setdefault(incident_id, []).append(dict(entry))
        current = self._open.get(incident_id) or next(
            (i for i in self.closed if i.id == incident_id), None
        )
        if current is not None and event in ("incident.detected", "incident.declared"):
            return None
        changed = apply_to_incident(current, entry, self.cfg)
        if changed is None or changed is current:
            return None
        if current is None:
            changed = self._dress(changed)
        self._place(changed)
        return incident_id

    def _place(self, inc: Incident) -> None:
        """Put an incident where its status says: open (keyed by its finding) or closed."""
        self.closed = [i for i in self.closed if i.id != inc.id]
        if inc.active:
            self._open[inc.id] = inc
            if inc.key:
                self._key_to_id[inc.key] = inc.id
                self._streaks.setdefault(inc.key, _Streak(inc.rule))
        else:
            self._open.pop(inc.id, None)
            if inc.key and self._key_to_id.get(inc.key) == inc.id:
                del self._key_to_id[inc.key]
            self.closed.append(inc)

    def _note_interrupted(self, entry: Mapping[str, Any]) -> None:
        if entry.get("message") != UNKNOWN_ENDED:
            return
        session = str(entry.get("intent_session") or entry.get("session") or "")
        seq = entry.get("intent_seq")
        key = intent_key(session, seq if isinstance(seq, int) else -1)
        if any(i.key == key for i in self.interrupted):
            return
        self.interrupted.append(
            Interrupted(
                key=key,
                action=str(entry.get("action") or ""),
                target=str(entry.get("target") or ""),
                incident_id=str(entry.get("incident_id") or "") or None,
                at=_when(entry),
            )
        )

    def _observe(self, entry: dict[str, Any]) -> None:
        """Every entry this session's audit log writes: kept for the incident's templates, and
        action intents and results added to their incident's timeline."""
        event = str(entry.get("event") or "")
        incident_id = str(entry.get("incident_id") or "")
        if event in ("intent", "result") and incident_id:
            self.apply_entry(entry)
        elif _ID.match(incident_id):
            self._entries.setdefault(incident_id, []).append(entry)

    def entries_of(self, incident_id: str) -> list[dict[str, Any]]:
        """The audit entries about one incident, oldest first, without reading the whole log:
        those written before this start are read where the checkpoint says they are (once),
        then this session's."""
        older: list[dict[str, Any]] = []
        if self.audit is not None and incident_id not in self._older_read:
            self._older_read.add(incident_id)
            try:
                older = self.audit.incident_entries(incident_id)
            except Exception:  # an unreadable log: the templates say what they have
                log.exception("could not read the entries of %s", incident_id)
        mine = self._entries.get(incident_id, [])
        if older:
            seen = {(e.get("session"), e.get("seq")) for e in older}
            mine = older + [e for e in mine if (e.get("session"), e.get("seq")) not in seen]
            self._entries[incident_id] = mine
        return list(mine)

    def acknowledge_interrupted(self, operator: str | None = None) -> list[Interrupted]:
        """The operator has seen the interrupted actions: recorded, and no longer shown.
        Raises AuditError when the acknowledgement cannot be written."""
        seen = list(self.interrupted)
        if not seen:
            return []
        self._record(
            INTERRUPTED_ACK,
            strict=True,
            intent_keys=[i.key for i in seen],
            actions=[f"{i.action} {i.target}".strip() for i in seen],
            by=operator,
        )
        keys = {i.key for i in seen}
        self.interrupted = [i for i in self.interrupted if i.key not in keys]
        return seen

    def _new_id(self, at: datetime) -> str:
        day = at.strftime("%Y%m%d")
        self._counters[day] = self._counters.get(day, 0) + 1
        return f"INC-{day}-{self._counters[day]:04d}"

    def _count_id(self, incident_id: str) -> None:
        """Number later incidents past this one (an id the team store gave, or another's)."""
        m = _ID.match(incident_id)
        if m:
            self._counters[m.group(1)] = max(self._counters.get(m.group(1), 0), int(m.group(2)))

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
        failed: dict[str, Exception] = {}
        found = evaluate_rules(state, self.cfg, now, failed)
        self.rule_failures = failed
        findings: dict[str, Finding] = {f.key: f for f in found}
        for spec in RULES:
            if spec.rule in failed:  # no verdict this time: its incidents stay as they are
                continue
            sampled = bool(fresh.intersection(spec.sources)) and not any(
                state.failure(s) for s in spec.data_sources
            )
            keys = {k for k, f in findings.items() if f.rule == spec.rule}
            keys |= {k for k, s in self._streaks.items() if s.rule == spec.rule}
            for key in sorted(keys):
                self._step(key, spec.rule, findings.get(key), sampled, now)
        self._tell_watches(now)
        return self.active()

    # ------------------------------------------------------------------ watches
    def watch(self, watch: IncidentWatch) -> None:
        """Tell `watch` (the pager) about the incidents after every change and tick."""
        self.watches.append(watch)

    def tick(self, now: datetime | None = None) -> None:
        """Time passed with nothing else happening: the watches may have something due."""
        self._tell_watches(now or self.clock())

    def _tell_watches(self, now: datetime) -> None:
        if not self.watches:
            return
        active, resolved = self.active(), tuple(self.closed)
        for watch in self.watches:
            try:
                watch.review(active, resolved, now)
            except Exception as exc:  # a watch must never stop detection or an operator step
                self.watch_error = f"{type(watch).__name__}: {type(exc).__name__}: {exc}"

    def add_timeline(self, incident_id: str, event: str, text: str, at: datetime) -> None:
        """A line in an incident's timeline from outside the engine (a page sent or failed);
        not audited here: whoever reports it records its own audit entry. An unknown id is
        ignored (the incident may have aged out)."""
        line = TimelineEntry(at, event, text)
        if incident_id in self._open:
            inc = self._open[incident_id]
            self._open[incident_id] = replace(inc, timeline=inc.timeline + (line,))
            return
        for n, inc in enumerate(self.closed):
            if inc.id == incident_id:
                self.closed[n] = replace(inc, timeline=inc.timeline + (line,))
                return

    def _step(
        self, key: str, rule: str, finding: Finding | None, sampled: bool, now: datetime
    ) -> None:
        streak = self._streaks.setdefault(key, _Streak(rule))
        if sampled:
            if finding:
                streak.breaching, streak.healthy = streak.breaching + 1, 0
            else:
                streak.breaching, streak.healthy = 0, streak.healthy + 1
        incident_id = self._key_to_id.get(key) or self._twin(key)
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
                self._open_or_attach(finding, now)
            elif not finding and streak.breaching == 0:
                del self._streaks[key]
            return
        if finding:
            self._follow(incident_id, finding, now)
        elif streak.healthy >= self.cfg.incidents.close_after_samples:
            self._close(incident_id, now, f"healthy for {streak.healthy} samples")
            while (twin := self._twin(key)) is not None:  # the same finding's other incidents
                self._close(twin, now, f"healthy for {streak.healthy} samples")

    def _twin(self, key: str) -> str | None:
        """An open incident of this finding that no key maps to. Two cockpits sharing one trail
        (one jump host, one user) can each open one for the same finding; restored side by side,
        only one is keyed, and the other must still follow and close with the finding."""
        twin = next((i.id for i in self._open.values() if i.key == key and not i.declared), None)
        if twin is not None:
            self._key_to_id[key] = twin
        return twin

    def _open_or_attach(self, f: Finding, now: datetime) -> None:
        """Open the finding's incident: numbered here when alone (or the store is away), else
        the one the team store says (ours, or another cockpit's that we attach to)."""
        if self.ids is None:
            self._open_incident(f, now, self._new_id(now))
            return
        claim = self.ids.finding(f.rule, f.key, now.strftime("%Y%m%d"))
        if claim.state == "pending":
            return  # the store is being asked: a later evaluation opens or attaches
        if claim.state == "offline":
            self._open_incident(f, now, self._new_id(now))
            return
        self._count_id(claim.incident_id)
        if claim.incident_id in self._open:  # another cockpit's, already applied here
            self._key_to_id[f.key] = claim.incident_id
            return
        # ours, or theirs not arrived yet: opened here under the team's id (the trail's
        # second announcement of one incident is ignored when replayed)
        self._open_incident(f, now, claim.incident_id)

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

    def _open_incident(self, f: Finding, now: datetime, incident_id: str) -> None:
        entry = self.runbook.entry(f.rule)
        spec_actions = next((s.actions for s in RULES if s.rule == f.rule), ())
        inc = Incident(
            id=incident_id,
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
            at=_iso(now),
            deadline=_iso(inc.response_deadline),
            context=to_jsonable(dict(inc.context)),
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
            changed = self._with_severity(inc, wanted, now, "auto")
            self._record(
                "incident.severity",
                strict=False,
                incident_id=inc.id,
                auto=True,
                before=inc.severity,
                after=wanted,
                evidence=to_jsonable(dict(f.evidence)),
                at=_iso(now),
                deadline=_iso(changed.response_deadline),
            )
            inc = changed
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
            at=_iso(now),
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
            at=_iso(now),
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
        self._record(
            "incident.ack", strict=True, incident_id=inc.id, acknowledged_by=operator, at=_iso(now)
        )
        inc = replace(
            inc,
            acknowledged_by=operator,
            acknowledged_at=inc.acknowledged_at or now,
            timeline=inc.timeline + (TimelineEntry(now, "ack", f"acknowledged by {operator}"),),
        )
        self._open[incident_id] = inc
        self._tell_watches(now)
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
            at=_iso(now),
        )
        inc = replace(
            inc,
            status=status,
            timeline=inc.timeline + (TimelineEntry(now, "status", f"{inc.status} -> {status}"),),
        )
        self._open[incident_id] = inc
        self._tell_watches(now)
        return inc

    def set_severity(
        self, incident_id: str, severity: str, operator: str | None = None
    ) -> Incident:
        """The operator's severity: it stands until the rule sees something worse."""
        if severity not in SEVERITIES:
            raise ValueError(f"unknown severity {severity!r} (one of {', '.join(SEVERITIES)})")
        inc, now = self._active(incident_id), self.clock()
        changed = replace(
            self._with_severity(inc, severity, now, operator or "operator"),
            severity_set_by_operator=True,
        )
        self._record(
            "incident.severity",
            strict=True,
            incident_id=inc.id,
            auto=False,
            before=inc.severity,
            after=severity,
            by=operator,
            at=_iso(now),
            deadline=_iso(changed.response_deadline),
        )
        inc = changed
        self._open[incident_id] = inc
        self._tell_watches(now)
        return inc

    def add_note(self, incident_id: str, text: str, operator: str | None = None) -> Incident:
        """Append a note to the incident and the audit trail."""
        text = text.strip()
        if not text:
            raise ValueError("an empty note")
        inc, now = self._active(incident_id), self.clock()
        self._record(
            "incident.note", strict=True, incident_id=inc.id, text=text, by=operator, at=_iso(now)
        )
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
        team_id = self.ids.declared(now.strftime("%Y%m%d")) if self.ids is not None else None
        if team_id:
            self._count_id(team_id)
        inc = Incident(
            id=team_id or self._new_id(now),
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
            at=_iso(now),
            deadline=_iso(inc.response_deadline),
            context=to_jsonable(dict(inc.context)),
        )
        self._open[inc.id] = inc
        self._tell_watches(now)
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
            at=_iso(now),
        )
        inc = self._finish(
            incident_id,
            now,
            "resolved",
            f"resolved by {operator or 'operator'}" + (f": {summary}" if summary else ""),
        )
        self._tell_watches(now)
        return inc

    # ------------------------------------------------------------------ team mode
    def apply_remote(self, entries: list[dict[str, Any]]) -> list[str]:
        """Apply other cockpits' entries (from the team store) with `apply_entry`; the ids of
        the incidents they changed. Nothing is written to the local trail: those entries are
        in their own cockpits' trails and in the store."""
        return self.apply_remote_marked([(e, False) for e in entries])

    def apply_remote_marked(self, items: list[tuple[dict[str, Any], bool]]) -> list[str]:
        """`apply_remote` over (entry, own) pairs: an entry of this cockpit's own trail (from
        the store's history of the open incidents) is applied only to an incident this engine
        did not have before the batch (it attached to another's; its own steps are in its
        trail, the opening is not), so nothing restored from the trail is applied twice."""
        known = set(self._open) | {i.id for i in self.closed}
        changed: list[str] = []
        for e, own in items:
            if own and str(e.get("incident_id") or "") in known:
                continue
            if not own and e.get("event") == "incident.severity" and e.get("auto") is not False:
                # each cockpit follows the evidence itself: another's automatic change applied
                # here would be undone by the next evaluation, and back again over there
                continue
            try:
                incident_id = self.apply_entry(e)
            except Exception:  # one odd entry from another cockpit must not stop the rest
                self.audit_error = f"could not apply a team entry ({e.get('event')})"
                continue
            if incident_id:
                changed.append(incident_id)
        return changed


def _iso(when: datetime) -> str:
    """A time as the trail's `at`/`deadline` fields hold it."""
    return when.isoformat()


def _when(entry: Mapping[str, Any]) -> datetime | None:
    try:
        return datetime.fromisoformat(str(entry.get("time", "")).replace("Z", "+00:00"))
    except ValueError:
        return None


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
