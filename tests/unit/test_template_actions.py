"""The pure parts of the template actions: quantities and the memory ladder, a list variable's
"add a value", the template diff, the runbook's env kinds, and Roll back offered by an incident
that opens soon after a rollout."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from actions.rollback import rollback_template, template_diff
from actions.set_env import list_with, masked
from cockpit.config import Config, ConfigError, parse_config
from cockpit.incidents.engine import IncidentEngine
from cockpit.incidents.runbook import load_runbook, parse_runbook
from cockpit.models import DeploymentInfo, KubeSnapshot
from cockpit.quantity import QuantityError, memory_bytes, memory_text, next_memory_step
from cockpit.state import CockpitState

GI, MI = 2**30, 2**20


def test_the_memory_ladder_doubles_and_stops_at_the_cap() -> None:
    assert memory_text(next_memory_step(512 * MI, 4 * GI) or 0) == "1Gi"
    assert memory_text(next_memory_step(GI, 4 * GI) or 0) == "2Gi"
    assert memory_text(next_memory_step(3 * GI, 4 * GI) or 0) == "4Gi"
    assert next_memory_step(4 * GI, 4 * GI) is None
    assert memory_text(next_memory_step(2 * GI, 3 * GI) or 0) == "3Gi"  # capped, not skipped
    assert memory_bytes("1.5Gi") == 1536 * MI and memory_text(1536 * MI) == "1536Mi"
    for bad in ("lots", "1e3", "-1Gi", ""):
        with pytest.raises(QuantityError):
            memory_bytes(bad)


def test_max_memory_limit_is_checked_with_file_and_key() -> None:
    with pytest.raises(ConfigError) as err:
        parse_config({"actions": {"max_memory_limit": "four gigs"}}, path="c.toml", env={})
    assert "c.toml: actions.max_memory_limit" in str(err.value) and "512Mi" in str(err.value)
    assert Config().actions.max_memory_limit == "4Gi"


def test_add_a_value_appends_once() -> None:
    assert list_with("10.0.0.5,10.0.0.6", "203.0.113.7") == ("10.0.0.5,10.0.0.6,203.0.113.7", True)
    assert list_with("10.0.0.5, 10.0.0.6", "10.0.0.6") == ("10.0.0.5, 10.0.0.6", False)
    assert list_with("", "10.0.0.5") == ("10.0.0.5", True)
    assert masked("ADMIN_TOKEN", "x") == "***" and masked("LOG_LEVEL", "x") == "x"


def _template(image: str, env: list[dict[str, object]], memory: str) -> dict[str, object]:
    return {
        "metadata": {"labels": {"app": "api", "pod-template-hash": "abc"}},
        "spec": {
            "containers": [
                {
                    "name": "api",
                    "image": image,
                    "env": env,
                    "resources": {"limits": {"memory": memory}},
                }
            ]
        },
    }


def test_the_template_diff_names_images_env_and_resources() -> None:
    now = _template("api:1.15", [{"name": "A", "value": "2"}, {"name": "NEW", "value": "x"}], "2Gi")
    then = _template(
        "api:1.14",
        [{"name": "A", "value": "1"}, {"name": "T", "valueFrom": {"secretKeyRef": {"name": "s"}}}],
        "1Gi",
    )
    assert template_diff(now, then) == [
        "container api image: api:1.15 → api:1.14",
        "container api env A: '2' → '1'",
        "container api env NEW: 'x' → (removed)",
        "container api env T: (not set) → 'from Secret s key ?'",
        "container api resources: limits memory=2Gi → limits memory=1Gi",
    ]
    assert template_diff(now, now) == ["the templates are identical"]
    restored = rollback_template({"spec": {"template": then}})
    assert restored["metadata"] == {"labels": {"app": "api"}}  # the hash label is the RS's own


def test_runbook_env_kinds_come_from_the_data_and_are_validated() -> None:
    book = load_runbook()
    assert book.entries["rate_limit"].env == {
        "RATE_LIMIT_GLOBAL": "value",
        "ADMIN_WHITELIST_IPS": "list",
    }
    assert book.env_kinds()["ADMIN_WHITELIST_IPS"] == "list"
    entry = {"title": "t", "diagnosis": "d", "env": {"LIMIT": "number"}}
    with pytest.raises(ConfigError, match="entries.x.env.LIMIT.*one of value, list"):
        parse_runbook({"entries": {"x": entry}}, "team.toml")


def _state(revision: int, finished: datetime) -> CockpitState:
    dep = DeploymentInfo(
        "predictiq-api", "predictiq", 3, 3, 3, 3, False, "complete",
        revision=revision, rollout_finished_at=finished,
    )  # fmt: skip
    state = CockpitState()
    state.update(
        "kubernetes",
        KubeSnapshot(finished, "lab", "kubesim", "predictiq", "app=predictiq-api", dep, ()),
    )
    return state


@pytest.mark.parametrize(
    ("revision", "minutes_after", "offered"),
    [(2, 10, True), (2, 40, False), (1, 10, False)],
)
def test_roll_back_is_offered_within_30_minutes_after_a_rollout(
    revision: int, minutes_after: int, offered: bool
) -> None:
    finished = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
    now = finished + timedelta(minutes=minutes_after)
    engine = IncidentEngine(Config(), clock=lambda: now)
    engine.evaluate(_state(revision, finished), now)
    incident = engine.declare("checkout fails", "P2")
    assert ("rollback" in incident.actions) is offered


def test_the_deployment_parse_reads_the_revision_and_when_the_rollout_finished() -> None:
    from cockpit.sources.kube.parse import parse_deployment

    progressing = {
        "type": "Progressing",
        "status": "True",
        "reason": "NewReplicaSetAvailable",
        "lastUpdateTime": "2026-12-01T10:00:00Z",
    }
    dep = {
        "metadata": {"name": "api", "annotations": {"deployment.kubernetes.io/revision": "12"}},
        "spec": {"replicas": 3},
        "status": {"conditions": [progressing]},
    }
    info = parse_deployment(dep)
    assert info.revision == 12
    assert info.rollout_finished_at == datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
    progressing["reason"] = "ReplicaSetUpdated"  # still rolling: not finished
    assert parse_deployment(dep).rollout_finished_at is None
    dep["metadata"] = {"name": "api", "annotations": {"deployment.kubernetes.io/revision": None}}
    assert parse_deployment(dep).revision == 0


def test_a_pod_failing_after_the_rollout_keeps_the_rollout_recent() -> None:
    """A crash loop turns the deployment's status back to progressing; the rollout that just
    finished is still the suspect (the OOM after a release)."""
    finished = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
    now = finished + timedelta(minutes=5)
    engine = IncidentEngine(Config(), clock=lambda: now)
    engine.evaluate(_state(2, finished), now)
    failing = _state(2, finished)
    kube = failing.kube
    assert kube is not None and kube.deployment is not None
    dep = DeploymentInfo(**{**kube.deployment.__dict__, "rollout_finished_at": None})
    failing.update("kubernetes", KubeSnapshot(now, "lab", "k", "predictiq", "app=x", dep, ()))
    engine.evaluate(failing, now)
    assert "rollback" in engine.declare("OOM after the release", "P2").actions
    rolling = DeploymentInfo(**{**dep.__dict__, "revision": 3})  # another rollout started
    failing.update("kubernetes", KubeSnapshot(now, "lab", "k", "predictiq", "app=x", rolling, ()))
    engine.evaluate(failing, now)
    assert "rollback" not in engine.declare("later", "P2").actions


def test_a_declared_security_incident_offers_contain_and_a_backup() -> None:
    engine = IncidentEngine(Config())
    assert engine.declarable_entries() == ("security",)
    incident = engine.declare("admin API called from an unknown address", "P1", rule="security")
    assert incident.actions == ("contain", "backup_database")
    assert incident.runbook is not None and incident.runbook.title == "Security incident"
