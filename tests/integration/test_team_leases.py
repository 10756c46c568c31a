"""Action leases on a real team store and the Kubernetes simulator: while one operator's rollout
restart is running, a second operator's restart of the same deployment is refused (saying who,
doing what, since when); typing the name overrides it, and the override is audited."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from actions import executor
from actions.base import ActionContext
from actions.registry import ACTIONS
from cockpit.audit.log import AuditLog, read_entries
from cockpit.lab.kubesim.sim import KubeSim
from cockpit.team.leases import TeamLeases
from cockpit.team.sync import TeamSync
from tests.conftest import PgHandle
from tests.integration.actions_helpers import make_config, make_context
from tests.integration.team_helpers import TeamStore, team_config, team_store
from tests.waiting import wait_for


@pytest.fixture
def sim() -> Iterator[KubeSim]:
    with KubeSim(replicas=2, delay=0.02, hpa=None) as s:
        yield s


@pytest.fixture
def store(pg: PgHandle) -> Iterator[TeamStore]:
    with team_store(pg) as s:
        yield s


def _operator(sim: KubeSim, store: TeamStore, tmp_path: Path, name: str):
    kubeconfig = sim.write_kubeconfig(tmp_path / f"{name}.kubeconfig", context="lab")
    cfg = make_config(
        kubernetes={"context": "lab", "namespace": "predictiq", "kubeconfig": str(kubeconfig)},
        actions={"timeout_seconds": 20},
    )
    ctx = make_context(cfg, tmp_path / f"{name}.jsonl")
    ctx.audit = AuditLog(tmp_path / f"{name}.jsonl", f"{name}-session")  # one session each
    sync = TeamSync(team_config(store.live_url), ctx.audit, read_only=False, operator=name)
    sync.start()
    leases = TeamLeases(sync)
    ctx.leases = leases
    return ctx, sync, leases


async def _plan(ctx: ActionContext):
    return await ACTIONS["restart"].plan(ctx, None)


async def test_a_lease_refuses_a_second_restart_and_an_override_is_audited(
    sim: KubeSim, store: TeamStore, tmp_path: Path
) -> None:
    alice, alice_sync, _ = _operator(sim, store, tmp_path, "alice")
    bob, bob_sync, bob_leases = _operator(sim, store, tmp_path, "bob")
    try:
        wait_for(lambda: alice_sync.status().online and bob_sync.status().online)
        plan_a, plan_b = await _plan(alice), await _plan(bob)
        sim.slow_responses(1.5)  # alice's restart is in flight while bob tries his
        running = asyncio.create_task(executor.execute(alice, ACTIONS["restart"], plan_a))
        key = executor.lease_key_of(plan_b)
        deadline = asyncio.get_running_loop().time() + 10
        while await bob_leases.holder(key) is None:
            assert asyncio.get_running_loop().time() < deadline, "alice never took the lease"
            await asyncio.sleep(0.02)
        refused = await executor.execute(bob, ACTIONS["restart"], plan_b)
        assert refused.status == "denied"
        assert (
            "alice@" in refused.message and "is restarting predictiq-api (since" in refused.message
        )
        assert (await running).ok
        sim.clear_slow_responses()
        assert [m.verb for m in sim.mutating_requests] == ["patch"]  # bob's never reached it

        # alice's lease is back: bob's next restart runs without asking
        assert await bob_leases.holder(key) is None
        # a lease left by a cockpit that died mid-action: overriding it is audited
        taken = await alice_sync.take_lease(key, "restart", 600)
        assert taken.taken
        holder = await bob_leases.holder(key)
        assert holder is not None and holder.operator.startswith("alice@")
        bob.lease_override = "alice@jump1 is restarting predictiq-api (since 4s)"
        done = await executor.execute(bob, ACTIONS["restart"], await _plan(bob))
        assert done.ok
        events = [e["event"] for e in read_entries(tmp_path / "bob.jsonl")]
        assert events == ["denied", "lease.override", "intent", "result"]
        override = read_entries(tmp_path / "bob.jsonl")[1]
        assert override["overridden"].startswith("alice@jump1 is restarting")
        assert await bob_leases.holder(key) is None
    finally:
        alice_sync.stop()
        bob_sync.stop()


async def test_the_store_away_does_not_stop_an_action_and_says_so(
    sim: KubeSim, tmp_path: Path, closed_port: int
) -> None:
    kubeconfig = sim.write_kubeconfig(tmp_path / "kubeconfig", context="lab")
    cfg = make_config(
        kubernetes={"context": "lab", "namespace": "predictiq", "kubeconfig": str(kubeconfig)}
    )
    ctx = make_context(cfg, tmp_path / "audit.jsonl")
    sync = TeamSync(
        team_config(f"postgresql://x@127.0.0.1:{closed_port}/db"), ctx.audit, read_only=False
    )
    sync.start()
    ctx.leases = TeamLeases(sync)
    try:
        outcome = await executor.execute(ctx, ACTIONS["restart"], await _plan(ctx))
        assert outcome.ok
        intent = read_entries(tmp_path / "audit.jsonl")[0]
        assert intent["event"] == "intent" and intent["lease"].startswith("not checked: ")
    finally:
        sync.stop()
