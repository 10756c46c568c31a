"""`[api.metrics] scrape = "pods"`: the API source scrapes every pod of the deployment through the
Kubernetes simulator's pod proxy, each pod served by the API simulator's per-pod counters, with
real traffic going through the simulator."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from cockpit.config import ApiConfig, Config, KubernetesConfig, MetricNames, ThresholdsConfig
from cockpit.incidents.rules import api_errors
from cockpit.lab.apisim.pods import running_pods
from cockpit.lab.apisim.sim import ApiSimulator
from cockpit.lab.kubesim.sim import KubeSim
from cockpit.models import ApiStatus, utcnow
from cockpit.sources.api import ApiSource
from cockpit.sources.podscrape import PodScraper
from cockpit.state import CockpitState
from tests.integration.lab_helpers import api_over_pods
from tests.waiting import wait_for

NS, APP = "predictiq", "predictiq-api"
COCKPIT = str(Path(sys.executable).parent / "cockpit")


@pytest.fixture(scope="module")
def lab_pods(pg, redis_server) -> Iterator[tuple[ApiSimulator, KubeSim]]:
    with api_over_pods(pg, redis_server, rps=40.0, seed=19, namespace=NS, deployment=APP) as pair:
        yield pair


@pytest.fixture(scope="module")
def api_sim(lab_pods) -> ApiSimulator:
    return lab_pods[0]


@pytest.fixture(scope="module")
def kube(lab_pods) -> KubeSim:
    return lab_pods[1]


@pytest.fixture(autouse=True)
def healthy(kube, api_sim):
    yield
    kube.allow("get", "pods", "proxy")
    api_sim.pod_metrics.clear_faults()
    api_sim.set_error_rate(0.0)
    kube.scale_to(3)
    wait_for(lambda: len(running_pods(kube)) == 3, what="3 running pods")


@pytest.fixture(scope="module")
def kubeconfig(kube, tmp_path_factory):
    return kube.write_kubeconfig(tmp_path_factory.mktemp("kube") / "config", context="lab")


@pytest.fixture
async def source(kubeconfig, api_sim) -> Iterator[ApiSource]:
    kcfg = KubernetesConfig(
        kubeconfig=str(kubeconfig),
        context="lab",
        namespace=NS,
        deployment=APP,
        selector=f"app={APP}",
        request_timeout_seconds=2.0,
    )
    names = MetricNames(scrape="pods")
    api = ApiConfig(base_url=api_sim.url, metrics=names)
    src = ApiSource(
        api, ThresholdsConfig(), timeout=3.0, pods=PodScraper(kcfg, api.metrics_path, names)
    )
    yield src
    await src.aclose()


async def collect(src: ApiSource) -> ApiStatus:
    result = await src.collect()
    assert isinstance(result, ApiStatus), result
    return result


def by_name(status: ApiStatus) -> dict:
    return {p.name: p for p in status.pods}


def traffic_since(api_sim: ApiSimulator, pods: list[str], count: int) -> None:
    """Wait until each of `pods` has counted `count` more requests."""
    before = {p: api_sim.pod_metrics.requests(p) for p in pods}
    wait_for(
        lambda: all(api_sim.pod_metrics.requests(p) >= before[p] + count for p in pods),
        what=f"{count} more requests in each of {pods}",
    )


def assert_sums(status: ApiStatus) -> None:
    """The totals are exactly the sum of the pods that are in the sum."""
    in_sum = [p for p in status.pods if p.ok and p.request_rate is not None]
    assert status.pods_in_sum == len(in_sum)
    assert status.request_rate == pytest.approx(sum(p.request_rate for p in in_sum))
    assert status.rate_429 == pytest.approx(sum(p.rate_429 for p in in_sum))
    assert not any(p.counters_reset for p in status.pods), status.pods


async def test_every_pod_is_scraped_and_the_totals_are_their_sum(source, kube, api_sim):
    first = await collect(source)
    assert first.metrics_ok and first.pods_scraped == 3 and first.pods_in_sum == 0
    assert first.request_rate is None  # one sample per pod: no rates yet
    traffic_since(api_sim, running_pods(kube), 3)
    second = await collect(source)
    assert second.pods_scraped == 3 and second.pods_in_sum == 3
    assert set(by_name(second)) == set(running_pods(kube))
    assert all(p.request_rate and p.request_rate > 0 for p in second.pods), second.pods
    assert_sums(second)
    assert second.latency_ms.get("p99") is not None
    assert kube.counts("get", "pods/proxy") >= 6


async def test_a_pod_added_joins_at_its_second_sample_and_a_deleted_one_is_no_reset(source, kube):
    await collect(source)
    kube.scale_to(4)
    wait_for(lambda: len(running_pods(kube)) == 4, what="a fourth running pod")
    status = await collect(source)
    assert status.pods_scraped == 4 and status.pods_in_sum == 3  # the new pod has one sample
    new = [p for p in status.pods if p.request_rate is None]
    assert len(new) == 1 and new[0].ok
    assert_sums(status)
    status = await collect(source)
    assert status.pods_in_sum == 4
    assert_sums(status)
    kube.scale_to(2)
    wait_for(lambda: len(running_pods(kube)) == 2, what="two running pods")
    status = await collect(source)
    assert status.pods_scraped == 2 and status.pods_in_sum == 2
    assert not status.counters_reset  # the vanished pods are dropped, not read as resets
    assert_sums(status)


async def test_a_failing_pod_is_listed_and_the_sum_covers_the_others(source, kube, api_sim):
    await collect(source)
    bad = running_pods(kube)[0]
    api_sim.pod_metrics.fail(bad)
    status = await collect(source)
    assert status.metrics_ok and status.pods_scraped == 3 and status.pods_in_sum == 2
    row = by_name(status)[bad]
    assert not row.ok and "connection refused" in (row.error or "")
    assert row.last_scraped_at is not None  # its last good scrape, for the age column
    assert_sums(status)
    api_sim.pod_metrics.recover(bad)
    status = await collect(source)  # back: its rate spans the gap from its own last sample
    assert status.pods_in_sum == 3 and by_name(status)[bad].request_rate is not None
    assert_sums(status)


async def test_a_denied_pod_proxy_names_the_missing_permission(source, kube):
    kube.deny("get", "pods", "proxy")
    status = await collect(source)
    assert not status.metrics_ok
    assert '"get pods/proxy"' in (status.metrics_error or ""), status.metrics_error
    assert "0 of 3 pods" in (status.metrics_error or "")
    assert all(not p.ok for p in status.pods)


async def test_the_pod_carrying_the_5xx_stands_out(source, kube, api_sim):
    bad = running_pods(kube)[1]
    api_sim.pod_metrics.concentrate_errors(bad, 0.95)
    api_sim.set_error_rate(0.3)
    await collect(source)
    traffic_since(api_sim, [bad], 30)
    status = await collect(source)
    rows = by_name(status)
    worst = max(rows.values(), key=lambda p: p.rate_5xx or 0.0)
    assert worst.name == bad, rows
    assert_sums(status)
    state = CockpitState()
    state.update("api", status)
    [finding] = api_errors(state, Config(), utcnow())  # 30 % of reads fail: above 5 %
    assert finding.evidence["pods_with_most_5xx"][0] == bad
    assert bad in finding.affected


def _snapshot(tmp_path, toml: str) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "cockpit.toml"
    path.write_text(toml)
    env = {k: v for k, v in os.environ.items() if k != "COCKPIT_CONFIG"}
    return subprocess.run(
        [COCKPIT, "snapshot", "--config", str(path), "--json", "--interval", "0.5"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )


def test_snapshot_json_has_a_line_per_pod(tmp_path, kube, kubeconfig, api_sim):
    proc = _snapshot(
        tmp_path,
        (
            f'[refresh]\ntimeout_seconds = 3\n[api]\nbase_url = "{api_sim.url}"\n'
            '[api.metrics]\nscrape = "pods"\n'
            f'[kubernetes]\nkubeconfig = "{kubeconfig}"\ncontext = "lab"\nnamespace = "{NS}"\n'
            f'deployment = "{APP}"\nselector = "app={APP}"\n'
        ),
    )
    assert proc.returncode == 0, proc.stderr
    api = json.loads(proc.stdout)["api"]
    assert api["ok"] and api["metrics_ok"], api
    assert api["pods_scraped"] == 3 and api["pods_in_sum"] == 3
    assert sorted(p["name"] for p in api["pods"]) == sorted(running_pods(kube))
    assert all(
        p["ok"] and p["request_rate"] is not None and p["last_scraped_at"].endswith("Z")
        for p in api["pods"]
    )
    assert api["request_rate"] == pytest.approx(sum(p["request_rate"] for p in api["pods"]))


def test_pods_scrape_without_a_kubernetes_section_is_a_config_error(tmp_path, api_sim):
    proc = _snapshot(
        tmp_path, f'[api]\nbase_url = "{api_sim.url}"\n[api.metrics]\nscrape = "pods"\n'
    )
    assert proc.returncode == 2 and proc.stdout == ""
    assert "api.metrics.scrape" in proc.stderr and "[kubernetes]" in proc.stderr
