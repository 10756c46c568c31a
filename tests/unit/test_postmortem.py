"""The post-mortem export reproduces a known timeline from audit entries alone."""

from __future__ import annotations

from cockpit.audit.log import AuditLog, read_entries
from cockpit.incidents.postmortem import render_postmortem

ID = "INC-20261127-0003"
OP = {"login": "alice", "uid": 1000}

# a known timeline, as the engine and the executor write it (time and operator by the log)
KNOWN = [
    {
        "time": "2026-11-27T09:00:00Z",
        "event": "incident.detected",
        "incident_id": ID,
        "operator": OP,
        "rule": "connection_exhaustion",
        "severity": "P2",
        "title": "Database connection exhaustion",
        "impact": "API answers 503",
        "affected": ["PostgreSQL", "API"],
        "evidence": {"total": 84, "idle_over_threshold": 31},
    },
    {
        "time": "2026-11-27T09:01:00Z",
        "event": "incident.detected",
        "incident_id": "INC-OTHER",
        "severity": "P4",
        "title": "not this one",
    },
    {
        "time": "2026-11-27T09:02:00Z",
        "event": "incident.severity",
        "incident_id": ID,
        "auto": True,
        "before": "P2",
        "after": "P1",
    },
    {
        "time": "2026-11-27T09:03:00Z",
        "event": "incident.ack",
        "incident_id": ID,
        "operator": OP,
        "acknowledged_by": "alice",
    },
    {
        "time": "2026-11-27T09:04:00Z",
        "event": "incident.status",
        "incident_id": ID,
        "operator": OP,
        "before": "Investigating",
        "after": "Identified",
    },
    {
        "seq": 7,
        "time": "2026-11-27T09:05:00Z",
        "event": "intent",
        "incident_id": ID,
        "action": "kill_idle",
        "target": "predictiq",
    },
    {
        "time": "2026-11-27T09:05:02Z",
        "event": "result",
        "incident_id": ID,
        "intent_seq": 7,
        "action": "kill_idle",
        "target": "predictiq",
        "outcome": "ok",
        "message": "terminated 31 idle connections",
    },
    {
        "seq": 9,
        "time": "2026-11-27T09:06:00Z",
        "event": "intent",
        "incident_id": ID,
        "action": "scale",
        "target": "predictiq-api",
    },
    {
        "time": "2026-11-27T09:07:00Z",
        "event": "incident.note",
        "incident_id": ID,
        "operator": OP,
        "text": "Root cause: pool | size doubled",
    },
    {
        "time": "2026-11-27T09:20:00Z",
        "event": "incident.closed",
        "incident_id": ID,
        "reason": "healthy for 3 samples",
    },
]


def test_postmortem_reproduces_the_timeline():
    md = render_postmortem(ID, KNOWN)
    assert md.startswith(f"# Post-mortem: Database connection exhaustion ({ID})")
    table = md.split("## Timeline")[1].split("## Actions taken")[0]
    rows = [line for line in table.splitlines() if line.startswith("| 2026")]
    assert rows == [
        (
            "| 2026-11-27T09:00:00Z | Detected | P2 Database connection exhaustion "
            "(connection_exhaustion): total 84, idle_over_threshold 31 |"
        ),
        "| 2026-11-27T09:02:00Z | Severity | P2 -> P1 (automatic) |",
        "| 2026-11-27T09:03:00Z | Acknowledged | by alice |",
        "| 2026-11-27T09:04:00Z | Status | Investigating -> Identified (alice) |",
        (
            "| 2026-11-27T09:05:02Z | Action | 2026-11-27 09:05 UTC kill_idle predictiq: "
            "ok (terminated 31 idle connections) |"
        ),
        (
            "| 2026-11-27T09:06:00Z | Action | scale predictiq-api: "
            "started, no result recorded (outcome unknown) |"
        ),
        "| 2026-11-27T09:07:00Z | Note | alice: Root cause: pool \\| size doubled |",
        "| 2026-11-27T09:20:00Z | Closed | automatically: healthy for 3 samples |",
    ]
    assert "- **Severity:** P2 at detection, highest P1" in md
    assert "- **Duration:** 20m" in md
    assert "- **Affected:** PostgreSQL, API" in md
    assert "## Root cause\n\npool | size doubled" in md
    assert "not this one" not in md


def test_postmortem_from_a_real_audit_log(tmp_path):
    log = AuditLog(tmp_path / "audit.jsonl")
    log.record(
        "incident.declared",
        incident_id=ID,
        severity="P1",
        title="Bets fail",
        by="bob",
        rule="declared",
        impact="EU users",
        affected=["API"],
    )
    log.record("incident.resolved", incident_id=ID, by="bob", summary="rolled back")
    md = render_postmortem(ID, read_entries(tmp_path / "audit.jsonl"))
    assert "| Declared | P1 Bets fail by bob |" in md
    assert "| Resolved | by bob: rolled back |" in md
    assert "- **Source:** declared by bob" in md


def test_postmortem_of_an_unknown_incident_says_so():
    md = render_postmortem("INC-20990101-0001", KNOWN)
    assert "no audit entries for this incident" in md and "still open at export" in md
