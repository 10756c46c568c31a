"""What a page says: the PagerDuty Events API v2 body and the generic webhook's JSON body.

Pure functions of an incident (no I/O). The Events v2 trigger carries `dedup_key` = the
incident id, so the cockpit's acknowledge and resolve name the same alert, and PagerDuty merges
a repeated trigger into it. The routing key goes only into the PagerDuty body, never elsewhere.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from cockpit.audit.log import scrub
from cockpit.incidents.model import Incident
from cockpit.models import to_jsonable
from cockpit.paging.claim import PageEvent

PAGERDUTY_SEVERITY: Mapping[str, str] = {
    "P1": "critical",
    "P2": "error",
    "P3": "warning",
    "P4": "info",
}
SUMMARY_MAX = 1024  # PagerDuty's limit on payload.summary, in characters
DEDUP_KEY_MAX = 255
DETAILS_MAX_BYTES = 64 * 1024  # evidence beyond this is replaced by a note (events are ≤ 512 KB)
CLIENT = "PredictIQ Cockpit"
WEBHOOK_SCHEMA = "predictiq-cockpit.page/v1"

TARGET_NAMES: Mapping[str, str] = {"pagerduty": "PagerDuty", "webhook": "the webhook"}


def pagerduty_severity(severity: str) -> str:
    """P1 critical, P2 error, P3 warning, P4 info (anything else: info)."""
    return PAGERDUTY_SEVERITY.get(severity, "info")


def summary(incident: Incident) -> str:
    """One line for the pager: severity, title, impact; at most 1,024 characters."""
    text = f"{incident.severity} {incident.title}"
    if incident.impact:
        text += f" — {incident.impact}"
    text = " ".join(text.split()) or incident.id  # one line: no newlines or runs of spaces
    return text if len(text) <= SUMMARY_MAX else text[: SUMMARY_MAX - 1] + "…"


def details(incident: Incident) -> dict[str, Any]:
    """The evidence, JSON-ready with secrets masked, capped in size (a note says what was cut)."""
    evidence: Any = scrub(dict(incident.evidence))
    size = len(json.dumps(evidence, ensure_ascii=False, default=str).encode())
    if size > DETAILS_MAX_BYTES:
        keys = sorted(str(k) for k in incident.evidence)
        return {"note": f"evidence too large to page ({size} bytes): see the cockpit", "keys": keys}
    return evidence


def pagerduty_body(
    event: PageEvent, incident: Incident, routing_key: str, source: str
) -> dict[str, Any]:
    """The Events API v2 body: a trigger with its payload, or an acknowledge / resolve."""
    body: dict[str, Any] = {
        "routing_key": routing_key,
        "event_action": event,
        "dedup_key": incident.id[:DEDUP_KEY_MAX],
    }
    if event == "trigger":
        body["client"] = CLIENT
        body["payload"] = {
            "summary": summary(incident),
            "source": source,
            "severity": pagerduty_severity(incident.severity),
            "timestamp": _iso(incident.detected_at),
            "component": str(incident.context.get("deployment") or "") or None,
            "group": str(incident.context.get("namespace") or "") or None,
            "class": incident.rule,
            "custom_details": details(incident),
        }
        body["payload"] = {k: v for k, v in body["payload"].items() if v is not None}
    return body


def webhook_body(
    event: PageEvent, incident: Incident, source: str, sent_at: datetime
) -> dict[str, Any]:
    """The generic webhook's body: the same facts as the PagerDuty event, flat and named."""
    return {
        "schema": WEBHOOK_SCHEMA,
        "event": event,
        "dedup_key": incident.id[:DEDUP_KEY_MAX],
        "incident_id": incident.id,
        "severity": incident.severity,
        "pagerduty_severity": pagerduty_severity(incident.severity),
        "summary": summary(incident),
        "source": source,
        "title": incident.title,
        "rule": incident.rule,
        "status": incident.status,
        "impact": incident.impact,
        "affected": list(incident.affected),
        "namespace": incident.context.get("namespace"),
        "deployment": incident.context.get("deployment"),
        "detected_at": _iso(incident.detected_at),
        "response_deadline": _iso(incident.response_deadline),
        "acknowledged_by": incident.acknowledged_by,
        "acknowledged_at": _iso(incident.acknowledged_at),
        "resolved_at": _iso(incident.resolved_at),
        "details": details(incident),
        "sent_at": _iso(sent_at),
    }


def _iso(at: datetime | None) -> str | None:
    return None if at is None else str(to_jsonable(at))
