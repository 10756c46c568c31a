"""The API simulator's pods tell one story: the pod whose counters took a request is the pod
whose log records it, status included, even while the pod-5xx drill sends most of the 5xx to
one pod (a Service's even traffic split, as the per-pod scrape and the pod logs both see it)."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator

import pytest

from cockpit.lab.apisim.pods import POD_PORT, running_pods
from cockpit.lab.apisim.sim import ApiSimulator
from cockpit.lab.kubesim.sim import KubeSim
from cockpit.sources.promrates import parse_scrape, series
from tests.integration.lab_helpers import api_over_pods
from tests.waiting import wait_for


@pytest.fixture
def lab_pods(pg, redis_server) -> Iterator[tuple[ApiSimulator, KubeSim]]:
    with api_over_pods(pg, redis_server, rps=80.0, seed=31) as pair:
        yield pair


def counted(api: ApiSimulator, pod: str) -> Counter[str]:
    """The pod's own counters, as its /metrics (behind the pod proxy) says: status -> requests."""
    reply = api.pod_metrics.serve(pod, POD_PORT, "/metrics")
    assert reply is not None and reply.status == 200
    out: Counter[str] = Counter()
    for labels, value in series(parse_scrape(reply.body.decode()), "http_requests_total").items():
        out[dict(labels)["status"]] += int(value)
    return out


def logged(kube: KubeSim, pod: str) -> Counter[str]:
    """The pod's access log lines: status -> requests."""
    out: Counter[str] = Counter()
    for _, text in kube.logs.lines(kube.namespace, pod):
        if text.startswith("{") and '"method"' in text:
            out[str(json.loads(text)["status"])] += 1
    return out


def test_each_pod_counts_exactly_the_requests_its_log_records(lab_pods) -> None:
    api, kube = lab_pods
    pods = running_pods(kube)
    bad = pods[0]
    api.pod_metrics.concentrate_errors(bad, 0.9)  # the pod-5xx drill
    api.set_error_rate(0.3)
    wait_for(
        lambda: counted(api, bad)["500"] >= 30 and all(counted(api, p)["200"] >= 30 for p in pods),
        20,
        what="30 5xx counted in the drill's pod and 30 200s in every pod",
    )
    api.stop_traffic()
    # the requests still in flight finish: each is counted, then logged, by the same pod
    wait_for(
        lambda: all(counted(api, p) == logged(kube, p) for p in pods),
        what="every pod's counters equal to its log lines",
    )
    logs = {p: logged(kube, p) for p in pods}
    assert all(sum(logs[p].values()) >= 20 for p in pods), logs
    assert all(logs[bad]["500"] > logs[p]["500"] for p in pods if p != bad), logs
    # and the traffic is still split evenly: the bad pod fails its share, it gets no more
    totals = {p: sum(logs[p].values()) for p in pods}
    assert all(0.6 < totals[bad] / totals[p] < 1.4 for p in pods if p != bad), totals
