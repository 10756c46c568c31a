"""`cockpit snapshot` as a subprocess against real PostgreSQL, Redis, TLS endpoints and the API
simulator: JSON shape, real rates from two samples, exit codes, and one dead source."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from cockpit.lab.apisim.sim import ApiSimulator
from cockpit.lab.schema import install_schema

COCKPIT = str(Path(sys.executable).parent / "cockpit")
INTERVAL = 0.3
SECTION_KEYS = ("database", "cache", "certificates", "api")
# the scale subresource denied: scale and contain (which scales to 0) are; whatever patches the
# deployment itself (restart, set env, resources, roll back, pause/resume) is not
DENIED_SCALE = {
    "scale": False,
    "restart": True,
    "set_env": True,
    "resources": True,
    "rollback": True,
    "contain": False,
    "pause_rollout": True,
    "resume_rollout": True,
}


@pytest.fixture(scope="module")
def api_sim(pg, redis_server) -> Iterator[ApiSimulator]:
    with pg.connect() as conn:
        install_schema(conn)
    sim = ApiSimulator(pg.url, redis_server.url, rate_limit_rps=None).start()
    yield sim
    sim.stop()


def _toml(pg_url: str | None, redis_url: str | None, api_url: str | None, tls_lab=None) -> str:
    lines = ["[refresh]", "timeout_seconds = 3"]
    if pg_url:
        lines += ["[database]", f'url = "{pg_url}"']
    if redis_url:
        lines += ["[cache]", f'url = "{redis_url}"']
    if api_url:
        lines += ["[api]", f'base_url = "{api_url}"']
    for name in ("valid", "expired") if tls_lab else ():
        e = tls_lab.endpoints[name]
        lines += [
            "[[certificates]]",
            f'host = "{e.server_name}"',
            f"port = {e.port}",
            f'address = "{e.host}"',
            f'ca_file = "{e.ca_pem_path}"',
        ]
    return "\n".join(lines) + "\n"


def _run(tmp_path: Path, toml: str, *extra: str) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "cockpit.toml"
    path.write_text(toml)
    env = {k: v for k, v in os.environ.items() if k != "COCKPIT_CONFIG"}
    env["COLUMNS"] = "200"  # rich wraps at 80 columns without a terminal
    return subprocess.run(
        [COCKPIT, "snapshot", "--config", str(path), *extra],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )


def test_every_source_answers(tmp_path, pg, redis_server, api_sim, tls_lab):
    proc = _run(
        tmp_path,
        _toml(pg.url, redis_server.url, api_sim.url, tls_lab),
        "--json",
        "--interval",
        str(INTERVAL),
    )
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert list(doc) == [*SECTION_KEYS, "pods", "incidents"]
    for key in SECTION_KEYS:
        assert doc[key]["ok"] is True and doc[key]["error"] is None, doc[key]
        assert doc[key]["collected_at"].endswith("Z")
    assert doc["database"]["database"] == pg.dbname
    assert doc["database"]["max_connections"] == pg.max_connections
    # rates come from two samples INTERVAL apart, not since-start averages
    assert doc["cache"]["interval_seconds"] == pytest.approx(INTERVAL, abs=0.25)
    api = doc["api"]
    assert api["health_ok"] and api["health_status_code"] == 200 and api["metrics_ok"]
    assert api["metrics_interval_seconds"] == pytest.approx(INTERVAL, abs=0.25)
    assert api["request_rate"] > 0  # at least the first sample's own /health and /metrics
    assert set(api["rate_by_class"]) == {"2xx"}
    statuses = [(c["server_name"], c["status"]) for c in doc["certificates"]["certificates"]]
    assert statuses == [("api.predictiq.test", "ok"), ("api.predictiq.test", "expired")]
    assert isinstance(doc.get("incidents", []), list)


def test_one_dead_source_exits_1_and_keeps_the_others(tmp_path, pg, api_sim, closed_port):
    proc = _run(
        tmp_path,
        _toml(pg.url, f"redis://127.0.0.1:{closed_port}/0", api_sim.url),
        "--json",
        "--interval",
        "0",
    )
    assert proc.returncode == 1, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["cache"]["ok"] is False and doc["cache"]["collected_at"] is None
    assert "refused" in doc["cache"]["error"]
    assert doc["database"]["ok"] is True and doc["api"]["ok"] is True
    assert doc["certificates"] == {"ok": False, "error": "not configured", "collected_at": None}


def test_a_certificate_that_cannot_be_read_exits_1(tmp_path, closed_port):
    toml = (
        "[refresh]\ntimeout_seconds = 3\n[[certificates]]\n"
        f'host = "api.predictiq.test"\nport = {closed_port}\naddress = "127.0.0.1"\n'
    )
    proc = _run(tmp_path, toml, "--json", "--interval", "0")
    assert proc.returncode == 1, proc.stderr
    doc = json.loads(proc.stdout)
    # the source answered (ok), but its one check could not be made: scripts must not see 0
    assert doc["certificates"]["ok"] is True
    assert doc["certificates"]["certificates"][0]["status"] == "error"
    assert f"certificate api.predictiq.test:{closed_port}: connection refused" in proc.stderr


def test_health_answering_401_exits_1(tmp_path, pg, redis_server, api_sim):
    api_sim.set_required_auth("Bearer something-else")
    try:
        proc = _run(
            tmp_path, _toml(pg.url, redis_server.url, api_sim.url), "--json", "--interval", "0"
        )
    finally:
        api_sim.set_required_auth(None)
    assert proc.returncode == 1, proc.stderr
    api = json.loads(proc.stdout)["api"]
    assert api["ok"] is True and api["health_ok"] is False and api["health_status_code"] == 401
    assert "api: /health HTTP 401" in proc.stderr


def test_a_source_that_cannot_be_built_fails_alone(tmp_path, pg, api_sim):
    # redis-py refuses an http:// URL in the source's constructor: that one source is failed,
    # the others are collected as usual
    proc = _run(
        tmp_path, _toml(pg.url, "http://127.0.0.1:6379/0", api_sim.url), "--json", "--interval", "0"
    )
    assert proc.returncode == 1, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["cache"]["ok"] is False and doc["cache"]["failed_step"] == "start"
    assert "redis://" in doc["cache"]["error"], doc["cache"]
    assert doc["database"]["ok"] is True and doc["api"]["ok"] is True
    assert "Traceback" not in proc.stderr


def test_unconfigured_sections_are_not_failures(tmp_path, tls_lab):
    proc = _run(tmp_path, _toml(None, None, None, tls_lab), "--json", "--interval", "0")
    assert proc.returncode == 0, (
        proc.stderr
    )  # an expired certificate is a result, not a failed check
    doc = json.loads(proc.stdout)
    for key in ("database", "cache", "api"):
        assert doc[key] == {"ok": False, "error": "not configured", "collected_at": None}
    assert doc["certificates"]["ok"] is True


def test_table_output_names_each_source(tmp_path, pg, closed_port):
    proc = _run(tmp_path, _toml(pg.url, None, f"http://127.0.0.1:{closed_port}"), "--interval", "0")
    assert proc.returncode == 1
    out = proc.stdout
    assert "database" in out and "ok" in out
    assert "FAILED" in out and "connection refused" in out
    assert "not configured" in out  # cache and certificates


def test_bad_config_exits_2(tmp_path):
    proc = _run(tmp_path, "[database]\nurl = 5\n", "--json")
    assert proc.returncode == 2
    assert "database.url" in proc.stderr and proc.stdout == ""


def _kube_toml(kubeconfig: Path) -> str:
    return (
        "[refresh]\ntimeout_seconds = 3\n[kubernetes]\n"
        f'kubeconfig = "{kubeconfig}"\ncontext = "lab"\nnamespace = "predictiq"\n'
        'deployment = "predictiq-api"\nselector = "app=predictiq-api"\n'
    )


def test_pods_from_the_kubernetes_simulator_with_usage_and_permissions(tmp_path):
    from cockpit.lab.kubesim.sim import KubeSim

    with KubeSim(namespace="predictiq", deployment="predictiq-api", replicas=3, delay=0.05) as sim:
        sim.deny("patch", "deployments", "scale")
        kubeconfig = sim.write_kubeconfig(tmp_path / "kubeconfig", context="lab")
        proc = _run(tmp_path, _kube_toml(kubeconfig), "--json", "--interval", "0")
    assert proc.returncode == 0, proc.stderr
    pods = json.loads(proc.stdout)["pods"]
    assert pods["ok"] is True, pods
    assert pods["namespace"] == "predictiq" and pods["context"] == "lab"
    assert len(pods["pods"]) == 3 and pods["deployment"]["name"] == "predictiq-api"
    # the one-shot snapshot waited for the first metrics.k8s.io poll and the access reviews
    assert pods["metrics_error"] is None
    running = [p for p in pods["pods"] if p["phase"] == "Running"]
    assert running and all(
        p["cpu_m"] is not None and p["memory_bytes"] is not None for p in running
    ), running
    assert pods["permissions"] == DENIED_SCALE
    # and the first round of kubelet summaries: per-pod disk, as the README's schema says
    assert pods["disk"]["note"] is None and pods["disk"]["nodes_failed"] == {}, pods["disk"]
    for pod in running:
        volumes = {v["name"]: v for v in pod["disk"]["volumes"]}
        assert pod["disk"]["node"] == pod["node"] and pod["disk"]["stale"] is False
        assert volumes["ephemeral-storage"]["ephemeral"] is True
        assert volumes["data"]["pvc"] == f"{pod['name']}-data"
        assert volumes["data"]["capacity_bytes"] == 10 * 1024**3
        assert 0 < volumes["data"]["used_bytes"] < volumes["data"]["capacity_bytes"]


def test_missing_metrics_api_is_a_metrics_error_in_the_snapshot(tmp_path):
    from cockpit.lab.kubesim.sim import KubeSim

    with KubeSim(namespace="predictiq", deployment="predictiq-api", replicas=2, delay=0.05) as sim:
        sim.metrics_unavailable()
        kubeconfig = sim.write_kubeconfig(tmp_path / "kubeconfig", context="lab")
        proc = _run(tmp_path, _kube_toml(kubeconfig), "--json", "--interval", "0")
    assert proc.returncode == 0, proc.stderr  # the pods are there; only usage is missing
    pods = json.loads(proc.stdout)["pods"]
    assert pods["ok"] is True and "503" in pods["metrics_error"], pods
    assert all(p["cpu_m"] is None for p in pods["pods"])
