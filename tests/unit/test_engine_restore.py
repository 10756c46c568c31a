"""Restart mid-incident: the next engine on the same audit log shows the same incidents (same id,
same clock, same acknowledgement, status, severity and notes), from the checkpoint when it can
and from the whole log when the checkpoint cannot be trusted (and cockpit.log says why)."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from cockpit.applog import configure
from cockpit.audit.checkpoint import checkpoint_path
from cockpit.audit.log import AuditLog, read_entries, verify
from cockpit.incidents.engine import IncidentEngine
from tests.unit.incident_data import T0, db
from tests.unit.test_engine import CFG, CLOSE, OPEN, Run


def _engine(tmp_path: Path, now: list) -> IncidentEngine:
    return IncidentEngine(CFG, audit=AuditLog(tmp_path / "audit.jsonl"), clock=lambda: now[0])


def _mid_incident(tmp_path: Path) -> tuple[Run, str, str]:
    """A detected incident acknowledged, moved on, re-graded and noted; a declared one."""
    now: list = [T0]
    run = Run(_engine(tmp_path, now), now=now)
    [inc] = run.feed(("database", db(idle=80)), times=OPEN)
    e = run.engine
    run.now[0] += timedelta(seconds=40)
    e.acknowledge(inc.id, "alice")
    e.set_status(inc.id, "Identified", "alice")
    e.set_severity(inc.id, "P1", "alice")
    e.add_note(inc.id, "pool leak in the API", "alice")
    declared = e.declare("users report slow search", "P3", operator="bob")
    return run, inc.id, declared.id


def test_a_restarted_engine_shows_the_same_incident_with_the_same_clock_and_notes(tmp_path):
    run, incident_id, declared_id = _mid_incident(tmp_path)
    before = run.engine.get(incident_id)
    run.now[0] += timedelta(minutes=3)  # the SSH drop, the restart
    later = _engine(tmp_path, run.now)
    after = later.get(incident_id)
    assert later.restored_from == "checkpoint"
    assert after.id == before.id and after.active
    assert after.detected_at == before.detected_at
    assert after.response_deadline == before.response_deadline
    assert later.countdown(after) == run.engine.countdown(before, run.now[0])
    assert (after.acknowledged_by, after.acknowledged_at) == ("alice", before.acknowledged_at)
    assert after.status == "Identified"
    assert (after.severity, after.severity_set_by_operator) == ("P1", True)
    assert after.notes == before.notes
    assert [(t.event, t.text) for t in after.timeline] == [
        (t.event, t.text) for t in before.timeline
    ]
    assert after.runbook is not None and after.actions == before.actions
    assert after.context == before.context
    declared = later.get(declared_id)
    assert declared.declared and declared.active and declared.title == "users report slow search"
    assert [i.id for i in later.active()] == [i.id for i in run.engine.active()]


def test_a_restored_incident_still_breaching_keeps_its_id_and_closes_when_healthy(tmp_path):
    run, incident_id, _ = _mid_incident(tmp_path)
    later = Run(_engine(tmp_path, run.now), state=run.state, now=run.now)
    active = later.feed(("database", db(idle=80)), times=OPEN + 2)
    assert [i.id for i in active if not i.declared] == [incident_id]  # no duplicate
    assert later.engine.get(incident_id).severity == "P1"  # the operator's call stands
    detected = [
        e for e in read_entries(tmp_path / "audit.jsonl") if e["event"] == "incident.detected"
    ]
    assert len(detected) == 1
    later.feed(("database", db(idle=5)), times=CLOSE)
    assert later.engine.get(incident_id).status == "Resolved"
    # and a third start finds it resolved, listed among the recent ones, and new ids continue
    third = _engine(tmp_path, run.now)
    assert incident_id in [i.id for i in third.recent()]
    assert all(i.id != incident_id for i in third.active())
    new = third.declare("another", "P4")
    assert new.id == "INC-20261127-0003"  # after the detected 0001 and the declared 0002


def test_start_reads_only_the_entries_after_the_checkpoint(tmp_path):
    run, incident_id, _ = _mid_incident(tmp_path)
    audit = AuditLog(tmp_path / "audit.jsonl")
    restored = audit.restore(run.now[0] - timedelta(hours=24), CFG)
    assert restored.rebuilt_because is None and restored.read == 0
    assert incident_id in restored.book.open
    # a writer that keeps no checkpoint (an older cockpit): the next start catches up from it
    cp = json.loads(checkpoint_path(audit.path).read_text())
    AuditLog(tmp_path / "audit.jsonl").record(
        "incident.note", incident_id=incident_id, text="written meanwhile", by="carol"
    )
    checkpoint_path(audit.path).write_text(json.dumps(cp))  # put the older checkpoint back
    later = _engine(tmp_path, run.now)
    assert later.restored_from == "checkpoint"
    assert [n.text for n in later.get(incident_id).notes][-1] == "written meanwhile"


def test_a_corrupt_checkpoint_is_rebuilt_from_the_log_and_cockpit_log_says_so(tmp_path):
    run, incident_id, _ = _mid_incident(tmp_path)
    app_log = configure(tmp_path / "cockpit.log")
    try:
        for damage in ("{not json", json.dumps({"version": 1, "position": [1, 7]}), ""):
            checkpoint_path(tmp_path / "audit.jsonl").write_text(damage)
            later = _engine(tmp_path, run.now)
            assert later.restored_from == "log"
            inc = later.get(incident_id)
            assert (inc.acknowledged_by, inc.status, inc.severity) == ("alice", "Identified", "P1")
            assert [n.text for n in inc.notes] == ["pool leak in the API"]
        text = (tmp_path / "cockpit.log").read_text()
        assert "audit checkpoint" in text and "rebuilt from the log" in text
        assert "not JSON" in text and "damaged" in text
        # rebuilt, it is trusted again at the next start
        assert _engine(tmp_path, run.now).restored_from == "checkpoint"
    finally:
        app_log.close()


def test_a_checkpoint_ahead_of_a_replaced_log_is_not_trusted(tmp_path):
    run, incident_id, _ = _mid_incident(tmp_path)
    log = tmp_path / "audit.jsonl"
    lines = log.read_bytes().splitlines(keepends=True)
    log.write_bytes(lines[0])  # cut back to the detection (verify reports it; start must not lie)
    later = _engine(tmp_path, run.now)
    assert later.restored_from == "log"
    inc = later.get(incident_id)
    assert (inc.acknowledged_by, inc.status, inc.notes) == (None, "Investigating", ())
    assert not verify(log)[0]


def test_a_log_cut_mid_line_by_a_crash_starts_and_keeps_every_entry(tmp_path):
    run, incident_id, _ = _mid_incident(tmp_path)
    log = tmp_path / "audit.jsonl"
    checkpoint_path(log).unlink()
    with open(log, "ab") as fh:
        fh.write(b'{"seq": 99, "event": "incident.no')  # the crash: half a line, no newline
    later = _engine(tmp_path, run.now)
    assert later.restored_from == "log"
    assert later.get(incident_id).notes[0].text == "pool leak in the API"
    later.add_note(incident_id, "after the crash", "bob")  # never glued onto the half line
    again = _engine(tmp_path, run.now)
    assert [n.text for n in again.get(incident_id).notes] == [
        "pool leak in the API",
        "after the crash",
    ]
    ok, _, reason = verify(log)
    assert not ok and "not a JSON entry" in reason  # the damage stays visible to verify


def test_two_incidents_of_one_finding_restored_side_by_side_both_close_when_healthy(tmp_path):
    # two cockpits on one jump host, one user, one audit log, the second started before the
    # first's incident (so it restored nothing) and opening its own for the same finding (an
    # older cockpit that did not restore did the same). A restart restores both; only one can be
    # keyed by the finding, and the other used to stay open, overdue, for ever.
    now: list = [T0]
    first = Run(_engine(tmp_path, now), now=now)
    second = Run(_engine(tmp_path, now), now=now)
    [one] = first.feed(("database", db(idle=80)), times=OPEN)
    now[0] += timedelta(days=1)  # another day's number: the two engines do not share counters
    [two] = second.feed(("database", db(idle=80)), times=OPEN)
    assert one.id != two.id and one.key == two.key
    restarted = Run(_engine(tmp_path, now), now=now)
    assert {i.id for i in restarted.engine.active()} == {one.id, two.id}
    restarted.feed(("database", db(idle=5)), times=CLOSE)
    assert restarted.engine.active() == []
    assert {restarted.engine.get(i).status for i in (one.id, two.id)} == {"Resolved"}
    closed = [
        e["incident_id"]
        for e in read_entries(tmp_path / "audit.jsonl")
        if e["event"] == "incident.closed"
    ]
    assert sorted(closed) == sorted([one.id, two.id])
