"""Every drill, injected into a running lab and checked on the real servers, then cleared.

Each test checks that the injected condition really holds where the cockpit would read it
(pg_stat_activity, Redis INFO, /metrics, /health, a TLS handshake, the Kubernetes API through the
official client) and that clearing the drill restores health.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterator

import httpx
import psycopg
import pytest
from kubernetes import client as k8s
from kubernetes.utils import parse_quantity
from prometheus_client.parser import text_string_to_metric_families

from cockpit.lab.control import DrillError
from cockpit.lab.drills import DRILLS, DrillRunner
from cockpit.lab.lab import Lab
from cockpit.sources.kube.client import new_api_client
from tests.integration.lab_helpers import (
    client_backends,
    hit_rate_over_next,
    lab_config,
    peer_certificate,
    started_lab,
    verifies,
    wait_for,
)

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    with started_lab(tmp_path_factory.mktemp("drills")) as running:
        yield running


@pytest.fixture(scope="module")
def kube_api(lab: Lab) -> Iterator[k8s.ApiClient]:
    api = new_api_client(lab_config(lab).kubernetes)
    yield api
    api.close()


@contextlib.contextmanager
def injected(lab: Lab, name: str) -> Iterator[str]:
    """Inject a drill; clear it even when the test fails."""
    detail = lab.drills.inject(name)
    try:
        yield detail
    finally:
        lab.drills.clear(name)


def api_metric(lab: Lab, name: str) -> float:
    response = httpx.get(f"{lab.api.url}/metrics", timeout=5)
    return sum(
        s.value
        for f in text_string_to_metric_families(response.text)
        for s in f.samples
        if s.name == name
    )


def pods(kube_api: k8s.ApiClient) -> list[k8s.V1Pod]:
    return (
        k8s.CoreV1Api(kube_api)
        .list_namespaced_pod("predictiq", label_selector="app=predictiq-api", _request_timeout=5)
        .items
    )


def deployment_cpu_fraction(kube_api: k8s.ApiClient) -> float:
    """Sum of pod CPU use over the sum of limits, from metrics.k8s.io and the pod specs."""
    limits = {
        p.metadata.name: float(parse_quantity(p.spec.containers[0].resources.limits["cpu"]))
        for p in pods(kube_api)
        if p.status.phase == "Running"
    }
    metrics = k8s.CustomObjectsApi(kube_api).list_namespaced_custom_object(
        "metrics.k8s.io", "v1beta1", "predictiq", "pods", _request_timeout=5
    )["items"]
    used = {
        m["metadata"]["name"]: float(parse_quantity(m["containers"][0]["usage"]["cpu"]))
        for m in metrics
    }
    names = [n for n in limits if n in used]
    return sum(used[n] for n in names) / sum(limits[n] for n in names)


def test_the_catalogue_names_a_fix_rule_and_severity_for_every_drill() -> None:
    assert len({d.name for d in DRILLS}) == len(DRILLS) == 12
    for drill in DRILLS:
        assert drill.description and drill.fix and drill.rule
        assert drill.severity in ("P1", "P2", "P3", "P4")


def test_unknown_drill_is_refused_and_clearing_an_inactive_one_is_harmless(lab: Lab) -> None:
    with pytest.raises(DrillError, match="unknown drill"):
        lab.drills.inject("meteor-strike")
    assert "was not active" in lab.drills.clear("api-down")


def test_connection_exhaustion_fills_the_server_with_idle_app_connections(lab: Lab) -> None:
    maximum = lab.server_max_connections
    with injected(lab, "connection-exhaustion"):
        assert lab.drills.active() == ["connection-exhaustion"]
        # counted from a monitoring session, as the cockpit counts: itself included
        assert client_backends(lab) >= 0.95 * maximum
        assert client_backends(lab, lab.app_user) >= 0.9 * maximum
    # a closed connection's backend exits asynchronously: it leaves pg_stat_activity shortly after
    wait_for(lambda: client_backends(lab) < 0.5 * maximum)


def test_slow_query_runs_as_the_app_role_until_cleared(lab: Lab) -> None:
    sql = (
        "SELECT count(*) FROM pg_stat_activity WHERE usename = %s AND state = 'active'"
        " AND query LIKE 'SELECT pg_sleep%%' AND now() - query_start > interval '1 second'"
    )
    with psycopg.connect(lab.admin_url, connect_timeout=5, autocommit=True) as conn:

        def running() -> int:
            return conn.execute(sql, (lab.app_user,)).fetchone()[0]

        with injected(lab, "slow-query"):
            wait_for(running, what="a pg_sleep running for over a second")
        assert running() == 0


def test_cache_miss_storm_drops_the_hit_rate_until_cleared(lab: Lab) -> None:
    assert hit_rate_over_next(lab) > 0.8
    with injected(lab, "cache-miss-storm"):
        assert lab.api.faults().fill_on_miss is False
        assert hit_rate_over_next(lab) < 0.5
    assert lab.api.faults().fill_on_miss is True
    wait_for(lambda: hit_rate_over_next(lab) > 0.8, timeout=30, what="hit rate back above 80 %")


def test_rate_limit_storm_produces_429s_until_cleared(lab: Lab) -> None:
    with injected(lab, "rate-limit-storm"):
        before = api_metric(lab, "rate_limit_rejections_total")
        wait_for(
            lambda: api_metric(lab, "rate_limit_rejections_total") - before >= 20,
            what="20 rate-limit rejections",
        )
    assert lab.api.faults().traffic_rps == lab.traffic_rps
    # at normal traffic the bucket refills faster than it drains: rejections stop growing
    last = [api_metric(lab, "rate_limit_rejections_total")]

    def steady() -> bool:
        now = api_metric(lab, "rate_limit_rejections_total")
        same, last[0] = now == last[0], now
        return same

    wait_for(steady, interval=1.0, what="no new 429s")


def test_api_down_fails_health_until_cleared(lab: Lab) -> None:
    with injected(lab, "api-down"):
        assert httpx.get(f"{lab.api.url}/health", timeout=5).status_code == 503
    assert httpx.get(f"{lab.api.url}/health", timeout=5).status_code == 200


@pytest.mark.parametrize(("drill", "days_left"), [("cert-expiring", 5), ("cert-expired", -10)])
def test_cert_drills_switch_the_api_certificate(lab: Lab, drill: str, days_left: int) -> None:
    assert verifies(lab)
    with injected(lab, drill):
        left = peer_certificate(lab).not_valid_after_utc - dt.datetime.now(dt.UTC)
        assert round(left.total_seconds() / 86400) == days_left
        assert verifies(lab) is (days_left > 0)
    assert verifies(lab)
    assert (peer_certificate(lab).not_valid_after_utc - dt.datetime.now(dt.UTC)).days == 90


def test_cert_expired_replaces_an_active_cert_expiring(lab: Lab) -> None:
    with injected(lab, "cert-expiring"), injected(lab, "cert-expired"):
        assert lab.drills.active() == ["cert-expired"]
        assert lab.cert.state == "expired"
    assert lab.cert.state == "valid"


def test_cpu_spike_loads_the_deployment_and_scaling_out_relieves_it(
    lab: Lab, kube_api: k8s.ApiClient
) -> None:
    assert deployment_cpu_fraction(kube_api) < 0.8
    apps = k8s.AppsV1Api(kube_api)
    try:
        with injected(lab, "cpu-spike"):
            assert deployment_cpu_fraction(kube_api) > 0.9
            apps.patch_namespaced_deployment_scale(
                "predictiq-api", "predictiq", {"spec": {"replicas": 6}}, _request_timeout=5
            )
            # the same load over twice the pods: about half the CPU each
            wait_for(lambda: deployment_cpu_fraction(kube_api) < 0.6, what="CPU spread out")
        assert deployment_cpu_fraction(kube_api) < 0.8
    finally:
        lab.kube.scale_to(3)


def test_oom_crashloop_shows_on_the_pods_until_cleared(lab: Lab, kube_api: k8s.ApiClient) -> None:
    def crashing() -> list[str]:
        found = []
        for pod in pods(kube_api):
            for cs in pod.status.container_statuses or []:
                waiting = cs.state.waiting.reason if cs.state and cs.state.waiting else None
                last = (
                    cs.last_state.terminated.reason
                    if cs.last_state and cs.last_state.terminated
                    else None
                )
                if waiting == "CrashLoopBackOff" or last == "OOMKilled":
                    found.append(pod.metadata.name)
        return found

    with injected(lab, "oom-crashloop") as detail:
        assert wait_for(crashing, what="an OOMKilled pod")[0] in detail
    wait_for(
        lambda: all(cs.ready for p in pods(kube_api) for cs in p.status.container_statuses),
        what="every container ready again",
    )


def test_disk_pressure_shows_on_a_node_until_cleared(lab: Lab, kube_api: k8s.ApiClient) -> None:
    def pressured() -> list[str]:
        nodes = k8s.CoreV1Api(kube_api).list_node(_request_timeout=5).items
        return [
            n.metadata.name
            for n in nodes
            for c in n.status.conditions
            if c.type == "DiskPressure" and c.status == "True"
        ]

    with injected(lab, "disk-pressure") as detail:
        assert pressured() and pressured()[0] in detail
    assert pressured() == []


def test_clear_all_ends_every_active_drill(lab: Lab) -> None:
    runner = DrillRunner(lab)  # a second runner on the same lab: its own bookkeeping
    for name in ("api-down", "cache-miss-storm", "disk-pressure"):
        runner.inject(name)
    assert runner.active() == ["cache-miss-storm", "disk-pressure", "api-down"]
    runner.clear_all()
    assert runner.active() == []
    assert lab.api.faults().health_failure is False and lab.api.faults().fill_on_miss is True
