"""Communication templates: every field of the runbook's three templates filled from an incident
and its audit trail, with no "[placeholder]" left."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from cockpit.audit.log import AuditLog, read_entries
from cockpit.config import Config, IncidentsConfig
from cockpit.incidents.comms import initial_alert, render_template, resolution, status_update
from cockpit.incidents.engine import IncidentEngine
from cockpit.state import CockpitState
from tests.unit.incident_data import T0, db

CFG = Config(incidents=IncidentsConfig(open_after_samples=1, close_after_samples=1))
PLACEHOLDER = re.compile(r"\[(?! \]|x\])")  # "[ ]" and "[x]" are checkboxes, anything else is not


@pytest.fixture
def worked(tmp_path):
    """A P2 connection incident, acknowledged, identified, with kill-idle run for it."""
    now = [T0]
    audit = AuditLog(tmp_path / "audit.jsonl")
    engine = IncidentEngine(CFG, audit=audit, clock=lambda: now[0])
    state = CockpitState()
    state.update("database", db(idle=80, idle_old=31))
    [inc] = engine.evaluate(state, T0)
    now[0] = T0 + timedelta(minutes=3)
    engine.acknowledge(inc.id, "alice")
    engine.set_status(inc.id, "Identified", "alice")
    audit.record("intent", incident_id=inc.id, action="kill_idle", target="predictiq")
    audit.record(
        "result",
        incident_id=inc.id,
        action="kill_idle",
        target="predictiq",
        outcome="ok",
        message="terminated 31 idle connections",
    )
    engine.add_note(inc.id, "Root cause: pool size doubled in release 2.4", "alice")
    now[0] = T0 + timedelta(minutes=42)
    done = engine.resolve(inc.id, "alice")
    return done, read_entries(tmp_path / "audit.jsonl"), now[0]


def test_initial_alert(worked):
    inc, entries, now = worked
    text = initial_alert(inc, entries, now=now, notified=("#ops", "bob"))
    for line in (
        "🚨 INCIDENT ALERT",
        "Severity: P2",
        "Title: Database connection exhaustion",
        "Impact: New database connections are refused",
        "Affected: PostgreSQL, API",
        "- [x] Investigating root cause (acknowledged by alice)",
        "Notified: #ops, bob",
        "kill_idle predictiq: ok (terminated 31 idle connections)",
        "Next update in: 30 minutes",
    ):
        assert line in text
    assert not PLACEHOLDER.search(text)


def test_status_update(worked):
    inc, entries, now = worked
    text = status_update(inc, entries, now=now, eta="10 minutes")
    for line in (
        "📊 INCIDENT UPDATE",
        "Status: Resolved",
        "Title: Database connection exhaustion",
        "84 of 100 connections (84 %)",
        "31 idle > 10 min",
        "ETA: 10 minutes",
    ):
        assert line in text
    # the audit log stamps its own (wall clock) time on the action
    assert re.search(
        r"What we're doing: \d{4}-\d\d-\d\d \d\d:\d\d UTC kill_idle predictiq: ok "
        r"\(terminated 31 idle connections\)",
        text,
    )
    assert not PLACEHOLDER.search(text)


def test_resolution(worked):
    inc, entries, now = worked
    text = resolution(inc, entries, now=now)
    for line in (
        "✅ INCIDENT RESOLVED",
        "Duration: 2026-11-27 09:00 UTC - 2026-11-27 09:42 UTC (42m)",
        "Severity: P2",
        "Root cause: pool size doubled in release 2.4",
        f"Post-mortem: cockpit audit export --incident {inc.id} --format markdown",
    ):
        assert line in text
    assert re.search(r"Fix applied: \S+ \S+ UTC kill_idle predictiq: ok", text)
    assert not PLACEHOLDER.search(text)


def test_templates_of_a_fresh_declared_incident_have_no_placeholders():
    engine = IncidentEngine(CFG, clock=lambda: T0)
    inc = engine.declare("Users cannot log in", "P1")
    for kind in ("initial", "update", "resolution"):
        text = render_template(kind, inc, [], now=T0 + timedelta(minutes=5))
        assert not PLACEHOLDER.search(text), text
        assert "Users cannot log in" in text
    assert "Next update in: 15 minutes" in render_template("initial", inc, [], now=T0)
    with pytest.raises(ValueError):
        render_template("tweet", inc, [])
