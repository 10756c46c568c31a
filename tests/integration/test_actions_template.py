"""Set environment, Resources, Roll back, Contain and Pause/Resume against the Kubernetes
simulator through the real client: what the plan says, the exact PATCH the server received (body
and content type), what the server then holds, the pods rolled with the new template, and the
audit entries; RBAC and read-only refusals send nothing."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from actions import executor
from actions.base import ActionContext, ActionError
from actions.registry import ACTIONS
from actions.restart import follow_rollout
from cockpit.audit.log import read_entries, verify
from cockpit.lab.kubesim.sim import KubeSim
from cockpit.lab.lab import api_env
from cockpit.models import DeploymentInfo, HpaInfo, KubeSnapshot, utcnow
from cockpit.state import CockpitState
from tests.integration.actions_helpers import make_config, make_context

STRATEGIC = "application/strategic-merge-patch+json"


@pytest.fixture
def sim() -> Iterator[KubeSim]:
    with KubeSim(replicas=3, delay=0.02, hpa=None, env=api_env(40)) as s:
        yield s


def _ctx(
    sim: KubeSim,
    tmp_path: Path,
    *,
    read_only: bool = False,
    state: CockpitState | None = None,
    **actions: Any,
) -> ActionContext:
    kubeconfig = sim.write_kubeconfig(tmp_path / "kubeconfig", context="lab")
    cfg = make_config(
        read_only=read_only,
        kubernetes={
            "context": "lab",
            "namespace": "predictiq",
            "deployment": "predictiq-api",
            "kubeconfig": str(kubeconfig),
        },
        actions={"rollout_timeout_seconds": 30, **actions},
    )
    return make_context(cfg, tmp_path / "audit.jsonl", state=state)


def _env(sim: KubeSim) -> dict[str, Any]:
    container = sim.deployment()["spec"]["template"]["spec"]["containers"][0]
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container.get("env", [])}


def _patches(sim: KubeSim) -> list[tuple[str, str, Any]]:
    return [(m.resource, m.content_type, json.loads(m.body)) for m in sim.mutating_requests]


def _all_pods_have(sim: KubeSim, name: str, value: str) -> bool:
    pods = sim.pods()
    return len(pods) == 3 and all(
        any(
            e.get("name") == name and e.get("value") == value
            for e in p["spec"]["containers"][0].get("env", [])
        )
        and p["status"].get("phase") == "Running"
        for p in pods
    )


async def _run(ctx: ActionContext, action_id: str, selection: dict[str, Any] | None):
    action = ACTIONS[action_id]
    plan = await action.plan(ctx, selection)
    return plan, await executor.execute(ctx, action, plan)


async def test_set_env_raises_the_rate_limit_and_rolls_the_pods_onto_it(
    sim: KubeSim, tmp_path: Path
) -> None:
    ctx = _ctx(sim, tmp_path)
    plan = await ACTIONS["set_env"].plan(ctx, {"set": {"RATE_LIMIT_GLOBAL": "200"}})
    assert plan.effect[0] == "RATE_LIMIT_GLOBAL: '40' → '200'"
    assert "starts a rollout: the 3 pods are replaced one by one" in plan.effect[-1]
    assert "(revision 1 → 2)" in plan.effect[-1]
    assert plan.command == (
        "kubectl --context lab -n predictiq set env deployment/predictiq-api -c api "
        "RATE_LIMIT_GLOBAL=200"
    )
    assert plan.rbac.allowed is True and plan.requires_typed_name is None
    outcome = await executor.execute(ctx, ACTIONS["set_env"], plan)
    assert outcome.ok, outcome.message
    assert _patches(sim) == [
        (
            "deployments",
            STRATEGIC,
            {
                "spec": {
                    "template": {
                        "spec": {
                            "containers": [
                                {
                                    "name": "api",
                                    "env": [{"name": "RATE_LIMIT_GLOBAL", "value": "200"}],
                                }
                            ]
                        }
                    }
                }
            },
        )
    ]
    env = _env(sim)
    assert env["RATE_LIMIT_GLOBAL"] == "200" and env["ADMIN_WHITELIST_IPS"] == "10.0.0.5,10.0.0.6"
    assert "secretKeyRef" in env["ADMIN_TOKEN"]  # the other variables merged by name, untouched
    done, last = await follow_rollout(ctx, lambda _line: None, poll_seconds=0.05)
    assert done, last
    assert sim.wait_for(lambda: _all_pods_have(sim, "RATE_LIMIT_GLOBAL", "200"), 10)
    intent, result = read_entries(tmp_path / "audit.jsonl")
    assert (intent["event"], result["event"], result["outcome"]) == ("intent", "result", "ok")
    assert intent["params"]["env"] == {"RATE_LIMIT_GLOBAL": "200"}
    assert intent["before"] == {"RATE_LIMIT_GLOBAL": "40"} and verify(tmp_path / "audit.jsonl")[0]


async def test_set_env_adds_a_value_to_a_list_once(sim: KubeSim, tmp_path: Path) -> None:
    ctx = _ctx(sim, tmp_path)
    plan, outcome = await _run(ctx, "set_env", {"add": {"ADMIN_WHITELIST_IPS": "203.0.113.7"}})
    assert plan.effect[0] == (
        "ADMIN_WHITELIST_IPS: '10.0.0.5,10.0.0.6' → '10.0.0.5,10.0.0.6,203.0.113.7' "
        "(adds 203.0.113.7)"
    )
    assert outcome.ok, outcome.message
    assert _env(sim)["ADMIN_WHITELIST_IPS"] == "10.0.0.5,10.0.0.6,203.0.113.7"
    again = await ACTIONS["set_env"].plan(ctx, {"add": {"ADMIN_WHITELIST_IPS": "10.0.0.6"}})
    assert again.nothing_to_do and "already in the list" in again.effect[0]
    for bad in ("a,b", " "):
        with pytest.raises(ActionError, match="no comma"):
            await ACTIONS["set_env"].plan(ctx, {"add": {"ADMIN_WHITELIST_IPS": bad}})
    assert len(sim.mutating_requests) == 1


async def test_a_secret_reference_is_shown_and_replaced_only_with_its_name_typed(
    sim: KubeSim, tmp_path: Path
) -> None:
    ctx = _ctx(sim, tmp_path)
    plan = await ACTIONS["set_env"].plan(ctx, {"set": {"ADMIN_TOKEN": "s3cr3t-value"}})
    assert plan.requires_typed_name == "ADMIN_TOKEN"
    assert plan.effect[0] == (
        "ADMIN_TOKEN: from Secret predictiq-api key admin-token → '***' "
        "(replaces the reference: type ADMIN_TOKEN to confirm)"
    )
    assert "s3cr3t" not in plan.command and "s3cr3t" not in " ".join(plan.effect)
    with pytest.raises(ActionError, match="comes from Secret predictiq-api"):
        await ACTIONS["set_env"].plan(ctx, {"add": {"ADMIN_TOKEN": "x"}})
    outcome = await executor.execute(ctx, ACTIONS["set_env"], plan)
    assert outcome.ok, outcome.message
    [(_, _, body)] = _patches(sim)
    sent = body["spec"]["template"]["spec"]["containers"][0]["env"]
    assert sent == [{"name": "ADMIN_TOKEN", "value": "s3cr3t-value", "valueFrom": None}]
    assert _env(sim)["ADMIN_TOKEN"] == "s3cr3t-value"  # the reference is gone (else a 422)
    assert "s3cr3t" not in (tmp_path / "audit.jsonl").read_text()


async def test_resources_proposes_the_next_memory_step_and_patches_that_container(
    sim: KubeSim, tmp_path: Path
) -> None:
    ctx = _ctx(sim, tmp_path)
    plan = await ACTIONS["resources"].plan(ctx, None)
    assert plan.effect[0] == ("container api memory: limit 1Gi → 2Gi, request 512Mi → 1Gi")
    assert plan.effect[1].startswith("  nodes: ") and "room for" in plan.effect[1]
    assert "3 needed" in plan.effect[1] and "UNSCHEDULABLE" not in " ".join(plan.effect)
    assert plan.command.endswith(
        "set resources deployment/predictiq-api -c api --limits=memory=2Gi --requests=memory=1Gi"
    )
    outcome = await executor.execute(ctx, ACTIONS["resources"], plan)
    assert outcome.ok, outcome.message
    [(resource, content_type, body)] = _patches(sim)
    assert (resource, content_type) == ("deployments", STRATEGIC)
    assert body == {
        "spec": {
            "template": {
                "spec": {
                    "containers": [
                        {
                            "name": "api",
                            "resources": {
                                "limits": {"memory": "2Gi"},
                                "requests": {"memory": "1Gi"},
                            },
                        }
                    ]
                }
            }
        }
    }
    resources = sim.deployment()["spec"]["template"]["spec"]["containers"][0]["resources"]
    assert resources == {
        "limits": {"cpu": "1", "memory": "2Gi"},
        "requests": {"cpu": "500m", "memory": "1Gi"},
    }
    done, last = await follow_rollout(ctx, lambda _line: None, poll_seconds=0.05)
    assert done, last


async def test_resources_is_capped_and_warns_when_the_nodes_cannot_schedule_it(
    sim: KubeSim, tmp_path: Path
) -> None:
    ctx = _ctx(sim, tmp_path)
    with pytest.raises(ActionError, match=r"above actions.max_memory_limit \(4Gi\)"):
        await ACTIONS["resources"].plan(ctx, {"memory": "8Gi"})
    with pytest.raises(ActionError, match="quantity"):
        await ACTIONS["resources"].plan(ctx, {"memory": "lots"})
    big = _ctx(sim, tmp_path, max_memory_limit="64Gi")
    # a 40Gi request (the 50 % share of an 80Gi limit... capped here at 64Gi: request 32Gi) is
    # more than any simulated node's ~30Gi allocatable
    plan = await ACTIONS["resources"].plan(big, {"memory": "64Gi"})
    assert any("UNSCHEDULABLE — only 0 of 3 replicas fit" in line for line in plan.effect)
    assert plan.danger == "high"
    cpu = await ACTIONS["resources"].plan(ctx, {"cpu": "2"})
    assert cpu.effect[0] == "container api cpu: limit 1 → 2, request 500m → 1"
    assert sim.mutating_requests == []


async def test_roll_back_shows_the_template_diff_and_restores_the_previous_revision(
    sim: KubeSim, tmp_path: Path
) -> None:
    ctx = _ctx(sim, tmp_path)
    with pytest.raises(ActionError, match="no revision before 1"):
        await ACTIONS["rollback"].plan(ctx, None)
    await _run(ctx, "set_env", {"set": {"RATE_LIMIT_GLOBAL": "200"}})
    await _run(ctx, "resources", {"memory": "2Gi"})
    assert (await follow_rollout(ctx, lambda _line: None, poll_seconds=0.05))[0]
    assert sim.deployment()["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "3"
    sim.reset_counts()
    plan = await ACTIONS["rollback"].plan(ctx, None)
    assert plan.effect[0].startswith("deployment/predictiq-api: revision 3 → 2 (ReplicaSet ")
    assert plan.effect[1:-1] == (
        "container api resources: limits cpu=1,memory=2Gi; requests cpu=500m,memory=1Gi → "
        "limits cpu=1,memory=1Gi; requests cpu=500m,memory=512Mi",
    )
    assert plan.command.endswith("rollout undo deployment/predictiq-api --to-revision=2")
    outcome = await executor.execute(ctx, ACTIONS["rollback"], plan)
    assert outcome.ok, outcome.message
    [(resource, content_type, body)] = _patches(sim)
    assert (resource, content_type) == ("deployments", "application/json-patch+json")
    assert [op["op"] for op in body] == ["test", "replace"]
    assert "pod-template-hash" not in body[1]["value"]["metadata"]["labels"]
    assert (await follow_rollout(ctx, lambda _line: None, poll_seconds=0.05))[0]
    dep = sim.deployment()
    limits = dep["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]
    assert limits["memory"] == "1Gi" and _env(sim)["RATE_LIMIT_GLOBAL"] == "200"
    # the old replica set is the newest revision again, as `kubectl rollout undo` leaves it
    assert dep["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "4"
    again = await ACTIONS["rollback"].plan(ctx, None)
    assert again.effect[0].startswith("deployment/predictiq-api: revision 4 → 3")
    assert again.effect[1].startswith("container api resources: limits cpu=1,memory=1Gi;")


async def test_roll_back_refuses_when_the_template_changed_since_the_plan(
    sim: KubeSim, tmp_path: Path
) -> None:
    ctx = _ctx(sim, tmp_path)
    await _run(ctx, "set_env", {"set": {"LOG_LEVEL": "debug"}})
    plan = await ACTIONS["rollback"].plan(ctx, None)
    assert plan.effect[1] == "container api env LOG_LEVEL: 'debug' → 'info'"
    await _run(ctx, "set_env", {"set": {"LOG_LEVEL": "warn"}})  # someone else rolls out
    sim.reset_counts()
    outcome = await executor.execute(ctx, ACTIONS["rollback"], plan)
    assert outcome.status == "failed" and "changed since the plan" in outcome.message
    assert sim.mutating_requests == [] and _env(sim)["LOG_LEVEL"] == "warn"


async def test_contain_needs_the_name_typed_and_names_the_hpa(sim: KubeSim, tmp_path: Path) -> None:
    state = CockpitState()
    dep = DeploymentInfo(
        "predictiq-api", "predictiq", 3, 3, 3, 3, False, "complete",
        hpa=HpaInfo("predictiq-api", 2, 10, 3, 3, 70),
    )  # fmt: skip
    state.update(
        "kubernetes",
        KubeSnapshot(utcnow(), "lab", "kubesim", "predictiq", "app=predictiq-api", dep, ()),
    )
    ctx = _ctx(sim, tmp_path, state=state)
    plan, outcome = await _run(ctx, "contain", None)
    assert plan.requires_typed_name == "predictiq-api" and plan.danger == "high"
    assert plan.effect[0] == "deployment/predictiq-api: replicas 3 → 0"
    assert any(
        "HPA predictiq-api targets this deployment (2..10 replicas): it will scale it back up"
        in line
        for line in plan.effect
    )
    assert outcome.ok and sim.deployment()["spec"]["replicas"] == 0
    assert [(r, body) for r, _, body in _patches(sim)] == [
        ("deployments/scale", {"spec": {"replicas": 0}})
    ]


async def test_pause_and_resume_set_spec_paused(sim: KubeSim, tmp_path: Path) -> None:
    ctx = _ctx(sim, tmp_path)
    plan, outcome = await _run(ctx, "pause_rollout", None)
    assert plan.command.endswith("rollout pause deployment/predictiq-api") and outcome.ok
    assert sim.deployment()["spec"]["paused"] is True
    assert (await ACTIONS["pause_rollout"].plan(ctx, None)).nothing_to_do
    env_plan = await ACTIONS["set_env"].plan(ctx, {"set": {"LOG_LEVEL": "debug"}})
    assert "is PAUSED" in env_plan.effect[-1]
    plan, outcome = await _run(ctx, "resume_rollout", None)
    assert plan.effect[0] == "deployment/predictiq-api: spec.paused true → false" and outcome.ok
    assert _patches(sim) == [
        ("deployments", STRATEGIC, {"spec": {"paused": True}}),
        ("deployments", STRATEGIC, {"spec": {"paused": False}}),
    ]


SELECTIONS: dict[str, dict[str, Any] | None] = {
    "set_env": {"set": {"RATE_LIMIT_GLOBAL": "200"}},
    "resources": {"memory": "2Gi"},
    "contain": None,
    "pause_rollout": None,
}


@pytest.mark.parametrize("action_id", [*SELECTIONS, "rollback"])
async def test_rbac_denial_names_the_missing_permission_and_sends_nothing(
    sim: KubeSim, tmp_path: Path, action_id: str
) -> None:
    if action_id == "rollback":  # a previous revision to roll back to
        (tmp_path / "setup").mkdir()
        await _run(_ctx(sim, tmp_path / "setup"), "set_env", {"set": {"LOG_LEVEL": "debug"}})
    sim.deny("patch", "deployments")
    sim.deny("patch", "deployments", "scale")
    sim.reset_counts()
    ctx = _ctx(sim, tmp_path)
    plan, outcome = await _run(ctx, action_id, SELECTIONS.get(action_id))
    missing = "patch deployments/scale" if action_id == "contain" else "patch deployments"
    assert plan.rbac.allowed is False and missing in plan.rbac.reason, plan.rbac.reason
    assert outcome.status == "denied" and "RBAC denies it" in outcome.message
    assert sim.mutating_requests == []
    assert [e["event"] for e in read_entries(tmp_path / "audit.jsonl")] == ["denied"]


@pytest.mark.parametrize("action_id", [*SELECTIONS, "resume_rollout"])
async def test_read_only_refuses_and_creates_no_writer(
    sim: KubeSim, tmp_path: Path, action_id: str
) -> None:
    ctx = _ctx(sim, tmp_path, read_only=True)
    plan, outcome = await _run(ctx, action_id, SELECTIONS.get(action_id))
    assert outcome.status == "denied" and "read-only" in outcome.message
    assert sim.mutating_requests == []
    [entry] = read_entries(tmp_path / "audit.jsonl")
    assert entry["event"] == "denied" and entry["action"] == action_id
    with pytest.raises(PermissionError, match="read-only"):
        ctx.clients.kube_writer()
