"""Paging without a network: the [paging] config and its mistakes, when a page is due, what
the Events v2 body says for each severity, and how Retry-After is read."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from cockpit.config import PAGERDUTY_EVENTS_URL, Config, ConfigError, load_config
from cockpit.incidents.model import Incident, TimelineEntry
from cockpit.paging.claim import LocalClaim, PageClaim
from cockpit.paging.delivery import Backoff, retry_after_seconds
from cockpit.paging.events import SUMMARY_MAX, pagerduty_body, summary
from cockpit.paging.policy import page_due, page_due_at, urgent_since
from cockpit.paging.wiring import pager_for
from tests.integration.pager_server import events_v2_problems

T0 = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
ENV = {"PAGERDUTY_ROUTING_KEY": "pd-key-0123456789abcdef0123456789"}


def _load(tmp_path, text: str, env=ENV) -> Config:
    p = tmp_path / "c.toml"
    p.write_text(text)
    return load_config(p, env=env)


def _incident(severity: str = "P1", **changes) -> Incident:
    inc = Incident(
        id="INC-20261127-0001",
        key="api",
        rule="api_down",
        title="API down",
        severity=severity,
        detected_at=T0,
        response_deadline=T0 + timedelta(minutes=15),
        evidence={"health_status_code": 503, "query": "postgresql://app:s3cret@db/x"},
        impact="every request fails",
        context={"namespace": "predictiq", "deployment": "predictiq-api"},
    )
    return replace(inc, **changes)


def test_paging_config_defaults_and_the_routing_key_from_the_environment(tmp_path):
    cfg = _load(tmp_path, '[paging]\nrouting_key = "${PAGERDUTY_ROUTING_KEY}"\n')
    assert cfg.paging is not None
    assert (
        cfg.paging.events_url == PAGERDUTY_EVENTS_URL == "https://events.pagerduty.com/v2/enqueue"
    )
    assert cfg.paging.routing_key == ENV["PAGERDUTY_ROUTING_KEY"]
    assert cfg.paging.after_minutes is None and cfg.paging.webhook_url == ""


@pytest.mark.parametrize(
    ("text", "key", "words"),
    [
        ("[paging]\n", "paging.routing_key", "set routing_key"),
        ('[paging]\nwebhook_url = "ftp://x"\n', "paging.webhook_url", "http:// or https://"),
        (
            '[paging]\nrouting_key = "k"\nevents_url = "events.pagerduty.com"\n',
            "paging.events_url",
            "http:// or https://",
        ),
        ('[paging]\nrouting_key = "k"\nafter_minutes = -1\n', "paging.after_minutes", "from 0"),
        ('[paging]\nrouting_key = "k"\nafter_minute = 5\n', "paging.after_minute", "did you mean"),
        ('[paging]\nrouting_key = "${PAGERDUTY_ROUTING_KEY}"\n', "paging.routing_key", "PAGER"),
    ],
)
def test_paging_mistakes_name_the_file_the_dotted_key_and_the_fix(tmp_path, text, key, words):
    with pytest.raises(ConfigError) as err:
        _load(tmp_path, text, env={})
    message = str(err.value)
    assert str(tmp_path / "c.toml") in message and key in message and words in message


def test_a_webhook_url_is_never_shown_in_its_error(tmp_path):
    with pytest.raises(ConfigError) as err:
        _load(tmp_path, '[paging]\nwebhook_url = "hooks.example/T0KEN-123"\n')
    assert "T0KEN-123" not in str(err.value)


def test_read_only_or_no_paging_section_builds_no_pager(tmp_path):
    cfg = _load(tmp_path, '[paging]\nrouting_key = "${PAGERDUTY_ROUTING_KEY}"\n')
    kwargs = {"audit": None, "report": lambda r: None, "source": lambda: "ctx"}
    assert pager_for(cfg, **kwargs) is not None
    assert pager_for(replace(cfg, read_only=True), **kwargs) is None
    assert pager_for(replace(cfg, paging=None), **kwargs) is None


def test_a_p1_is_due_after_half_its_response_clock_by_default():
    inc = _incident("P1")
    assert page_due_at(inc, None, 15) == T0 + timedelta(minutes=7.5)
    assert not page_due(inc, T0 + timedelta(minutes=7.4), None, 15)
    assert page_due(inc, T0 + timedelta(minutes=7.5), None, 15)
    assert page_due(inc, T0, 0.0, 15)  # 0: at once


def test_acknowledged_resolved_p3_and_p4_incidents_are_not_due():
    late = T0 + timedelta(days=2)
    assert not page_due(_incident(acknowledged_at=T0), late, 5.0, 15)
    assert not page_due(_incident(status="Resolved", resolved_at=T0), late, 5.0, 15)
    assert not page_due(_incident("P3"), late, 5.0, 240)
    assert not page_due(_incident("P4"), late, 5.0, 1440)


def test_the_clock_starts_at_the_escalation_to_p1_or_p2():
    up = T0 + timedelta(minutes=20)
    timeline = (
        TimelineEntry(T0, "detected", "P3 slow queries"),
        TimelineEntry(T0 + timedelta(minutes=3), "severity", "P3 -> P3 (alice)"),
        TimelineEntry(up, "severity", "P3 -> P2 (auto)"),
        TimelineEntry(up + timedelta(minutes=1), "severity", "P2 -> P1 (auto)"),
    )
    inc = _incident("P1", timeline=timeline)
    assert urgent_since(inc) == up  # P2 -> P1 does not restart it: it was already urgent
    assert urgent_since(_incident("P3", timeline=timeline)) is None


@pytest.mark.parametrize(
    ("severity", "expected"),
    [("P1", "critical"), ("P2", "error"), ("P3", "warning"), ("P4", "info")],
)
def test_severity_maps_to_events_v2_and_the_body_is_valid(severity, expected):
    body = pagerduty_body("trigger", _incident(severity), "rk", "kind-prod-eu")
    assert body["payload"]["severity"] == expected
    assert events_v2_problems(body) == []
    assert body["dedup_key"] == "INC-20261127-0001"
    assert body["payload"]["custom_details"]["health_status_code"] == 503
    assert "s3cret" not in str(body)  # the evidence is scrubbed like the audit trail


def test_acknowledge_and_resolve_bodies_carry_only_the_key():
    for event in ("acknowledge", "resolve"):
        body = pagerduty_body(event, _incident(), "rk", "ctx")
        assert body == {"routing_key": "rk", "event_action": event, "dedup_key": _incident().id}
        assert events_v2_problems(body) == []


def test_the_summary_is_one_line_of_at_most_1024_characters():
    long = _incident(title="a\nb " + "x" * 2000)
    text = summary(long)
    assert len(text) == SUMMARY_MAX and "\n" not in text and text.endswith("…")
    assert summary(_incident()) == "P1 API down — every request fails"


def test_retry_after_in_seconds_or_as_an_http_date():
    now = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
    assert retry_after_seconds("7") == 7.0
    assert retry_after_seconds("Fri, 27 Nov 2026 09:00:30 GMT", now) == 30.0
    assert retry_after_seconds("soon") is None and retry_after_seconds(None) is None
    assert Backoff(first=1, cap=30).wait(1, None) == 1
    assert Backoff(first=1, cap=30).wait(6, None) == 30  # capped
    assert Backoff(first=1, cap=30).wait(1, 3600) == 30  # Retry-After capped too


def test_the_local_claim_always_claims():
    claim: PageClaim = LocalClaim()
    assert isinstance(claim, PageClaim)
    assert claim.claim("INC-20261127-0001", "trigger") and claim.claim("INC-1", "trigger")


class Seen:
    """A watch that keeps what it was told."""

    def __init__(self) -> None:
        self.calls: list[tuple[list[str], list[str], datetime]] = []

    def review(self, active, resolved, now) -> None:
        self.calls.append(([i.id for i in active], [i.id for i in resolved], now))


class Broken:
    """A watch with a bug."""

    def review(self, active, resolved, now) -> None:
        raise RuntimeError("bug in a watch")


def test_the_engine_tells_its_watches_and_a_broken_one_stops_nothing():
    from cockpit.incidents.engine import IncidentEngine

    now = [T0]
    seen = Seen()
    engine = IncidentEngine(Config(), clock=lambda: now[0], watches=[Broken(), seen])
    inc = engine.declare("checkout down", "P1")
    now[0] = T0 + timedelta(minutes=1)
    engine.acknowledge(inc.id, "alice")
    engine.tick(T0 + timedelta(minutes=2))
    engine.resolve(inc.id, "alice")
    assert seen.calls == [
        ([inc.id], [], T0),
        ([inc.id], [], T0 + timedelta(minutes=1)),
        ([inc.id], [], T0 + timedelta(minutes=2)),
        ([], [inc.id], T0 + timedelta(minutes=1)),
    ]
    assert engine.watch_error is not None and "bug in a watch" in engine.watch_error
    engine.add_timeline(inc.id, "page", "paged PagerDuty 09:00:00", T0)
    assert engine.get(inc.id).timeline[-1].text == "paged PagerDuty 09:00:00"
