"""The detection rules at their thresholds, and the runbook data they point at."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from cockpit.config import Config, ConfigError, ThresholdsConfig
from cockpit.incidents import rules
from cockpit.incidents.runbook import ACTION_IDS, load_runbook, render_commands, render_diagnosis
from cockpit.models import PodDisk, VolumeUsage
from cockpit.state import CockpitState
from tests.unit.incident_data import T0, api, cache, certs, db, failure, kube, pod

CFG = Config()


def state(*updates) -> CockpitState:
    s = CockpitState()
    for source, result in updates:
        s.update(source, result)
    return s


def found(rule, st, cfg=CFG, now=T0):
    return getattr(rules, rule)(st, cfg, now)


def test_connection_thresholds_come_from_config():
    st = state(("database", db(active=3, idle=76)))  # 80 of 100 with the cockpit's own
    [f] = found("connection_exhaustion", st)
    assert (f.severity, f.evidence["usage_percent"]) == ("P2", 80.0)
    strict = replace(
        CFG,
        thresholds=ThresholdsConfig(connection_warning_percent=70, connection_critical_percent=80),
    )
    assert found("connection_exhaustion", st, strict)[0].severity == "P1"
    assert found("connection_exhaustion", state(("database", db(active=3, idle=75)))) == []


def test_a_failing_source_is_not_judged_on_stale_data():
    st = state(("database", db(idle=95)), ("database", failure("database")))
    assert found("connection_exhaustion", st) == []
    assert found("database_unreachable", st)[0].evidence["reason"] == "connection refused"


def test_high_cpu_is_deployment_wide():
    one_hot = kube((pod(0, cpu_m=1000), pod(1, cpu_m=100), pod(2, cpu_m=100)))
    assert found("high_cpu", state(("kubernetes", one_hot))) == []  # 40 % overall
    hot = kube(tuple(pod(i, cpu_m=850) for i in range(3)))
    [f] = found("high_cpu", state(("kubernetes", hot), ("api", api(latency_ms=100))))
    assert (f.severity, f.evidence["cpu_percent"]) == ("P3", 85.0)
    [f] = found("high_cpu", state(("kubernetes", hot), ("api", api(latency_ms=900))))
    assert f.severity == "P2" and f.evidence["latency_degraded"]


def test_oom_recent_kill_counts_an_old_one_does_not():
    recent = kube((pod(0, last_state="OOMKilled", finished_at=T0 - timedelta(minutes=2)),))
    assert found("oom", state(("kubernetes", recent)))[0].severity == "P2"
    old = kube((pod(0, last_state="OOMKilled", finished_at=T0 - timedelta(hours=2)),))
    assert found("oom", state(("kubernetes", old))) == []


def test_slow_statement_mean_counts_like_a_running_query():
    [f] = found("slow_queries", state(("database", db(mean_ms=1500.0))))
    assert f.evidence["worst_mean_ms"] == 1500.0 and f.evidence["running_over_threshold"] == 0


def test_cache_without_lookups_is_not_a_storm():
    assert found("cache_miss_storm", state(("cache", cache(0, 0)))) == []
    assert found("cache_miss_storm", state(("cache", cache(49, 51))))[0].severity == "P2"
    assert found("cache_miss_storm", state(("cache", cache(50, 50)))) == []


def test_rate_limit_threshold():
    assert found("rate_limit", state(("api", api(rate_429=1.0)))) == []
    assert found("rate_limit", state(("api", api(rate_429=1.5))))[0].severity == "P3"


@pytest.mark.parametrize(
    "days,severity", [(45, None), (30, "P4"), (7.5, "P4"), (7, "P2"), (0.5, "P2"), (-2, "P1")]
)
def test_certificate_severity_by_days_left(days, severity):
    result = found("certificate", state(("certificates", certs(days))))
    assert [f.severity for f in result] == ([severity] if severity else [])


def test_one_certificate_incident_per_endpoint():
    keys = [f.key for f in found("certificate", state(("certificates", certs(5, 20, 90))))]
    assert keys == ["certificate:cert0.predictiq.test:443", "certificate:cert1.predictiq.test:443"]


def test_disk_pressure_only_on_nodes_running_the_pods():
    assert found("disk", state(("kubernetes", kube(disk_pressure=("node-b",))))) == []
    [f] = found("disk", state(("kubernetes", kube(disk_pressure=("node-a",)))))
    assert f.evidence["nodes"] == ["node-a"] and f.evidence["pod_count"] == 3


def _filled(i: int, percent: float, node: str = "node-a"):
    """Pod i with its 10 GiB data volume `percent` full (and a nearly empty ephemeral storage)."""
    cap = 10 * 2**30
    volumes = (
        VolumeUsage("ephemeral-storage", 2**28, 100 * 2**30, 80 * 2**30, ephemeral=True),
        VolumeUsage("data", int(cap * percent / 100), cap, cap - int(cap * percent / 100), "c"),
    )
    return replace(pod(i, node=node), disk=PodDisk(node=node, read_at=T0, volumes=volumes))


def test_a_filling_volume_is_p3_at_disk_percent_and_p2_at_disk_critical_percent():
    def severity(percent: float, cfg=CFG):
        found_now = found("disk", state(("kubernetes", kube((_filled(0, percent), pod(1))))), cfg)
        return found_now[0].severity if found_now else None

    assert [severity(p) for p in (84.9, 85.0, 94.9, 95.0)] == [None, "P3", "P3", "P2"]
    strict = replace(CFG, thresholds=ThresholdsConfig(disk_percent=70, disk_critical_percent=80))
    assert [severity(p, strict) for p in (69, 75, 85)] == [None, "P3", "P2"]
    [f] = found("disk", state(("kubernetes", kube((_filled(0, 97), _filled(1, 90))))))
    assert (f.evidence["worst_pod"], f.evidence["worst_volume"]) == ("predictiq-api-0", "data")
    assert [v.split(" ")[:3] for v in f.evidence["volumes_over"]] == [
        ["predictiq-api-0", "data", "97"],
        ["predictiq-api-1", "data", "90"],
    ]
    assert f.title == "Disk filling up" and "nodes" not in f.evidence
    assert f.affected == ("API pods", "predictiq-api-0", "predictiq-api-1")


def test_disk_pressure_and_a_filling_volume_are_one_incident_at_the_worst_severity():
    st = state(("kubernetes", kube((_filled(0, 88), pod(1)), disk_pressure=("node-a",))))
    [f] = found("disk", st)
    assert (f.severity, f.title) == ("P2", "Disk pressure")
    assert f.evidence["nodes"] == ["node-a"] and f.evidence["worst_pod"] == "predictiq-api-0"
    entry = load_runbook().entry("disk")
    assert entry is not None
    text = render_diagnosis(entry, f.evidence)
    assert text.startswith("volumes over 85 %: predictiq-api-0 data 88 % (1.2Gi free of 10.0Gi)")
    assert "DiskPressure on node-a: 2 of the deployment's pods run there" in text
    commands = render_commands(entry, f.evidence, {"namespace": "predictiq"})
    assert "kubectl -n predictiq exec predictiq-api-0 -- df -h" in commands
    assert "kubectl describe node node-a" in commands


def test_every_rule_has_a_runbook_entry_with_known_actions():
    rb = load_runbook()
    for spec in rules.RULES:
        entry = rb.entry(spec.rule)
        assert entry is not None, spec.rule
        assert entry.symptoms and entry.diagnosis and entry.prevention
        assert set(entry.actions) <= set(ACTION_IDS) and set(spec.actions) <= set(ACTION_IDS)


def test_diagnosis_renders_live_numbers():
    [f] = found(
        "connection_exhaustion", state(("database", db(idle=80, idle_old=31, longest_seconds=12.3)))
    )
    text = render_diagnosis(load_runbook().entry("connection_exhaustion"), f.evidence)
    assert text.startswith("84 of 100 connections (84 %)")
    assert "31 idle > 10 min; longest query 12.3 s (pid 4242)" in text


@pytest.mark.parametrize("version,column", [(120000, "mean_time"), (150004, "mean_exec_time")])
def test_commands_use_the_servers_pg_stat_statements_columns(version, column):
    [f] = found("slow_queries", state(("database", db(mean_ms=2000.0, version_num=version))))
    commands = "\n".join(render_commands(load_runbook().entry("slow_queries"), f.evidence))
    assert f"ORDER BY {column} DESC" in commands
    assert "now() - query_start" in commands and "duration" not in commands


@pytest.mark.parametrize(
    "text,message",
    [
        ("[entries.x]\ntitle='t'\n", "entries.x.diagnosis: expected a non-empty string"),
        ("[entries.x]\ntitle='t'\ndiagnosis='d'\nactions=['reboot']\n", "unknown action 'reboot'"),
        ("[entries.x]\ntitle='t'\ndiagnosis='{a'\n", "entries.x.diagnosis: bad template"),
        ("[entries.x]\ntitle='t'\ndiagnosis='d'\ncolour='red'\n", "unknown key 'colour'"),
        ("title = 1\n", "expected [entries.<rule id>] tables"),
    ],
)
def test_a_teams_runbook_is_validated_with_clear_errors(tmp_path, text, message):
    path = tmp_path / "runbook.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_runbook(path)
    assert message in str(err.value) and str(path) in str(err.value)


def test_a_teams_runbook_replaces_the_built_in_one(tmp_path):
    path = tmp_path / "runbook.toml"
    path.write_text(
        "[entries.cache_miss_storm]\ntitle='Cold cache'\n"
        "diagnosis='hit rate {hit_rate_percent:.0f} %, {unknown_field}'\n"
    )
    rb = load_runbook(path)
    assert list(rb.entries) == ["cache_miss_storm"]
    assert (
        render_diagnosis(rb.entry("cache_miss_storm"), {"hit_rate_percent": 12.4})
        == "hit rate 12 %, n/a"
    )


def test_a_slow_query_waiting_on_a_lock_names_the_root_blocker():
    from dataclasses import replace

    from cockpit.config import parse_config
    from cockpit.incidents.rules import slow_queries
    from cockpit.state import CockpitState
    from tests.ui.fixtures import NOW, _conn, db_snapshot

    root = _conn(500, "idle in transaction", 190.0, "UPDATE markets SET odds = 2 WHERE id = 1")
    waiter = _conn(501, "active", 60.0, "UPDATE markets SET odds = 3 WHERE id = 1", blocked=(500,))
    behind = _conn(502, "active", 30.0, "ALTER TABLE markets ADD COLUMN x int", blocked=(500, 501))
    db = replace(
        db_snapshot(),
        collected_at=NOW,
        longest_queries=(waiter, behind),
        lock_sessions=(root, waiter, behind),
        lock_waits=(waiter, behind),
    )
    state = CockpitState()
    state.update("database", db)
    cfg = parse_config({"database": {"url": "postgresql://x@db.invalid/x"}}, env={})
    [finding] = slow_queries(state, cfg, NOW)
    ev = finding.evidence
    assert ev["lock_root_pid"] == 500 and ev["lock_root_state"] == "idle in transaction"
    assert ev["lock_root_waiting_behind"] == 2 and ev["lock_waiting"] == 2
    assert ev["lock_root_seconds"] == 190.0


def test_the_runbooks_action_ids_are_exactly_the_registrys_actions():
    # the runbook names fixes by id; a renamed or new action must be known to both
    from actions.registry import ACTIONS

    assert set(ACTION_IDS) == set(ACTIONS), (
        "cockpit/incidents/runbook.py ACTION_IDS must name exactly the main screen's actions "
        "(actions/registry.py ACTIONS): only in ACTION_IDS "
        f"{sorted(set(ACTION_IDS) - set(ACTIONS))}, "
        f"only in ACTIONS {sorted(set(ACTIONS) - set(ACTION_IDS))}"
    )
    assert all(ACTIONS[action_id].id == action_id for action_id in ACTION_IDS)
