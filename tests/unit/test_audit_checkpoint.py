"""The checkpoint beside the audit log: advanced by every append (also when several processes
share the log, and across rotations), never a reason for an append to fail, and never trusted
when it does not match the log."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cockpit.audit import checkpoint as checkpoints
from cockpit.audit.checkpoint import CheckpointError, checkpoint_path
from cockpit.audit.log import AuditLog, read_entries, verify
from cockpit.audit.series import rotated_files

SINCE = datetime(2000, 1, 1, tzinfo=UTC)
DETECTED = {
    "incident_id": "INC-20261127-0001",
    "rule": "api_down",
    "target": "api_down",
    "severity": "P1",
    "title": "API down",
    "at": "2026-11-27T09:00:00+00:00",
}


def _detected(log: AuditLog) -> None:
    log.record("incident.detected", **DETECTED)


def test_every_append_advances_the_checkpoint_to_the_end_of_the_log(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    log = AuditLog(path, "s1")
    _detected(log)
    for i in range(5):
        log.record("incident.note", incident_id="INC-20261127-0001", text=f"n{i}", by="alice")
    cp = checkpoints.load(path)  # checked against the log: the line at its position matches
    assert cp.book.seq == 6 and cp.position.offset == path.stat().st_size
    assert [n.text for n in cp.book.open["INC-20261127-0001"].notes] == [f"n{i}" for i in range(5)]
    assert log.incident_entries("INC-20261127-0001") == read_entries(path)


def test_processes_sharing_a_log_keep_one_checkpoint_across_rotations(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    _detected(AuditLog(path, "s0"))
    code = (
        "import sys; from cockpit.audit.log import AuditLog; "
        "log = AuditLog(sys.argv[1], sys.argv[2], rotate_bytes=4000)\n"
        "for i in range(30): log.record('incident.note', incident_id='INC-20261127-0001', "
        "text=f'{sys.argv[2]} {i}', by='x')"
    )
    procs = [subprocess.Popen([sys.executable, "-c", code, str(path), f"p{i}"]) for i in range(3)]
    assert [p.wait(timeout=120) for p in procs] == [0, 0, 0]
    assert rotated_files(path) and verify(path)[0]
    cp = checkpoints.load(path)
    assert cp.book.seq == 91
    notes = cp.book.open["INC-20261127-0001"].notes
    assert sorted(n.text for n in notes) == sorted(f"p{p} {i}" for p in range(3) for i in range(30))
    # and its references find every entry of the incident, in whichever file it now is
    assert AuditLog(path).restore(SINCE).read == 0
    assert len(AuditLog(path).entries_at(cp.refs["INC-20261127-0001"])) == 91


def test_an_unwritable_checkpoint_never_fails_an_append(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    checkpoint_path(path).mkdir(parents=True)  # a directory where the file should be
    log = AuditLog(path, "s1")
    _detected(log)
    log.record("incident.ack", incident_id="INC-20261127-0001", acknowledged_by="alice")
    assert [e["event"] for e in read_entries(path)] == ["incident.detected", "incident.ack"]
    assert verify(path)[0]


def test_a_checkpoint_of_another_log_is_refused(tmp_path: Path) -> None:
    one, other = tmp_path / "one" / "audit.jsonl", tmp_path / "other" / "audit.jsonl"
    for path in (one, other):
        log = AuditLog(path, "s1")
        _detected(log)
        log.record("incident.note", incident_id="INC-20261127-0001", text=str(path), by="x")
    checkpoint_path(one).write_bytes(checkpoint_path(other).read_bytes())
    try:
        checkpoints.load(one)
    except CheckpointError as exc:
        assert "seq" in str(exc) or "no entry ends" in str(exc)
    else:
        raise AssertionError("a checkpoint whose hash is not the log's was trusted")
    restored = AuditLog(one).restore(SINCE)
    assert restored.rebuilt_because is not None
    assert restored.book.open["INC-20261127-0001"].notes[0].text == str(one)


def test_a_truncated_checkpoint_write_is_rebuilt_and_nothing_is_lost(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    log = AuditLog(path, "s1")
    _detected(log)
    log.record("incident.note", incident_id="INC-20261127-0001", text="kept", by="alice")
    data = checkpoint_path(path).read_bytes()
    checkpoint_path(path).write_bytes(data[: len(data) // 2])  # a crash mid-write
    restored = AuditLog(path).restore(SINCE)
    assert restored.rebuilt_because is not None and "not JSON" in restored.rebuilt_because
    assert [n.text for n in restored.book.open["INC-20261127-0001"].notes] == ["kept"]
    assert json.loads(checkpoint_path(path).read_text())["book"]["seq"] == 2  # written anew


def test_old_resolved_incidents_and_other_hosts_stale_intents_are_not_kept(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    log = AuditLog(path, "s1")
    _detected(log)
    log.record("incident.resolved", incident_id="INC-20261127-0001", by="alice", at=DETECTED["at"])
    log.record("intent", action="scale", target="deploy/api", pid=1, host="elsewhere")
    later = datetime(2026, 11, 27, 9, 0, tzinfo=UTC) + timedelta(days=2)
    restored = AuditLog(path).restore(later - timedelta(hours=24))
    assert restored.book.closed == {} and restored.book.counters == {"20261127": 1}
    # the intent is recent by the wall clock: kept until it is a day old
    assert len(restored.book.pending) == 1
    restored = AuditLog(path).restore(datetime.now(UTC) + timedelta(days=1))
    assert restored.book.pending == {}
