"""The incident record and its response clock (plain data, shared by the engine, comms and UI)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from cockpit.config import Config
from cockpit.incidents.runbook import RunbookEntry
from cockpit.incidents.severity import severity_rank

STATUSES = ("Investigating", "Identified", "Monitoring", "Resolved")


@dataclass(frozen=True)
class TimelineEntry:
    """One thing that happened to an incident."""

    at: datetime
    event: str  # detected, declared, severity, status, ack, note, resolved, closed
    text: str


@dataclass(frozen=True)
class Note:
    """An operator's note."""

    at: datetime
    author: str
    text: str


@dataclass(frozen=True)
class Incident:
    """One incident: detected by a rule (key set) or declared by an operator (declared=True)."""

    id: str  # "INC-20261127-0001"
    key: str  # the finding key; "" for a declared incident
    rule: str  # rule id / runbook entry id; "declared" when none applies
    title: str
    severity: str
    detected_at: datetime
    response_deadline: datetime
    status: str = "Investigating"
    evidence: Mapping[str, Any] = field(default_factory=dict[str, Any])
    impact: str = ""
    affected: tuple[str, ...] = ()
    runbook: RunbookEntry | None = None
    actions: tuple[str, ...] = ()
    context: Mapping[str, Any] = field(
        default_factory=dict[str, Any]
    )  # namespace, deployment, api_url
    acknowledged_by: str | None = None
    acknowledged_at: datetime | None = None
    notes: tuple[Note, ...] = ()
    timeline: tuple[TimelineEntry, ...] = ()
    declared: bool = False
    severity_set_by_operator: bool = False
    resolved_at: datetime | None = None

    @property
    def active(self) -> bool:
        """Not resolved yet."""
        return self.status != "Resolved"

    def age_seconds(self, now: datetime) -> float:
        """Seconds since detection."""
        return max((now - self.detected_at).total_seconds(), 0.0)

    def duration_seconds(self, now: datetime) -> float:
        """Seconds from detection to resolution (or to now while active)."""
        end = self.resolved_at or now
        return max((end - self.detected_at).total_seconds(), 0.0)


def linked_incident(incidents: Sequence[Incident], action_id: str) -> str | None:
    """The id of the one active incident that lists `action_id` among its fixes, else None
    (none, or several: then the action is not attributed to any of them by guess)."""
    listing = [i.id for i in incidents if i.active and action_id in i.actions]
    return listing[0] if len(listing) == 1 else None


def sort_key(incident: Incident) -> tuple[int, datetime]:
    """Worst severity first, then oldest first."""
    return severity_rank(incident.severity), incident.detected_at


def response_deadline(cfg: Config, severity: str, since: datetime) -> datetime:
    """`since` plus the response time of the severity (runbook: P1 15 min ... P4 24 h)."""
    return since + timedelta(minutes=cfg.response_minutes(severity))


def deadline_after_severity_change(
    cfg: Config, incident: Incident, new: str, at: datetime
) -> datetime:
    """The response deadline once the severity changes at `at`.

    Escalation: the new response time runs from the change, but never later than the deadline
    already set (a P2 that becomes P1 must be answered within 15 minutes of becoming P1, or
    sooner if the P2 clock was already shorter). De-escalation: the new response time runs from
    detection, and never earlier than the deadline already set (relaxing never shortens it).
    """
    if severity_rank(new) < severity_rank(incident.severity):
        return min(incident.response_deadline, response_deadline(cfg, new, at))
    return max(incident.response_deadline, response_deadline(cfg, new, incident.detected_at))


def countdown(incident: Incident, now: datetime) -> tuple[float, bool]:
    """(seconds left until the response deadline, overdue).

    The clock stops when the incident is acknowledged (the response happened) or resolved: the
    seconds left are then frozen at that moment, and overdue says whether the response was late.
    Seconds left are negative once overdue.
    """
    stops = [t for t in (incident.acknowledged_at, incident.resolved_at) if t is not None]
    reference = min(stops) if stops else now
    left = (incident.response_deadline - reference).total_seconds()
    return left, left < 0
