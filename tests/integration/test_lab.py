"""The Lab orchestrator: what it starts, the files it writes, and that stop() leaves nothing."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest
import redis
from kubernetes import client as k8s

from cockpit.lab.control import DrillError, call
from cockpit.lab.drills import DRILLS
from cockpit.lab.lab import Lab
from cockpit.lab.labfiles import read_env, read_info
from cockpit.sources.kube.client import new_api_client, resolve_target
from tests.integration.lab_helpers import (
    client_backends,
    lab_config,
    port_open,
    started_lab,
    verifies,
    wait_for,
)

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    with started_lab(tmp_path_factory.mktemp("lab")) as running:
        yield running


def test_config_is_a_valid_cockpit_config_without_secrets(lab: Lab) -> None:
    text = lab.config_path.read_text()
    assert lab.admin_token not in text and "${PREDICTIQ_ADMIN_TOKEN}" in text
    cfg = lab_config(lab)
    assert cfg.api.token == lab.admin_token and cfg.api.base_url == lab.api.url
    assert cfg.database.app_user == "predictiq" and cfg.database.app_database == "predictiq"
    assert cfg.refresh.interval_seconds == 2.0
    assert [c.host for c in cfg.certificates] == ["api.predictiq.test", "www.predictiq.test"]
    assert all(c.address == "127.0.0.1" and Path(c.ca_file).is_file() for c in cfg.certificates)
    target = resolve_target(cfg.kubernetes)
    assert (target.context, target.namespace) == ("lab-staging", "predictiq")


def test_secret_files_are_private(lab: Lab) -> None:
    for path in (lab.env_path, lab.info_path, lab.kubeconfig_path):
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600, path
    assert read_env(lab.env_path) == {"PREDICTIQ_ADMIN_TOKEN": lab.admin_token}


def test_the_api_runs_as_the_app_role_with_a_warm_cache_and_live_traffic(lab: Lab) -> None:
    assert httpx.get(f"{lab.api.url}/health", timeout=5).json()["status"] == "ok"
    wait_for(lambda: client_backends(lab, "predictiq") >= 1, what="the API connected as predictiq")
    with redis.Redis.from_url(lab.redis_url, socket_timeout=3, socket_connect_timeout=3) as r:
        assert r.exists("market:1")  # warmed at start
        hits = int(r.info("stats")["keyspace_hits"])
        wait_for(lambda: int(r.info("stats")["keyspace_hits"]) > hits + 10, what="traffic hits")
    with psycopg.connect(lab.monitor_url, connect_timeout=5) as conn:
        assert conn.execute("SELECT count(*) FROM markets").fetchone()[0] == 200


def test_kubernetes_simulator_serves_the_deployment_through_the_kubeconfig(lab: Lab) -> None:
    with new_api_client(lab_config(lab).kubernetes) as api:
        dep = k8s.AppsV1Api(api).read_namespaced_deployment(
            "predictiq-api", "predictiq", _request_timeout=5
        )
        assert dep.spec.replicas == 3
        pods = (
            k8s.CoreV1Api(api)
            .list_namespaced_pod(
                "predictiq", label_selector="app=predictiq-api", _request_timeout=5
            )
            .items
        )
        assert len(pods) == 3


def test_certificates_verify_against_the_lab_ca(lab: Lab) -> None:
    assert verifies(lab)


def test_control_server_needs_its_token(lab: Lab) -> None:
    control = read_info(lab.info_path)["control"]
    assert httpx.get(f"{control['url']}/drills", timeout=5).status_code == 401
    listing = call(lab.dir, "GET", "/drills")
    assert listing["active"] == [] and len(listing["drills"]) == len(DRILLS)
    with pytest.raises(DrillError, match="unknown drill"):
        call(lab.dir, "POST", "/drills/nope")


def test_stop_leaves_no_process_port_or_secret_file(tmp_path: Path) -> None:
    with started_lab(tmp_path) as lab:
        info = read_info(lab.info_path)
        pids = [info["postgres"]["pid"], info["redis"]["pid"]]
        ports = [
            info["postgres"]["port"],
            info["redis"]["port"],
            lab.api.port,
            lab.kube.port,
            lab.cert.port,
        ]
        assert all(port_open(p) for p in ports)
        lab.drills.inject("connection-exhaustion")  # a drill left active is cleared by stop()
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    assert not any(port_open(p) for p in ports)
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # no audit entry was written either
    lab.stop()  # a second stop is harmless


def test_given_servers_get_a_private_database_and_role_dropped_at_stop(
    pg, redis_server, tmp_path: Path
) -> None:
    with started_lab(tmp_path, database_url=pg.admin_url, redis_url=redis_server.url) as lab:
        assert lab.pg is None and lab.redis_server is None
        assert lab.app_user.startswith("predictiq_") and lab.app_user != "predictiq"
        assert httpx.get(f"{lab.api.url}/health", timeout=5).status_code == 200
        name = lab.app_database
    with psycopg.connect(pg.admin_url, connect_timeout=5, autocommit=True) as conn:
        assert (
            conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is None
        )
        assert conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (name,)).fetchone() is None
