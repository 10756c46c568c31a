"""Paging when nobody acknowledges, against a real local HTTP server that checks every Events
API v2 body as PagerDuty does: when a P1/P2 is paged (injected clock), what the trigger says,
acknowledge and resolve for the same dedup_key, retries on 429/503, no retry on 400, a dead
endpoint given up with its reason, the webhook's body, one cockpit per page in team mode, and a
restarted cockpit neither paging twice nor forgetting to resolve."""

from __future__ import annotations

import dataclasses
import socket
import threading
from collections.abc import Iterator

import pytest

from cockpit.audit.log import AuditLog, read_entries, scrub
from cockpit.config import Config
from cockpit.incidents.postmortem import render_postmortem
from cockpit.paging.events import SUMMARY_MAX
from tests.integration.pager_server import Answer, PagerServer
from tests.integration.paging_helpers import (
    ROUTING_KEY,
    SOURCE,
    Paging,
    make_paging,
    minutes,
    paging_config,
    with_paging,
)
from tests.unit.incident_data import T0, db


@pytest.fixture
def server() -> Iterator[PagerServer]:
    with PagerServer(ROUTING_KEY) as s:
        yield s


@pytest.fixture
def paging(tmp_path, server) -> Iterator[Paging]:
    p = make_paging(tmp_path, paging_config(server))
    yield p
    p.pager.close()


def test_a_p1_nobody_acknowledges_is_paged_once_after_after_minutes(paging, server):
    incident = paging.api_down()
    paging.at(T0 + minutes(5) - minutes(1 / 60))  # one second early
    paging.settled()
    assert server.events() == []
    paging.at(T0 + minutes(5))
    paging.settled()
    paging.at(T0 + minutes(6))
    paging.engine.evaluate(paging.state, paging.now[0])
    paging.settled()
    (trigger,) = server.accepted()
    assert [r.problems for r in server.events()] == [[]]
    assert trigger["event_action"] == "trigger" and trigger["dedup_key"] == incident.id
    payload = trigger["payload"]
    assert payload["severity"] == "critical" and payload["source"] == SOURCE
    assert payload["summary"].startswith(f"P1 {incident.title}")
    assert payload["custom_details"] == scrub(dict(incident.evidence))
    assert payload["custom_details"]  # the API's evidence: /health's answer
    (report,) = paging.reports
    assert report.outcome == "sent" and report.text == "paged PagerDuty 09:05:00"
    (entry,) = paging.audit_pages()
    assert entry["event"] == "page.trigger" and entry["result"] == "sent"
    assert entry["incident_id"] == incident.id and entry["target"] == "pagerduty"


def test_after_minutes_left_out_is_half_the_response_clock_and_p2_maps_to_error(tmp_path, server):
    p = make_paging(tmp_path, with_paging(paging_config(server), after_minutes=None))
    try:
        for _ in range(2):  # 80 % of the connections, 31 idle for long: P2 (60 min clock)
            p.state.update("database", db(idle=80, idle_old=31))
            p.engine.evaluate(p.state, p.now[0])
        (incident,) = p.engine.active()
        assert incident.severity == "P2"
        p.at(T0 + minutes(29))
        p.settled()
        assert server.events() == []
        p.at(T0 + minutes(30))
        p.settled()
        (trigger,) = server.accepted()
        assert trigger["payload"]["severity"] == "error"
        assert trigger["dedup_key"] == incident.id
    finally:
        p.pager.close()


def test_after_minutes_0_pages_at_once(tmp_path, server):
    p = make_paging(tmp_path, with_paging(paging_config(server), after_minutes=0.0))
    try:
        incident = p.api_down()  # the evaluation that opens it pages: no tick needed
        p.settled()
        assert [b["dedup_key"] for b in server.accepted()] == [incident.id]
    finally:
        p.pager.close()


def test_p3_and_p4_are_never_paged(paging, server):
    paging.engine.declare("checkout button misaligned", "P4")
    paging.engine.declare("search slow for some users", "P3")
    paging.at(T0 + minutes(60 * 25))
    paging.settled()
    assert server.events() == []


def test_an_escalation_to_p1_counts_from_the_escalation(paging, server):
    incident = paging.engine.declare("reports of failed logins", "P3", operator="alice")
    paging.at(T0 + minutes(20))
    paging.engine.set_severity(incident.id, "P1", operator="alice")
    paging.at(T0 + minutes(24))
    paging.settled()
    assert server.events() == []  # 24 min since opening, but only 4 since it became P1
    paging.at(T0 + minutes(25))
    paging.settled()
    (trigger,) = server.accepted()
    assert trigger["payload"]["severity"] == "critical"


def test_an_acknowledged_p1_is_not_paged(paging, server):
    incident = paging.api_down()
    paging.at(T0 + minutes(1))
    paging.engine.acknowledge(incident.id, "alice")
    paging.at(T0 + minutes(30))
    paging.settled()
    assert server.events() == []


def test_acknowledge_and_resolve_are_sent_for_the_same_dedup_key(paging, server):
    incident = paging.api_down()
    paging.at(T0 + minutes(5))
    paging.engine.acknowledge(incident.id, "alice")
    paging.settled()
    paging.at(T0 + minutes(7))
    paging.engine.resolve(incident.id, "alice", "restarted the API")
    paging.settled()
    bodies = server.accepted()
    assert [(b["event_action"], b["dedup_key"]) for b in bodies] == [
        ("trigger", incident.id),
        ("acknowledge", incident.id),
        ("resolve", incident.id),
    ]
    assert [r.problems for r in server.events()] == [[], [], []]
    assert [e["event"] for e in paging.audit_pages()] == [
        "page.trigger",
        "page.acknowledge",
        "page.resolve",
    ]
    texts = [r.text for r in paging.reports]
    assert texts == [
        "paged PagerDuty 09:05:00",
        "acknowledged on PagerDuty 09:05:00",
        "resolved on PagerDuty 09:07:00",
    ]


def test_an_incident_never_paged_sends_no_acknowledge_or_resolve(paging, server):
    incident = paging.api_down()
    paging.at(T0 + minutes(2))
    paging.engine.acknowledge(incident.id, "alice")
    paging.engine.resolve(incident.id, "alice")
    paging.at(T0 + minutes(30))
    paging.settled()
    assert server.events() == [] and paging.audit_pages() == []


def test_429_and_503_are_retried_with_backoff_then_delivered(paging, server):
    server.script(
        "/v2/enqueue",
        Answer(429, headers={"Retry-After": "7"}, body={"status": "throttle event"}),
        Answer(503, body={"status": "unavailable"}),
    )
    incident = paging.api_down()
    paging.at(T0 + minutes(5))
    paging.settled()
    assert [r.status for r in server.events()] == [429, 503, 202]
    assert all(r.body["dedup_key"] == incident.id for r in server.events())
    assert paging.waits.seconds == [7.0, 2.0]  # Retry-After honoured, then doubling backoff
    (report,) = paging.reports
    assert report.outcome == "sent"
    (entry,) = paging.audit_pages()
    assert entry["result"] == "sent" and entry["attempts"] == 3 and entry["status"] == 202


def test_a_400_is_shown_to_the_operator_and_not_retried(tmp_path, server):
    cfg = with_paging(paging_config(server), routing_key="WRONG-KEY-wrong-key-0123456789ab")
    p = make_paging(tmp_path, cfg)
    try:
        incident = p.api_down()
        p.at(T0 + minutes(5))
        p.settled()
        p.at(T0 + minutes(6))  # a failed trigger is not sent again by itself
        p.settled()
        (only,) = server.events()
        assert only.status == 400 and only.problems == ["unknown routing_key"]
        assert p.waits.seconds == []
        (report,) = p.reports
        assert report.outcome == "failed" and report.incident_id == incident.id
        assert report.text.startswith("page to PagerDuty failed 09:05:00: HTTP 400")
        assert "Event object is invalid" in report.text and "(not retried)" in report.text
        (entry,) = p.audit_pages()
        assert entry["result"] == "failed" and entry["status"] == 400 and entry["attempts"] == 1
    finally:
        p.pager.close()


def test_a_dead_endpoint_is_retried_then_given_up_with_the_reason(tmp_path):
    with socket.socket() as s:  # a port nothing listens on: connection refused
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cfg = with_paging(
        paging_config(None, routing_key=ROUTING_KEY),
        events_url=f"http://127.0.0.1:{port}/v2/enqueue",
        max_attempts=3,
    )
    p = make_paging(tmp_path, cfg)
    try:
        p.api_down()
        p.at(T0 + minutes(5))
        p.settled()
        (report,) = p.reports
        assert report.outcome == "failed"
        assert "connection refused (gave up after 3 attempts)" in report.text
        assert p.waits.seconds == [1.0, 2.0]
    finally:
        p.pager.close()


class SilentServer:
    """Accepts connections and never answers: a hung pager endpoint."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.held: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.held.append(conn)

    def close(self) -> None:
        self.sock.close()
        for c in self.held:
            c.close()


def test_an_endpoint_that_never_answers_times_out_and_is_given_up(tmp_path):
    silent = SilentServer()
    cfg = with_paging(
        paging_config(None, routing_key=ROUTING_KEY),
        events_url=f"http://127.0.0.1:{silent.port}/v2/enqueue",
        max_attempts=2,
        timeout_seconds=1.0,
    )
    p = make_paging(tmp_path, cfg)
    try:
        p.api_down()
        p.at(T0 + minutes(5))
        p.settled()
        (report,) = p.reports
        assert "no answer within 1 s (gave up after 2 attempts)" in report.text
    finally:
        p.pager.close()
        silent.close()


def test_the_webhook_gets_the_same_facts(tmp_path, server):
    cfg = with_paging(paging_config(None), webhook_url=server.webhook_url)
    p = make_paging(tmp_path, cfg)
    try:
        incident = p.api_down()
        p.at(T0 + minutes(5))
        p.engine.acknowledge(incident.id, "alice")
        p.settled()
        assert server.events("/v2/enqueue") == []  # no routing key: PagerDuty is not paged
        trigger, ack = server.accepted("/hook")
        assert trigger["schema"] == "predictiq-cockpit.page/v1"
        assert trigger["event"] == "trigger" and trigger["dedup_key"] == incident.id
        assert trigger["incident_id"] == incident.id and trigger["severity"] == "P1"
        assert trigger["pagerduty_severity"] == "critical" and trigger["source"] == SOURCE
        assert trigger["summary"].startswith("P1 ") and trigger["rule"] == incident.rule
        assert trigger["details"] == scrub(dict(incident.evidence))
        assert trigger["detected_at"] == "2026-11-27T09:00:00Z"
        assert trigger["acknowledged_by"] is None
        assert ack["event"] == "acknowledge" and ack["acknowledged_by"] == "alice"
        assert [r.text for r in p.reports] == [
            "paged the webhook 09:05:00",
            "acknowledged on the webhook 09:05:00",
        ]
    finally:
        p.pager.close()


def test_a_long_title_is_cut_to_1024_characters_for_pagerduty(paging, server):
    paging.engine.declare("disk full on " + "volume-" * 300, "P1", impact="writes fail")
    paging.at(T0 + minutes(5))
    paging.settled()
    (trigger,) = server.accepted()
    summary = trigger["payload"]["summary"]
    assert len(summary) == SUMMARY_MAX and summary.endswith("…")


class SharedClaim:
    """A claim shared by several cockpits, as the team store keeps it: first come, first sent."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._claimed: set[tuple[str, str]] = set()

    def claim(self, incident_id: str, event: str) -> bool:
        with self._lock:
            if (incident_id, event) in self._claimed:
                return False
            self._claimed.add((incident_id, event))
            return True


def test_in_team_mode_exactly_one_cockpit_sends_each_page(tmp_path, server):
    claim = SharedClaim()
    cfg = paging_config(server)
    cockpits = [make_paging(tmp_path / name, cfg, claim=claim) for name in ("jump1", "jump2")]
    try:
        ids = set()
        for c in cockpits:
            ids.add(c.engine.declare("checkout down", "P1").id)
            c.at(T0 + minutes(5))
        assert len(ids) == 1  # both cockpits hold the same incident id (as the team store does)
        for c in cockpits:
            c.settled()
        (incident_id,) = ids
        for c in cockpits:
            c.engine.acknowledge(incident_id, "alice")
        for c in cockpits:
            c.settled()
        assert [b["event_action"] for b in server.accepted()] == ["trigger", "acknowledge"]
        outcomes = sorted(r.outcome for c in cockpits for r in c.reports)
        assert outcomes == ["elsewhere", "sent", "sent"]  # the other cockpit only said so
    finally:
        for c in cockpits:
            c.pager.close()


class UnreachableClaim:
    """A team store that cannot be reached: every claim raises."""

    def claim(self, incident_id: str, event: str) -> bool:
        raise ConnectionError("team store: connection refused")


def test_a_claim_that_cannot_be_decided_still_pages(tmp_path, server):
    p = make_paging(tmp_path, paging_config(server), claim=UnreachableClaim())
    try:
        incident = p.engine.declare("checkout down", "P1")
        p.at(T0 + minutes(5))
        p.settled()
        assert [b["dedup_key"] for b in server.accepted()] == [incident.id]
        (report,) = p.reports
        assert report.outcome == "sent" and "the claim failed" in report.text
        (entry,) = p.audit_pages()
        assert entry["result"] == "sent" and "sent anyway" in entry["reason"]
    finally:
        p.pager.close()


def test_a_restarted_cockpit_neither_pages_twice_nor_forgets_to_resolve(tmp_path, server):
    cfg = paging_config(server)
    audit = AuditLog(tmp_path / "state" / "audit.jsonl")
    first = make_paging(tmp_path, cfg, audit=audit)
    incident = first.engine.declare("checkout down", "P1")
    first.at(T0 + minutes(5))
    first.settled()
    first.pager.close()
    # the same incident seen by the next session (restored from the trail by the engine)
    second = make_paging(tmp_path, cfg, audit=audit, start=T0 + minutes(10))
    try:
        second.pager.review([incident], [], T0 + minutes(10))
        second.settled()
        resolved = dataclasses.replace(incident, status="Resolved", resolved_at=T0 + minutes(11))
        second.pager.review([], [resolved], T0 + minutes(11))
        second.settled()
        assert [b["event_action"] for b in server.accepted()] == ["trigger", "resolve"]
    finally:
        second.pager.close()


def test_the_routing_key_is_never_written_anywhere(tmp_path, server):
    from cockpit.applog import configure, secret_values

    cfg: Config = paging_config(server)
    log = configure(tmp_path / "state" / "cockpit.log", secrets=secret_values(cfg))
    # a lying server that echoes the key back in its refusal
    server.script(
        "/v2/enqueue", Answer(400, body={"message": f"routing key {ROUTING_KEY} is disabled"})
    )
    p = make_paging(tmp_path, cfg)
    p.pager.log = log
    try:
        incident = p.api_down()
        p.at(T0 + minutes(5))
        p.settled()
        second = p.engine.declare("checkout down", "P1")
        p.at(T0 + minutes(10))
        p.engine.acknowledge(second.id, "alice")
        p.engine.resolve(second.id, "alice")
        p.engine.resolve(incident.id, "alice")
        p.settled()
        log.exception("a test traceback", RuntimeError(f"key was {ROUTING_KEY}"))
        for r in p.reports:  # as the app does: the outcome in the incident's timeline
            p.engine.add_timeline(r.incident_id, "page", r.text, r.at)
        exports = tmp_path / "state" / "exports"
        exports.mkdir()
        entries = read_entries(p.audit.path)
        for inc in (incident, second):
            postmortem = render_postmortem(p.engine.get(inc.id), entries)
            assert "Paged" in postmortem
            (exports / f"postmortem-{inc.id}.md").write_text(postmortem)
    finally:
        p.pager.close()
        log.close()
    assert [r.outcome for r in p.reports] == ["failed", "sent", "sent", "sent"]
    assert all(ROUTING_KEY not in r.text for r in p.reports)
    assert "***" in p.reports[0].text  # the echo is redacted, the rest of the reason kept
    written = [f for f in tmp_path.rglob("*") if f.is_file()]
    assert {f.name for f in written} >= {"audit.jsonl", "cockpit.log", "audit.jsonl.head"}
    assert any(f.parent.name == "exports" for f in written)
    for f in written:
        assert ROUTING_KEY.encode() not in f.read_bytes(), f
