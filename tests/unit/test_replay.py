"""Replaying audit entries into incident state: the same entries always give the same incidents,
with who acknowledged and when, status, the operator's severity, notes, the response clock, and
the actions whose results never came."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from cockpit.config import Config
from cockpit.incidents.replay import (
    UNKNOWN_ENDED,
    IncidentBook,
    apply,
    apply_all,
    book_from_json,
    book_to_json,
    intent_key,
    prune,
)

CFG = Config()
T0 = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)


def at(seconds: float) -> str:
    return (T0 + timedelta(seconds=seconds)).isoformat()


def entries() -> list[dict[str, Any]]:
    """A detected incident, acknowledged, moved on, re-graded by an operator, noted; a declared
    one resolved; an action intent without result and one with."""
    raw: list[dict[str, Any]] = [
        {
            "event": "incident.detected",
            "incident_id": "INC-20261127-0007",
            "rule": "connection_exhaustion",
            "target": "connection_exhaustion:predictiq",
            "severity": "P2",
            "title": "connections at 92%",
            "at": at(0),
            "deadline": at(1800),
            "context": {"namespace": "predictiq"},
        },
        {"event": "incident.ack", "incident_id": "INC-20261127-0007", "acknowledged_by": "alice"},
        {"event": "incident.status", "incident_id": "INC-20261127-0007", "before": "Investigating"}
        | {"after": "Identified", "by": "alice"},
        {"event": "incident.severity", "incident_id": "INC-20261127-0007", "auto": False}
        | {"before": "P2", "after": "P1", "by": "alice", "deadline": at(900)},
        {"event": "incident.note", "incident_id": "INC-20261127-0007", "text": "pool leak"}
        | {"by": "alice"},
        {"event": "incident.declared", "incident_id": "INC-20261127-0008", "severity": "P3"}
        | {"title": "users report slow search", "rule": "declared"},
        {"event": "incident.resolved", "incident_id": "INC-20261127-0008", "by": "bob"},
        {"event": "intent", "action": "kill-idle", "target": "db predictiq", "pid": 4242}
        | {"host": "jump1", "incident_id": "INC-20261127-0007"},
        {"event": "intent", "action": "restart", "target": "deploy/api"},
        {"event": "result", "action": "restart", "target": "deploy/api", "outcome": "ok"}
        | {"intent_seq": 9, "message": "restarted"},
    ]
    out = []
    for seq, e in enumerate(raw, start=1):
        e = {"seq": seq, "time": e.get("at") or at(seq * 10), "session": "s1"} | e
        e["operator"] = {"login": "alice"}
        e["hash"] = f"h{seq}"
        out.append(e)
    return out


def test_replay_restores_the_open_incident_with_its_ack_status_severity_notes_and_clock():
    book = IncidentBook()
    apply_all(book, entries(), CFG)
    inc = book.open["INC-20261127-0007"]
    assert inc.acknowledged_by == "alice" and inc.acknowledged_at == T0 + timedelta(seconds=20)
    assert inc.status == "Identified"
    assert inc.severity == "P1" and inc.severity_set_by_operator
    assert inc.response_deadline == T0 + timedelta(seconds=900)
    assert inc.detected_at == T0
    assert [n.text for n in inc.notes] == ["pool leak"]
    assert inc.context == {"namespace": "predictiq"}
    assert [t.event for t in inc.timeline] == [
        "detected", "ack", "status", "severity", "note", "action",
    ]  # fmt: skip
    assert book.key_to_id == {"connection_exhaustion:predictiq": "INC-20261127-0007"}
    declared = book.closed["INC-20261127-0008"]
    assert declared.declared and declared.status == "Resolved" and declared.resolved_at
    assert book.counters == {"20261127": 8}
    assert (book.seq, book.hash) == (10, "h10")


def test_an_intent_without_result_stays_pending_and_an_unknown_result_is_interrupted():
    book = IncidentBook()
    apply_all(book, entries(), CFG)
    assert list(book.pending) == [intent_key("s1", 8)]
    pending = book.pending[intent_key("s1", 8)]
    assert (pending.pid, pending.host, pending.action) == (4242, "jump1", "kill-idle")
    result = {"seq": 11, "time": at(200), "event": "result", "session": "s2", "outcome": "unknown"}
    result |= {"intent_session": "s1", "intent_seq": 8, "message": UNKNOWN_ENDED}
    result |= {"incident_id": "INC-20261127-0007", "action": "kill-idle", "target": "db predictiq"}
    assert apply(book, result, CFG) == "INC-20261127-0007"
    assert book.pending == {}
    assert list(book.interrupted) == [intent_key("s1", 8)]
    assert UNKNOWN_ENDED in book.open["INC-20261127-0007"].timeline[-1].text
    ack = {"seq": 12, "time": at(300), "event": "action.interrupted.acknowledged"}
    apply(book, ack | {"intent_keys": [intent_key("s1", 8)]}, CFG)
    assert book.interrupted == {}


def test_the_book_survives_its_json_form_unchanged():
    book = IncidentBook()
    apply_all(book, entries(), CFG)
    again = book_from_json(json.loads(json.dumps(book_to_json(book))))
    assert again == book


@pytest.mark.parametrize("bad", [None, [], {"seq": 1}, {"seq": "x", "hash": ""}])
def test_a_damaged_json_form_is_a_value_error(bad):
    with pytest.raises(ValueError):
        book_from_json(bad)


def test_malformed_entries_are_ignored_not_raised():
    book = IncidentBook()
    junk: list[dict[str, Any]] = [
        {"event": "incident.ack", "incident_id": "INC-20261127-0001", "time": at(0)},
        {"event": "incident.detected", "incident_id": "not-an-id", "time": at(0)},
        {"event": "incident.detected", "incident_id": "INC-20261127-0002", "time": "yesterday"},
        {"event": "result", "intent_seq": "x"},
        {"event": "intent"},
    ]
    apply_all(book, junk, CFG)
    assert book.open == {} and book.closed == {} and book.pending == {}


def test_prune_forgets_old_resolved_incidents_but_keeps_their_numbers():
    book = IncidentBook()
    apply_all(book, entries(), CFG)
    prune(book, T0 + timedelta(days=2))
    assert book.closed == {} and "INC-20261127-0007" in book.open
    assert book.counters == {"20261127": 8}
