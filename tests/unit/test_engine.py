"""The incident engine: hysteresis, escalation, de-escalation and closing, for every rule;
response clocks across P1-P4; operator steps recorded in a real audit log."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest

from cockpit.audit.log import AuditLog, read_entries
from cockpit.config import Config, IncidentsConfig, KubernetesConfig
from cockpit.durations import response_clock
from cockpit.incidents.engine import IncidentEngine, evaluate_once, incidents_json
from cockpit.incidents.model import countdown
from cockpit.state import CockpitState
from tests.unit.incident_data import T0, api, cache, certs, db, failure, kube, pod

OPEN, CLOSE = 2, 3
CFG = Config(
    kubernetes=KubernetesConfig(namespace="predictiq"),
    incidents=IncidentsConfig(open_after_samples=OPEN, close_after_samples=CLOSE),
)

Update = tuple[str, object]


@dataclass
class Run:
    """An engine and a state fed like the app feeds them: update one source, then evaluate."""

    engine: IncidentEngine
    state: CockpitState = field(default_factory=CockpitState)
    now: list = field(default_factory=lambda: [T0])

    def feed(self, *updates: Update, times: int = 1) -> list:
        incidents: list = []
        for _ in range(times):
            for source, result in updates:
                self.now[0] += timedelta(seconds=2)
                self.state.update(source, result)
                incidents = self.engine.evaluate(self.state, self.now[0])
        return incidents


def make_run(tmp_path=None) -> Run:
    now = [T0]
    audit = AuditLog(tmp_path / "audit.jsonl") if tmp_path else None
    return Run(IncidentEngine(CFG, audit=audit, clock=lambda: now[0]), now=now)


@dataclass(frozen=True)
class Scenario:
    """Healthy updates, then breaching ones per severity (mildest first)."""

    rule: str
    healthy: tuple[Update, ...]
    levels: tuple[tuple[str, tuple[Update, ...]], ...]


SCENARIOS = [
    Scenario(
        "connection_exhaustion",
        (("database", db(idle=20)),),
        (
            ("P2", (("database", db(idle=80, idle_old=31)),)),
            ("P1", (("database", db(idle=93, idle_old=60)),)),
        ),
    ),
    Scenario(
        "database_unreachable",
        (("database", db()),),
        (("P1", (("database", failure("database")),)),),
    ),
    Scenario("api_down", (("api", api()),), (("P1", (("api", api(ok=False)),)),)),
    Scenario(
        "oom",
        (("kubernetes", kube()),),
        (
            ("P3", (("kubernetes", kube((pod(0, mem_gib=0.95), pod(1), pod(2)))),)),
            (
                "P2",
                (
                    (
                        "kubernetes",
                        kube(
                            (
                                pod(
                                    0,
                                    reason="CrashLoopBackOff",
                                    last_state="OOMKilled",
                                    ready=False,
                                ),
                                pod(1),
                                pod(2),
                            )
                        ),
                    ),
                ),
            ),
        ),
    ),
    Scenario(
        "high_cpu",
        (("kubernetes", kube()), ("api", api())),
        (
            (
                "P3",
                (("kubernetes", kube(tuple(pod(i, cpu_m=900) for i in range(3)))), ("api", api())),
            ),
            (
                "P2",
                (
                    ("kubernetes", kube(tuple(pod(i, cpu_m=900) for i in range(3)))),
                    ("api", api(latency_ms=1500.0)),
                ),
            ),
        ),
    ),
    Scenario(
        "slow_queries",
        (("database", db(longest_seconds=0.2)),),
        (("P3", (("database", db(longest_seconds=12.3)),)),),
    ),
    Scenario(
        "rate_limit", (("api", api(rate_429=0.2)),), (("P3", (("api", api(rate_429=25.0)),)),)
    ),
    Scenario(
        "cache_miss_storm", (("cache", cache(90, 10)),), (("P2", (("cache", cache(20, 80)),)),)
    ),
    Scenario(
        "redis_unreachable", (("cache", cache(90, 10)),), (("P2", (("cache", failure("cache")),)),)
    ),
    Scenario(
        "certificate",
        (("certificates", certs(90)),),
        (
            ("P4", (("certificates", certs(20)),)),
            ("P2", (("certificates", certs(5)),)),
            ("P1", (("certificates", certs(-1)),)),
        ),
    ),
    Scenario(
        "disk",
        (("kubernetes", kube()),),
        (("P2", (("kubernetes", kube(disk_pressure=("node-a",))),)),),
    ),
]


@pytest.mark.parametrize("sc", SCENARIOS, ids=lambda s: s.rule)
def test_every_rule_opens_escalates_deescalates_and_closes_with_hysteresis(sc: Scenario, tmp_path):
    run = make_run(tmp_path)
    assert run.feed(*sc.healthy, times=2) == []
    mild_severity, mild = sc.levels[0]
    assert run.feed(*mild, times=OPEN - 1) == [], "opened before open_after_samples"
    [inc] = run.feed(*mild)
    assert (inc.rule, inc.severity, inc.status) == (sc.rule, mild_severity, "Investigating")
    assert inc.runbook is not None and inc.evidence
    for severity, updates in sc.levels[1:]:  # escalate step by step
        [inc] = run.feed(*updates)
        assert inc.severity == severity
    if len(sc.levels) > 1:  # de-escalate back to the mildest
        [inc] = run.feed(*mild)
        assert inc.severity == mild_severity
        assert [t.event for t in inc.timeline].count("severity") == len(sc.levels)
    assert run.feed(*sc.healthy, times=CLOSE - 1) != [], "closed before close_after_samples"
    assert run.feed(*sc.healthy) == []
    closed = run.engine.get(inc.id)
    assert closed.status == "Resolved" and closed.resolved_at is not None
    events = [e["event"] for e in read_entries(tmp_path / "audit.jsonl")]
    assert events[0] == "incident.detected" and events[-1] == "incident.closed"


@pytest.mark.parametrize("sc", SCENARIOS, ids=lambda s: s.rule)
def test_flapping_never_opens(sc: Scenario):
    run = make_run()
    for _ in range(5):
        assert run.feed(*sc.levels[-1][1]) == []
        assert run.feed(*sc.healthy) == []


def test_updates_of_other_sources_are_not_samples():
    run = make_run()
    run.feed(("database", db(idle=93)))
    # the cache keeps reporting; the database breach is still one sample
    assert run.feed(("cache", cache(90, 10)), times=5) == []
    [inc] = run.feed(("database", db(idle=93)))
    assert inc.rule == "connection_exhaustion"


def test_stale_source_holds_the_incident_instead_of_closing_it():
    run = make_run()
    run.feed(("database", db(longest_seconds=30.0)), times=OPEN)
    # the database source fails: slow_queries cannot tell, it stays open (and a P1 opens)
    incidents = run.feed(("database", failure("database")), times=CLOSE + 1)
    assert {i.rule for i in incidents} == {"slow_queries", "database_unreachable"}


def test_api_down_from_kubernetes_no_ready_pods():
    run = make_run()
    down = kube(tuple(pod(i, ready=False) for i in range(3)))
    [inc] = run.feed(("kubernetes", down), times=OPEN)
    assert inc.rule == "api_down" and inc.evidence["ready_pods"] == 0
    assert inc.evidence["desired"] == 3


def test_connection_evidence_counts_by_state_and_idle_over_threshold():
    [f] = [
        f
        for f in evaluate_once(
            CFG, _state(("database", db(idle=80, idle_old=31, longest_seconds=12.3))), T0
        )
        if f.rule == "connection_exhaustion"
    ]
    assert f.evidence["total"] == 84 and f.evidence["max_connections"] == 100
    assert f.evidence["by_state"] == {"active": 3, "idle": 80}
    assert f.evidence["idle_over_threshold"] == 31
    assert f.evidence["longest_query_pid"] == 4242


def _state(*updates: Update) -> CockpitState:
    state = CockpitState()
    for source, result in updates:
        state.update(source, result)
    return state


def test_escalation_shortens_deadline_from_the_change_and_deescalation_relaxes_from_detection():
    run = make_run()
    [inc] = run.feed(("database", db(idle=80)), times=OPEN)
    assert inc.response_deadline == inc.detected_at + timedelta(minutes=60)
    run.now[0] += timedelta(minutes=10)
    [p1] = run.feed(("database", db(idle=93)))
    assert p1.response_deadline == run.now[0] + timedelta(minutes=15)
    [p2] = run.feed(("database", db(idle=80)))
    assert p2.response_deadline == inc.detected_at + timedelta(minutes=60)


@pytest.mark.parametrize("severity,minutes", [("P1", 15), ("P2", 60), ("P3", 240), ("P4", 1440)])
def test_countdown_across_severities(severity: str, minutes: int):
    now = [T0]
    engine = IncidentEngine(CFG, clock=lambda: now[0])
    inc = engine.declare("Users cannot place bets", severity, "bets fail")
    assert inc.response_deadline == T0 + timedelta(minutes=minutes)
    assert countdown(inc, T0 + timedelta(minutes=1)) == ((minutes - 1) * 60.0, False)
    assert countdown(inc, T0 + timedelta(minutes=minutes)) == (0.0, False)
    assert countdown(inc, T0 + timedelta(minutes=minutes, seconds=5)) == (-5.0, True)
    now[0] = T0 + timedelta(minutes=minutes - 2)  # acknowledged in time: the clock stops
    acked = engine.acknowledge(inc.id, "alice")
    assert countdown(acked, T0 + timedelta(days=3)) == (120.0, False)


def test_response_clock_ticks_like_a_clock_under_an_hour():
    assert response_clock(725) == "12:05"
    assert response_clock(3 * 3600 + 300) == "3h 05m"
    assert response_clock(-130) == "-2:10"


def test_operator_steps_are_audited_and_operator_severity_sticks(tmp_path):
    run = make_run(tmp_path)
    [inc] = run.feed(("database", db(idle=80)), times=OPEN)
    e = run.engine
    e.acknowledge(inc.id, "alice")
    e.set_status(inc.id, "Identified", "alice")
    e.add_note(inc.id, "pool size doubled by yesterday's deploy", "alice")
    e.set_severity(inc.id, "P1", "alice")
    [still] = run.feed(("database", db(idle=80)))  # the rule says P2; the operator said P1
    assert still.severity == "P1" and still.acknowledged_by == "alice"
    assert still.status == "Identified" and still.notes[0].text.startswith("pool size")
    e.resolve(inc.id, "alice", "idle connections ended")
    assert e.active() == []
    entries = [x for x in read_entries(tmp_path / "audit.jsonl") if x.get("incident_id") == inc.id]
    assert [x["event"] for x in entries] == [
        "incident.detected",
        "incident.ack",
        "incident.status",
        "incident.note",
        "incident.severity",
        "incident.resolved",
    ]
    # resolved by hand while still breaching: the next breaching sample reopens the same one
    assert [i.id for i in e.recent()] == [inc.id]
    [again] = run.feed(("database", db(idle=80)))
    assert again.id == inc.id and again.status == "Investigating" and again.resolved_at is None
    assert again.timeline[-1].text == "reopened: still breaching"
    assert again.notes[0].text.startswith("pool size")  # the note stays with it
    assert e.recent() == []
    assert read_entries(tmp_path / "audit.jsonl")[-1]["event"] == "incident.reopened"


def test_a_resolution_that_stays_healthy_stands_and_a_later_breach_is_a_new_incident(tmp_path):
    run = make_run(tmp_path)
    [inc] = run.feed(("database", db(idle=80)), times=OPEN)
    assert run.engine.still_breaching(inc.id)
    run.engine.resolve(inc.id, "alice")
    assert run.feed(("database", db(idle=5)), times=CLOSE) == []
    [later] = run.feed(("database", db(idle=80)), times=OPEN)
    assert later.id != inc.id


def test_incidents_resolved_in_the_last_24h_come_back_from_the_audit_trail(tmp_path):
    run = make_run(tmp_path)
    [inc] = run.feed(("database", db(idle=80)), times=OPEN)
    run.engine.add_note(inc.id, "Root cause: a leaky pool", "alice")
    run.engine.resolve(inc.id, "alice", "pool fixed")
    later = IncidentEngine(CFG, audit=AuditLog(tmp_path / "audit.jsonl"), clock=lambda: run.now[0])
    [back] = later.recent()
    assert (back.id, back.status, back.title) == (inc.id, "Resolved", inc.title)
    assert back.notes[0].text == "Root cause: a leaky pool" and back.resolved_at is not None
    assert later.get(inc.id) == back
    # the trail's times are the wall clock's
    too_old = IncidentEngine(
        CFG,
        audit=AuditLog(tmp_path / "audit.jsonl"),
        clock=lambda: datetime.now(UTC) + timedelta(hours=25),
    )
    assert too_old.recent() == []


def test_ids_continue_after_those_in_the_audit_log(tmp_path):
    audit = AuditLog(tmp_path / "audit.jsonl")
    first = IncidentEngine(CFG, audit=audit, clock=lambda: T0).declare("one", "P3")
    second = IncidentEngine(CFG, audit=audit, clock=lambda: T0).declare("two", "P3")
    assert (first.id, second.id) == ("INC-20261127-0001", "INC-20261127-0002")


def test_bad_operator_input_is_refused():
    engine = IncidentEngine(CFG, clock=lambda: T0)
    inc = engine.declare("x", "P2")
    with pytest.raises(ValueError):
        engine.set_status(inc.id, "Done")
    with pytest.raises(ValueError):
        engine.set_severity(inc.id, "P5")
    with pytest.raises(KeyError):
        engine.acknowledge("INC-nope", "alice")


def test_incidents_json_for_snapshot():
    [row] = incidents_json(CFG, _state(("cache", cache(10, 90))), T0)
    assert row["rule"] == "cache_miss_storm" and row["status"] == "Investigating"
    assert row["detected_at"] == "2026-11-27T09:00:00Z" and row["evidence"]["misses"] == 90
    assert dataclasses.is_dataclass(evaluate_once(CFG, _state(("cache", cache(10, 90))))[0])


def _with_broken_rule(monkeypatch: pytest.MonkeyPatch, broken: str) -> None:
    """Replace rule `broken`'s check with one that raises, where the engine and rules read it."""
    from cockpit.incidents import engine as engine_module
    from cockpit.incidents import rules as rules_module

    def bug(*_: object) -> list:
        raise KeyError("a rule bug")

    patched = tuple(
        dataclasses.replace(s, check=bug) if s.rule == broken else s for s in rules_module.RULES
    )
    monkeypatch.setattr(rules_module, "RULES", patched)
    monkeypatch.setattr(engine_module, "RULES", patched)


def test_a_rule_that_raises_is_contained_and_the_other_rules_still_open_incidents(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _with_broken_rule(monkeypatch, "oom")
    run = make_run()
    incidents = run.feed(("api", api(ok=False)), times=OPEN)
    assert [i.rule for i in incidents] == ["api_down"]
    assert set(run.engine.rule_failures) == {"oom"}
    assert isinstance(run.engine.rule_failures["oom"], KeyError)


def test_an_open_incident_is_not_resolved_while_its_rule_raises(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    run = make_run()
    [incident] = run.feed(("api", api(ok=False)), times=OPEN)
    _with_broken_rule(monkeypatch, "api_down")
    still = run.feed(("api", api(ok=True)), times=CLOSE + 2)  # healthy, but no verdict
    assert [i.id for i in still] == [incident.id]
    monkeypatch.undo()
    assert run.feed(("api", api(ok=True)), times=CLOSE + 2) == []  # a verdict again: resolved
    assert run.engine.rule_failures == {}
