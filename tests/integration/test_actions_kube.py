"""Scale and rollout restart against the Kubernetes simulator: the effect is checked on the
simulator's store and its log of mutating requests, and the audit entries are checked."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from actions import executor
from actions.base import ActionContext, ActionError
from actions.registry import ACTIONS, availability, bindings
from actions.restart import RESTARTED_AT, follow_rollout
from cockpit.audit.log import read_entries, verify
from cockpit.lab.kubesim.sim import KubeSim
from cockpit.models import DeploymentInfo, HpaInfo, KubeSnapshot, utcnow
from cockpit.state import CockpitState
from tests.integration.actions_helpers import make_config, make_context


@pytest.fixture
def sim() -> Iterator[KubeSim]:
    with KubeSim(replicas=3, delay=0.02, hpa=None) as s:
        yield s


def _ctx(
    sim: KubeSim,
    tmp_path: Path,
    context: str = "lab",
    read_only: bool = False,
    state: CockpitState | None = None,
) -> ActionContext:
    kubeconfig = sim.write_kubeconfig(tmp_path / "kubeconfig", context=context)
    cfg = make_config(
        read_only=read_only,
        kubernetes={
            "context": context,
            "namespace": "predictiq",
            "deployment": "predictiq-api",
            "kubeconfig": str(kubeconfig),
            "production_contexts": ["*prod*"],
        },
        actions={"scale_max_replicas": 10, "rollout_timeout_seconds": 30},
    )
    return make_context(cfg, tmp_path / "audit.jsonl", state=state)


def _events(tmp_path: Path) -> list[str]:
    return [e["event"] for e in read_entries(tmp_path / "audit.jsonl")]


async def test_scale_changes_replicas_on_the_server_and_is_audited(
    sim: KubeSim, tmp_path: Path
) -> None:
    ctx = _ctx(sim, tmp_path)
    plan = await ACTIONS["scale"].plan(ctx, {"replicas": 5})
    assert "replicas 3 → 5" in plan.effect[0]
    assert (
        plan.command
        == "kubectl --context lab -n predictiq scale deployment/predictiq-api --replicas=5"
    )
    assert plan.rbac.allowed is True and plan.requires_typed_name is None and not plan.production
    outcome = await executor.execute(ctx, ACTIONS["scale"], plan)
    assert outcome.ok, outcome.message
    assert sim.deployment()["spec"]["replicas"] == 5
    assert [(m.verb, m.resource) for m in sim.mutating_requests] == [("patch", "deployments/scale")]
    intent, result = read_entries(tmp_path / "audit.jsonl")
    assert (intent["event"], result["event"], result["outcome"]) == ("intent", "result", "ok")
    assert intent["params"] == {"replicas": 5} and intent["before"] == {"replicas": 3}
    assert result["after"] == {"replicas": 5} and intent["context"] == "lab"
    assert verify(tmp_path / "audit.jsonl")[0]


async def test_scale_names_the_hpa_and_validates_the_count(sim: KubeSim, tmp_path: Path) -> None:
    state = CockpitState()
    dep = DeploymentInfo(
        "predictiq-api",
        "predictiq",
        3,
        3,
        3,
        3,
        False,
        "complete",
        hpa=HpaInfo("predictiq-api", 2, 10, 3, 3, 70),
    )
    state.update(
        "kubernetes",
        KubeSnapshot(utcnow(), "lab", "kubesim", "predictiq", "app=predictiq-api", dep, ()),
    )
    ctx = _ctx(sim, tmp_path, state=state)
    plan = await ACTIONS["scale"].plan(ctx, {"replicas": 0})
    assert any("HPA predictiq-api" in line for line in plan.effect)
    assert plan.requires_typed_name == "predictiq-api" and plan.danger == "high"
    for bad in (11, -1, "three"):
        with pytest.raises(ActionError, match="replicas must be"):
            await ACTIONS["scale"].plan(ctx, {"replicas": bad})
    assert sim.mutating_requests == []


async def test_production_context_requires_typing_the_name(sim: KubeSim, tmp_path: Path) -> None:
    ctx = _ctx(sim, tmp_path, context="eu-prod-1")
    plan = await ACTIONS["restart"].plan(ctx, None)
    assert plan.production and plan.requires_typed_name == "predictiq-api"


async def test_restart_sets_the_annotation_and_rolls_out(sim: KubeSim, tmp_path: Path) -> None:
    ctx = _ctx(sim, tmp_path)
    plan = await ACTIONS["restart"].plan(ctx, None)
    assert plan.command.endswith("rollout restart deployment/predictiq-api")
    outcome = await executor.execute(ctx, ACTIONS["restart"], plan)
    assert outcome.ok and outcome.message.startswith("rollout started")
    annotations = sim.deployment()["spec"]["template"]["metadata"]["annotations"]
    assert annotations[RESTARTED_AT] == outcome.after["restartedAt"]
    assert [(m.verb, m.resource) for m in sim.mutating_requests] == [("patch", "deployments")]
    lines: list[str] = []
    done, last = await follow_rollout(ctx, lines.append, poll_seconds=0.05)
    assert done, last
    assert lines[-1] == "updated 3/3, ready 3/3, available 3/3"
    assert _events(tmp_path) == ["intent", "result"]


async def test_paused_deployment_is_refused_with_a_reason(sim: KubeSim, tmp_path: Path) -> None:
    sim.pause()
    ctx = _ctx(sim, tmp_path)
    with pytest.raises(ActionError, match="paused.*rollout resume"):
        await ACTIONS["restart"].plan(ctx, None)
    assert sim.mutating_requests == []


async def test_rbac_denied_action_is_unavailable_and_refused(sim: KubeSim, tmp_path: Path) -> None:
    sim.deny("patch", "deployments", "scale")
    ctx = _ctx(sim, tmp_path)
    plan = await ACTIONS["scale"].plan(ctx, {"replicas": 4})
    assert plan.rbac.allowed is False and "patch" in plan.rbac.reason
    outcome = await executor.execute(ctx, ACTIONS["scale"], plan)
    assert outcome.status == "denied" and "RBAC" in outcome.message
    assert sim.mutating_requests == [] and sim.deployment()["spec"]["replicas"] == 3
    assert _events(tmp_path) == ["denied"]
    # restart is still allowed: the policy denies only the scale subresource
    assert (await ACTIONS["restart"].plan(ctx, None)).rbac.allowed is True
    # as the Kubernetes source reports it: the key is shown unavailable, with the reason
    state = CockpitState()
    state.update(
        "kubernetes",
        KubeSnapshot(
            utcnow(),
            "lab",
            "kubesim",
            "predictiq",
            "app=x",
            None,
            (),
            permissions={"scale": False, "restart": True},
            permission_reasons={"scale": "cannot patch deployments/scale"},
        ),
    )
    assert availability(ctx.cfg, state, "scale") == (False, "RBAC: cannot patch deployments/scale")
    assert availability(ctx.cfg, state, "restart") == (True, "")


async def test_read_only_refuses_every_kube_action_without_a_mutating_request(
    sim: KubeSim, tmp_path: Path
) -> None:
    ctx = _ctx(sim, tmp_path, read_only=True)
    assert [b for b in bindings(ctx.cfg) if ACTIONS[b.action_id].mutating] == []
    for action_id, selection in (("scale", {"replicas": 6}), ("restart", None)):
        plan = await ACTIONS[action_id].plan(ctx, selection)
        outcome = await executor.execute(ctx, ACTIONS[action_id], plan)
        assert outcome.status == "denied" and "read-only" in outcome.message
    with pytest.raises(PermissionError, match="read-only"):
        ctx.clients.kube_writer()
    assert sim.mutating_requests == []
    assert _events(tmp_path) == ["denied", "denied"]
    assert json.loads((tmp_path / "audit.jsonl").read_text().splitlines()[0])["error"].startswith(
        "read-only"
    )
