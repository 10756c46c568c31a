"""Checklists as data (built-in lists match the runbook, a team file validated by file and key),
the verifiers over fixed snapshots (pass, fail, and unknown for missing or failing sources), item
states with operator ticks, the Markdown of a recorded run, and the quick reference."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest

from cockpit.audit.log import AuditLog, read_entries
from cockpit.checklists.backup import BackupCheck
from cockpit.checklists.checklists import (
    item_results,
    load_checklists,
    record_run,
    render_checklist_markdown,
    verify_checklist,
)
from cockpit.checklists.endpoints import endpoints_responding
from cockpit.checklists.verifiers import STATE_VERIFIERS, CheckState, Verdict
from cockpit.config import BackupConfig, Config, ConfigError, ContactConfig, LinkConfig
from cockpit.models import NodeInfo, SourceFailure
from cockpit.quickref import build_quickref, render_text
from cockpit.state import CockpitState
from tests.ui.fixtures import (
    api_snapshot,
    cache_snapshot,
    certs_snapshot,
    db_snapshot,
    kube_snapshot,
    make_config,
)

PASS, FAIL, UNKNOWN = CheckState.PASS, CheckState.FAIL, CheckState.UNKNOWN


def _state(**snaps) -> CockpitState:
    state = CockpitState()
    for name, snap in snaps.items():
        state.update(name, snap)
    return state


def _check(name: str, cfg: Config | None = None, **snaps) -> Verdict:
    return STATE_VERIFIERS[name](_state(**snaps), cfg or make_config())


def test_builtin_lists_follow_the_runbook():
    lists = load_checklists().lists
    assert list(lists) == ["pre_deployment", "post_deployment", "daily", "weekly", "monthly"]
    assert [len(c.items) for c in lists.values()] == [12, 11, 11, 10, 8]
    post = lists["post_deployment"]
    assert post.items[0].text == "Health check passing" and post.items[0].check == "health_check"
    assert {i.check for i in post.items if i.check} == {
        "health_check",
        "error_rate",
        "response_times",
        "db_connections",
        "cache_hit_rate",
        "rate_limiting",
        "endpoints_responding",
        "pods_ready",
        "critical_metrics",
    }
    assert all(i.check is None for i in lists["monthly"].items)


@pytest.mark.parametrize(
    ("body", "key", "words"),
    [
        (
            '[lists.x]\ntitle = "X"\n[[lists.x.items]]\nid = "a"\ntext = "A"\ncheck = "magic"\n',
            "lists.x.items[0].check",
            "unknown verifier 'magic'",
        ),
        (
            '[lists.x]\ntitle = "X"\n[[lists.x.items]]\nid = "a"\n',
            "lists.x.items[0].text",
            "non-empty",
        ),
        (
            '[lists.x]\ntitle = "X"\n[[lists.x.items]]\nid = "a"\ntext = "A"\n'
            '[[lists.x.items]]\nid = "a"\ntext = "B"\n',
            "lists.x.items",
            "duplicate item id 'a'",
        ),
        ('[lists.x]\ntitle = "X"\nitems = []\n', "lists.x.items", "expected"),
        ('[lists.x]\ntitel = "X"\n', "lists.x", "unknown key 'titel'"),
        ("lists = 3\n", "lists", "expected [lists"),
    ],
)
def test_team_file_errors_name_the_file_and_key(tmp_path, body, key, words):
    path = tmp_path / "ours.toml"
    path.write_text(body)
    with pytest.raises(ConfigError) as err:
        load_checklists(path)
    assert str(path) in str(err.value) and f"{key}:" in str(err.value) and words in str(err.value)


def test_team_file_replaces_the_builtin_and_missing_file_is_named(tmp_path):
    path = tmp_path / "ours.toml"
    path.write_text(
        '[lists.release]\ntitle = "Release"\n[[lists.release.items]]\n'
        'id = "h"\ntext = "API healthy"\ncheck = "health_check"\n'
    )
    lists = load_checklists(str(path)).lists
    assert list(lists) == ["release"] and lists["release"].items[0].check == "health_check"
    with pytest.raises(ConfigError, match="checklists.path"):
        load_checklists(tmp_path / "missing.toml")


def test_healthy_snapshots_pass_with_evidence():
    snaps = {
        "api": replace(api_snapshot(), rate_limited_rate=0.0, rate_429=0.0),
        "cache": cache_snapshot(),
    }
    for name in ("health_check", "error_rate", "response_times", "rate_limiting", "cache_hit_rate"):
        verdict = _check(name, **snaps)
        assert verdict.state == PASS, (name, verdict.evidence)
    assert "200 in 38 ms" in _check("health_check", **snaps).evidence
    assert "p95 140 ms" in _check("response_times", **snaps).evidence
    assert "hit rate 62.0%" in _check("cache_hit_rate", **snaps).evidence


def test_breaches_fail():
    api = api_snapshot()
    assert (
        _check(
            "health_check",
            api=replace(api, health_ok=False, health_status_code=503, health_error="down"),
        ).state
        == FAIL
    )
    assert _check("error_rate", api=replace(api, error_ratio=0.2)).state == FAIL
    assert _check("response_times", api=replace(api, latency_ms={"p95": 900.0})).state == FAIL
    assert _check("response_times", api=replace(api, health_latency_ms=800.0)).state == FAIL
    limited = _check("rate_limiting", api=replace(api, rate_429=5.0, rate_limited_rate=5.0))
    assert limited.state == FAIL and "limit 1/s" in limited.evidence
    assert (
        _check("cache_hit_rate", cache=replace(cache_snapshot(), hit_rate_interval=0.1)).state
        == FAIL
    )
    # six sessions idle over the threshold of 97 usable slots is not yet a flood; 24 is
    db = db_snapshot()
    assert _check("db_connections", database=db).state == PASS
    flood = replace(db, idle_over_threshold=db.idle_over_threshold * 4)
    assert "idle flood" in _check("db_connections", database=flood).evidence
    assert _check("db_connections", database=replace(db, total=85)).state == FAIL
    certs = _check("certificates_valid", certificates=certs_snapshot())
    assert certs.state == FAIL and "app.predictiq.example:443 expiring" in certs.evidence


def test_error_rate_rise_against_the_trend():
    state = CockpitState()
    for ratio in (0.001, 0.002, 0.001, 0.03):  # 3% is under the 5% limit but a clear rise
        state.update("api", replace(api_snapshot(), error_ratio=ratio))
    verdict = STATE_VERIFIERS["error_rate"](state, make_config())
    assert (
        verdict.state == FAIL
        and "risen" in verdict.evidence
        and "baseline 0.10%" in verdict.evidence
    )


def test_kubernetes_items():
    kube = kube_snapshot()  # one pod in CrashLoopBackOff
    pods = _check("pods_ready", kubernetes=kube)
    assert (
        pods.state == FAIL
        and "4/5 pods ready" in pods.evidence
        and "CrashLoopBackOff" in pods.evidence
    )
    healthy = replace(kube, pods=kube.pods[:4], deployment=replace(kube.deployment, desired=4))
    assert _check("pods_ready", kubernetes=healthy).state == PASS
    assert _check("disk_pressure", kubernetes=kube).state == UNKNOWN  # no node information
    nodes = (NodeInfo("node-1", True, False, False), NodeInfo("node-2", True, True, False))
    disk = _check("disk_pressure", kubernetes=replace(kube, nodes=nodes))
    assert disk.state == FAIL and "node-2" in disk.evidence
    assert _check("critical_metrics", kubernetes=healthy).state == PASS
    hot = replace(healthy, pods=tuple(replace(p, cpu_m=490.0) for p in healthy.pods))
    assert _check("critical_metrics", kubernetes=hot).state == FAIL


def test_missing_failing_or_silent_sources_are_unknown_never_pass():
    bare = Config()
    for name in STATE_VERIFIERS:
        verdict = STATE_VERIFIERS[name](CockpitState(), bare)
        assert verdict.state == UNKNOWN and "not configured" in verdict.evidence, name
        verdict = STATE_VERIFIERS[name](CockpitState(), make_config())
        assert verdict.state == UNKNOWN, name
    failing = _state(api=api_snapshot())
    failing.update("api", SourceFailure("api", "GET /health", "connection refused"))
    verdict = STATE_VERIFIERS["health_check"](failing, make_config())
    assert verdict.state == UNKNOWN and "connection refused" in verdict.evidence
    no_counter = _check("rate_limiting", api=replace(api_snapshot(), rate_limited_rate=None))
    assert no_counter.state == UNKNOWN and "rate_limit_rejections_total" in no_counter.evidence
    assert (
        _check(
            "error_rate", api=replace(api_snapshot(), metrics_ok=False, metrics_error="HTTP 404")
        ).state
        == UNKNOWN
    )
    assert (
        _check("cache_hit_rate", cache=replace(cache_snapshot(), hit_rate_interval=None)).state
        == UNKNOWN
    )
    assert asyncio.run(endpoints_responding(make_config())).state == UNKNOWN  # no api.endpoints


def test_item_states_ticks_and_backup_unknown():
    checklist = load_checklists().lists["pre_deployment"]
    seen = []

    def backup(cfg: BackupConfig) -> BackupCheck:
        seen.append(cfg)
        return BackupCheck("unknown", "backup check not configured (backup.directory)")

    state = _state(api=api_snapshot())
    verdicts = asyncio.run(verify_checklist(checklist, state, make_config(), backup=backup))
    assert set(verdicts) == {"health_check", "backup_completed"} and len(seen) == 1
    items = {
        i.id: i for i in item_results(checklist, verdicts, ticked={"tests", "backup", "health"})
    }
    assert (items["tests"].state, items["tests"].by) == ("done", "operator")
    assert (items["clippy"].state, items["clippy"].by) == ("open", "operator")
    # an item the cockpit could not verify may be ticked; its evidence is kept
    assert items["backup"].state == "done" and "not configured" in items["backup"].evidence
    # a verified item stays the cockpit's, ticked or not
    assert (items["health"].state, items["health"].by) == ("pass", "cockpit")


def test_recorded_run_and_its_markdown(tmp_path):
    checklist = load_checklists().lists["post_deployment"]
    state = _state(api=api_snapshot())
    verdicts = {"health_check": STATE_VERIFIERS["health_check"](state, make_config())}
    log = AuditLog(tmp_path / "audit.jsonl")
    entry = record_run(log, checklist, item_results(checklist, verdicts, {"logged"}), run_id="abc")
    [stored] = read_entries(log.path)
    assert (
        stored == entry
        and stored["event"] == "checklist.run"
        and stored["checklist"] == "post_deployment"
    )
    assert stored["summary"] == {"passed": 1, "open": 9, "done": 1}
    md = render_checklist_markdown(stored)
    assert md.startswith("# Post-deployment checklist — run abc")
    assert f"- Who: {stored['operator']['login']}" in md and stored["time"] in md
    assert "| 1 | Health check passing | ✅ pass | cockpit | GET /health → 200 in 38 ms" in md
    assert "| Deployment logged | ☑ done | operator |" in md


def test_quickref_renders_commands_for_the_target():
    cfg = replace(
        make_config(context="prod-eu"),
        links=(LinkConfig("Grafana", "https://grafana.predictiq.com"),),
        contacts=(ContactConfig("On-Call Engineer", "Ada", "+1 555 0100"),),
    )
    ref = build_quickref(cfg)
    commands = [c.command for c in ref.commands]
    assert (
        "kubectl --context prod-eu -n predictiq get pods -l app=predictiq-api -o wide" in commands
    )
    assert (
        "kubectl --context prod-eu -n predictiq rollout undo deployment/predictiq-api" in commands
    )
    assert ("API (watched)", "https://api.invalid") in ref.links and ref.contacts[0][1] == "Ada"
    assert all("predictiq@db.invalid" not in c for c in commands)  # DSNs never printed
    text = render_text(ref)
    assert "Grafana: https://grafana.predictiq.com" in text and "curl -fsS" in text
    # the current context from the snapshot when the config leaves it empty; quoting of odd names
    cfg = replace(cfg, kubernetes=replace(cfg.kubernetes, context="", namespace="my ns"))
    ref = build_quickref(cfg, context="kind-lab")
    assert ref.commands[0].command.startswith("kubectl --context kind-lab -n 'my ns' get pods")
    cfg = replace(cfg, kubernetes=replace(cfg.kubernetes, namespace=""))
    assert (
        build_quickref(cfg, "kind-lab", "team-a")
        .commands[0]
        .command.startswith("kubectl --context kind-lab -n team-a get pods")
    )
    assert build_quickref(cfg).commands[0].command.startswith("kubectl get pods")
    assert build_quickref(Config()).notes  # says what is missing
