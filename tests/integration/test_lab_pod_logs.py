"""The lab's pod logs are real: the API simulator's requests are JSON lines in the pod that
served them (429s say `rate limit exceeded`), and the drills produce the lines their runbook
entry greps for (`loop` under a CPU spike, `No space left on device` under disk pressure,
out-of-memory lines in a crash-looping pod's previous container)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from cockpit.lab.lab import Lab
from cockpit.sources.kube.client import new_api_client
from cockpit.sources.kube.http import RawApi
from tests.integration.lab_helpers import lab_config, started_lab, wait_for

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    with started_lab(tmp_path_factory.mktemp("podlogs")) as running:
        yield running


@pytest.fixture(scope="module")
def raw(lab: Lab) -> Iterator[RawApi]:
    api = new_api_client(lab_config(lab).kubernetes)
    yield RawApi(api)
    api.close()


def log_of(raw: RawApi, lab: Lab, pod: str, **params: str) -> list[str]:
    resp = raw.request(
        "GET",
        f"/api/v1/namespaces/{lab.kube.namespace}/pods/{pod}/log",
        list(params.items()),
        timeout=(2, 5),
    )
    try:
        return resp.data.decode().splitlines()
    finally:
        resp.release_conn()


def pods(lab: Lab) -> list[str]:
    return [p["metadata"]["name"] for p in lab.kube.pods()]


def all_lines(raw: RawApi, lab: Lab) -> list[str]:
    return [line for pod in pods(lab) for line in log_of(raw, lab, pod, sinceSeconds="60")]


def test_every_pod_logs_the_requests_it_served_as_json(lab: Lab, raw: RawApi) -> None:
    for pod in pods(lab):
        wait_for(
            lambda pod=pod: any(
                '"path":"/api/markets' in ln for ln in log_of(raw, lab, pod, tailLines="50")
            ),
            what=f"request lines in {pod}",
        )
        line = next(
            json.loads(ln)
            for ln in reversed(log_of(raw, lab, pod, tailLines="50"))
            if '"path":"/api/markets' in ln
        )
        assert {"method", "path", "status", "latency_ms", "level", "msg"} <= set(line)


def test_rate_limit_storm_logs_rate_limit_exceeded(lab: Lab, raw: RawApi) -> None:
    lab.drills.inject("rate-limit-storm")
    try:
        wait_for(
            lambda: sum("rate limit exceeded" in ln for ln in all_lines(raw, lab)) >= 10,
            what="rate limit exceeded in the pods' logs",
        )
        line = next(json.loads(ln) for ln in all_lines(raw, lab) if "rate limit exceeded" in ln)
        assert line["status"] == 429
    finally:
        lab.drills.clear("rate-limit-storm")


def test_cpu_spike_logs_loop_and_disk_pressure_no_space_left(lab: Lab, raw: RawApi) -> None:
    for drill, text in (("cpu-spike", "loop"), ("disk-pressure", "No space left on device")):
        lab.drills.inject(drill)
        try:
            wait_for(
                lambda text=text: any(text in ln for ln in all_lines(raw, lab)),
                what=f"{text!r} in the pods' logs",
            )
        finally:
            lab.drills.clear(drill)


def test_oom_crashloop_leaves_out_of_memory_lines_in_the_previous_container(
    lab: Lab, raw: RawApi
) -> None:
    lab.drills.inject("oom-crashloop")
    try:
        [(_, pod)] = lab.kube.controller.crashlooping
        previous = log_of(raw, lab, pod, previous="true")
        assert "out of memory" in previous[-2] and previous[-1].endswith("(OOMKilled)")
    finally:
        lab.drills.clear("oom-crashloop")
