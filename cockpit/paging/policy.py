"""When an incident is paged: a P1 or P2 still unacknowledged `after_minutes` after it became
one.

The clock starts when the incident became P1 or P2: at detection (or declaration) for one that
opened so, at the escalation for one that opened as P3/P4 and got worse (the response deadline
of an escalation runs from the escalation too, see model.deadline_after_severity_change). A
de-escalation below P2 before the page is due stops the clock; a later escalation starts it
again. `after_minutes` left out of the config means half the incident's response clock at its
current severity (P1 15 min: paged after 7.5 min); 0 pages at once.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from cockpit.incidents.model import Incident

PAGED_SEVERITIES = ("P1", "P2")
_CHANGE = re.compile(r"^(P\d)\s*->\s*(P\d)\b")  # a severity line: "P3 -> P1 (auto)"


def urgent_since(incident: Incident) -> datetime | None:
    """When the incident last became P1/P2 (detection, or the escalation), or None if it is not
    P1/P2 now."""
    if incident.severity not in PAGED_SEVERITIES:
        return None
    since = incident.detected_at
    for line in incident.timeline:
        m = _CHANGE.match(line.text) if line.event == "severity" else None
        if m and m.group(1) not in PAGED_SEVERITIES and m.group(2) in PAGED_SEVERITIES:
            since = max(since, line.at)
    return since


def page_delay(after_minutes: float | None, response_minutes: int) -> timedelta:
    """How long after `urgent_since` the page is due."""
    minutes = response_minutes / 2 if after_minutes is None else after_minutes
    return timedelta(minutes=max(minutes, 0.0))


def page_due_at(
    incident: Incident, after_minutes: float | None, response_minutes: int
) -> datetime | None:
    """When the trigger is due, or None when this incident is not to be paged now (not P1/P2,
    acknowledged, or resolved)."""
    if not incident.active or incident.acknowledged_at is not None:
        return None
    since = urgent_since(incident)
    if since is None:
        return None
    return since + page_delay(after_minutes, response_minutes)


def page_due(
    incident: Incident, now: datetime, after_minutes: float | None, response_minutes: int
) -> bool:
    """Whether the trigger is due at `now`."""
    due = page_due_at(incident, after_minutes, response_minutes)
    return due is not None and now >= due
