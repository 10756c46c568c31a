"""Interrupted actions: a timeout mid-flight is "unknown", a cockpit killed between intent and
result leaves a log that verifies with the intent and no result, and an unwritable audit trail
stops the action before it runs."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from actions import executor
from actions.registry import ACTIONS
from cockpit.audit.log import AuditLog, read_entries, verify
from cockpit.config import Config
from cockpit.incidents.engine import IncidentEngine
from cockpit.incidents.replay import UNKNOWN_ENDED
from cockpit.lab.kubesim.sim import KubeSim
from tests.integration.actions_helpers import make_config, make_context

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def sim() -> Iterator[KubeSim]:
    with KubeSim(replicas=2, delay=0.02, hpa=None) as s:
        yield s


def _cfg(sim: KubeSim, tmp_path: Path, action_timeout: float = 15, request_timeout: float = 5):
    kubeconfig = sim.write_kubeconfig(tmp_path / "kubeconfig", context="lab")
    return make_config(
        kubernetes={
            "context": "lab",
            "namespace": "predictiq",
            "kubeconfig": str(kubeconfig),
            "request_timeout_seconds": request_timeout,
        },
        actions={"timeout_seconds": action_timeout},
    )


async def test_a_timeout_mid_flight_is_recorded_as_unknown(sim: KubeSim, tmp_path: Path) -> None:
    ctx = make_context(
        _cfg(sim, tmp_path, action_timeout=1, request_timeout=10), tmp_path / "audit.jsonl"
    )
    plan = await ACTIONS["scale"].plan(ctx, {"replicas": 4})
    sim.slow_responses(2)  # the PATCH arrives, the answer comes after our timeout
    outcome = await executor.execute(ctx, ACTIONS["scale"], plan)
    assert outcome.status == "unknown" and "may or may not" in outcome.message
    entries = read_entries(tmp_path / "audit.jsonl")
    assert [(e["event"], e.get("outcome")) for e in entries] == [
        ("intent", None),
        ("result", "unknown"),
    ]
    # and indeed it did happen: why "unknown" and not "failed"
    assert sim.wait_for(lambda: sim.deployment()["spec"]["replicas"] == 4, timeout=10)


async def test_an_unwritable_audit_trail_stops_the_action(sim: KubeSim, tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    cfg = _cfg(sim, tmp_path)
    ctx = make_context(cfg, blocker / "audit.jsonl")
    plan = await ACTIONS["scale"].plan(ctx, {"replicas": 5})
    outcome = await executor.execute(ctx, ACTIONS["scale"], plan)
    assert outcome.status == "failed" and outcome.message.startswith(
        "not run: the audit trail cannot be written"
    )
    assert sim.mutating_requests == [] and sim.deployment()["spec"]["replicas"] == 2


CHILD = textwrap.dedent("""
    import asyncio, sys
    from actions import executor
    from actions.registry import ACTIONS
    from tests.integration.actions_helpers import make_config, make_context

    async def main():
        cfg = make_config(kubernetes={"context": "lab", "namespace": "predictiq", \
"kubeconfig": sys.argv[1],
                                      "request_timeout_seconds": 120}, \
actions={"timeout_seconds": 600})
        ctx = make_context(cfg, sys.argv[2])
        ctx.incident_id = sys.argv[5] if len(sys.argv) > 5 else None
        plan = await ACTIONS["scale"].plan(ctx, {"replicas": 7})
        open(sys.argv[3], "w").close()  # planned: the parent now slows the server down
        while True:
            try:
                open(sys.argv[4]).close()
                break
            except FileNotFoundError:
                await asyncio.sleep(0.02)
        await executor.execute(ctx, ACTIONS["scale"], plan)

    asyncio.run(main())
""")


def _wait_for(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"{what} within {timeout} s"
        time.sleep(0.02)  # polling a file another process writes


def test_a_process_killed_between_intent_and_result_leaves_a_verifiable_log(
    sim: KubeSim, tmp_path: Path
) -> None:
    kubeconfig = sim.write_kubeconfig(tmp_path / "kubeconfig", context="lab")
    log = tmp_path / "audit.jsonl"
    AuditLog(log).record("incident.note", note="before the crash")
    planned, go = tmp_path / "planned", tmp_path / "go"
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(kubeconfig), str(log), str(planned), str(go)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        _wait_for(planned.exists, 30, "the child planned")
        sim.slow_responses(60)  # the PATCH will hang: the child is stuck between intent and result
        go.touch()
        _wait_for(
            lambda: any(e["event"] == "intent" for e in read_entries(log)), 30, "intent written"
        )
        child.send_signal(signal.SIGKILL)
        assert child.wait(timeout=10) == -signal.SIGKILL
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(timeout=10)
        sim.clear_slow_responses()
    entries = read_entries(log)
    assert [e["event"] for e in entries] == ["incident.note", "intent"]
    assert entries[1]["params"] == {"replicas": 7}
    assert verify(log) == (True, None, "2 entries, chain intact")
    # the next cockpit continues the same chain
    AuditLog(log).record("incident.note", note="after the crash")
    assert verify(log)[0]


@contextlib.contextmanager
def _child_stuck_mid_action(
    sim: KubeSim, tmp_path: Path, log: Path, incident_id: str
) -> Iterator[subprocess.Popen[bytes]]:
    """A cockpit process that wrote the intent of a scale for `incident_id` and is waiting for
    the answer (the simulator holds it back)."""
    kubeconfig = sim.write_kubeconfig(tmp_path / "kubeconfig", context="lab")
    planned, go = tmp_path / "planned", tmp_path / "go"
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            CHILD,
            str(kubeconfig),
            str(log),
            str(planned),
            str(go),
            incident_id,
        ],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        _wait_for(planned.exists, 30, "the child planned")
        sim.slow_responses(60)
        go.touch()
        _wait_for(
            lambda: any(e["event"] == "intent" for e in read_entries(log)), 30, "intent written"
        )
        yield child
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(timeout=10)
        sim.clear_slow_responses()


def test_the_next_cockpit_records_an_action_whose_cockpit_died_as_unknown_and_shows_it(
    sim: KubeSim, tmp_path: Path
) -> None:
    log = tmp_path / "audit.jsonl"
    cfg = Config()
    first = IncidentEngine(cfg, audit=AuditLog(log))
    inc = first.declare("API pods crash-looping", "P2", operator="alice")
    with _child_stuck_mid_action(sim, tmp_path, log, inc.id) as child:
        # the cockpit running the action is alive: a cockpit starting now must not call it dead
        alive = IncidentEngine(cfg, audit=AuditLog(log))
        assert alive.interrupted == []
        assert [e["event"] for e in read_entries(log)][-1] == "intent"
        child.send_signal(signal.SIGKILL)
        assert child.wait(timeout=10) == -signal.SIGKILL
    later = IncidentEngine(cfg, audit=AuditLog(log))
    [gone] = later.interrupted
    assert (gone.action, gone.target, gone.incident_id) == (
        "scale",
        "deployment/predictiq-api",
        inc.id,
    )
    result = read_entries(log)[-1]
    assert result["event"] == "result" and result["outcome"] == "unknown"
    assert result["message"] == UNKNOWN_ENDED and result["incident_id"] == inc.id
    intent = next(e for e in read_entries(log) if e["event"] == "intent")
    assert (result["intent_seq"], result["intent_session"]) == (intent["seq"], intent["session"])
    assert UNKNOWN_ENDED in later.get(inc.id).timeline[-1].text
    assert any(e.get("message") == UNKNOWN_ENDED for e in later.entries_of(inc.id))
    assert verify(log)[0]
    # recorded once: the next start does not record it again, and still shows it until seen
    again = IncidentEngine(cfg, audit=AuditLog(log))
    assert [i.key for i in again.interrupted] == [gone.key]
    assert sum(1 for e in read_entries(log) if e.get("message") == UNKNOWN_ENDED) == 1
    again.acknowledge_interrupted("alice")
    assert again.interrupted == []
    assert IncidentEngine(cfg, audit=AuditLog(log)).interrupted == []
