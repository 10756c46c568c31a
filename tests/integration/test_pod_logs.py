"""Pod logs against the Kubernetes simulator: every parameter of the log endpoint, the streams'
reconnect without gap or duplicate, the API server's error bodies, a pod deleted while followed,
and twenty pods merged in time order."""

from __future__ import annotations

import random
import threading
import time

import pytest
from kubernetes import config
from urllib3.exceptions import ProtocolError

from cockpit.lab.kubesim.sim import KubeSim
from cockpit.sources.kube.http import RawApi
from cockpit.sources.kube.logs import LogRequest, LogStream, LogTiming
from cockpit.sources.kube.logsession import LogSession
from cockpit.sources.kube.logtext import LogBuffer, parse_time
from tests.waiting import wait_for

NS, APP = "predictiq", "predictiq-api"
FAST = LogTiming(connect_timeout=2.0, read_timeout=5.0, backoff=(0.05, 0.1, 0.2), pods_interval=0.2)


@pytest.fixture
def sim():
    with KubeSim(namespace=NS, deployment=APP, replicas=2, delay=0.05, seed=3) as running:
        yield running


@pytest.fixture
def raw(sim, tmp_path):
    path = sim.write_kubeconfig(tmp_path / "kubeconfig", context="lab")
    api_client = config.new_client_from_config(config_file=str(path), context="lab")
    yield RawApi(api_client)
    api_client.close()


def connect_for(sim: KubeSim, tmp_path):
    path = sim.write_kubeconfig(tmp_path / "kubeconfig-session", context="lab")

    def connect():
        return RawApi(config.new_client_from_config(config_file=str(path), context="lab")), NS

    return connect


def get_log(raw: RawApi, pod: str, **params: str) -> str:
    resp = raw.request(
        "GET", f"/api/v1/namespaces/{NS}/pods/{pod}/log", list(params.items()), timeout=(2, 5)
    )
    try:
        return resp.data.decode()
    finally:
        resp.release_conn()


def error_of(raw: RawApi, pod: str, **params: str) -> tuple[int, str]:
    import json

    from kubernetes.client.exceptions import ApiException

    with pytest.raises(ApiException) as caught:
        get_log(raw, pod, **params)
    return caught.value.status, json.loads(caught.value.body)["message"]


def first_pod(sim: KubeSim) -> str:
    return sim.pods()[0]["metadata"]["name"]


def written(sim: KubeSim, pod: str, **kw) -> list[str]:
    return [text for _, text in sim.logs.lines(NS, pod, **kw)]


# -- the endpoint's parameters ----------------------------------------------------------------


def test_tail_lines_gives_the_last_n_lines(sim, raw):
    pod = first_pod(sim)
    for i in range(10):
        sim.logs.write(NS, pod, f"line {i}")
    assert get_log(raw, pod, tailLines="3").splitlines() == ["line 7", "line 8", "line 9"]
    assert get_log(raw, pod, tailLines="0") == ""
    assert get_log(raw, pod).splitlines()[-10:] == [f"line {i}" for i in range(10)]


def test_timestamps_prefix_each_line_with_rfc3339_nano(sim, raw):
    pod = first_pod(sim)
    when = 1_796_000_000_123_456_789
    sim.logs.write(NS, pod, "stamped", when_ns=max(when, time.time_ns()))
    last = get_log(raw, pod, timestamps="true", tailLines="1").rstrip("\n")
    stamp, _, text = last.partition(" ")
    assert text == "stamped"
    assert (
        stamp.endswith("Z") and "." in stamp and parse_time(stamp) == sim.logs.lines(NS, pod)[-1][0]
    )


def test_since_seconds_and_since_time_keep_only_newer_lines(sim, raw):
    pod = first_pod(sim)
    now = time.time_ns()
    sim.logs.write(NS, pod, "an hour ago", when_ns=now - 3600 * 10**9)  # clamped forward: old run
    run = sim.logs.lines(NS, pod)
    start = run[-1][0] + 10**9
    for i in range(3):
        sim.logs.write(NS, pod, f"new {i}", when_ns=start + i * 10**9)
    assert get_log(raw, pod, sinceSeconds="100000").splitlines()[-3:] == ["new 0", "new 1", "new 2"]
    from cockpit.sources.kube.logtext import format_time

    since = format_time(start + 10**9)  # inclusive
    assert get_log(raw, pod, sinceTime=since).splitlines() == ["new 1", "new 2"]


def test_previous_and_container_choose_the_run(sim, raw):
    pod = first_pod(sim)
    sim.logs.write(NS, pod, "before the crash")
    sim.oom_crashloop(pod)
    previous = get_log(raw, pod, previous="true").splitlines()
    assert "before the crash" in previous
    assert previous[-1].endswith("(OOMKilled)") and "out of memory" in previous[-2]
    assert get_log(raw, pod, container="api", previous="true").splitlines() == previous
    status, message = error_of(raw, pod, container="nope")
    assert (status, message) == (400, f"container nope is not valid for pod {pod}")


def test_follow_stays_open_and_streams_new_lines(sim, raw):
    pod = first_pod(sim)
    resp = raw.request(
        "GET",
        f"/api/v1/namespaces/{NS}/pods/{pod}/log",
        [("follow", "true"), ("tailLines", "0")],
        timeout=(2, 5),
    )
    got: list[bytes] = []

    def read() -> None:
        try:
            got.extend(resp.stream(1024))
        except ProtocolError:  # our own shutdown below cuts the stream
            pass

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    wait_for(lambda: sim.logs.open_streams == 1, 5, what="the follow stream is open")
    sim.logs.write(NS, pod, "live one")
    wait_for(lambda: b"live one" in b"".join(got), 5, what="the followed line")
    assert reader.is_alive()  # still open
    sim.logs.write(NS, pod, "live two")
    wait_for(lambda: b"live two" in b"".join(got), 5, what="the second followed line")
    resp.shutdown()
    reader.join(5)
    resp.release_conn()


# -- error bodies --------------------------------------------------------------------------------


def test_error_bodies_say_what_the_api_server_says(sim, raw):
    pod = first_pod(sim)
    assert error_of(raw, pod, previous="true") == (
        400,
        f'previous terminated container "api" in pod "{pod}" not found',
    )
    assert error_of(raw, "gone-pod") == (404, 'pods "gone-pod" not found')
    other = sim.pods()[1]["metadata"]["name"]
    sim.image_pull_backoff(other)
    assert error_of(raw, other) == (
        400,
        f'container "api" in pod "{other}" is waiting to start: trying and failing to pull image',
    )


def test_a_pod_still_creating_answers_waiting_to_start(tmp_path):
    with KubeSim(namespace=NS, deployment=APP, replicas=1, delay=30, seed=5) as slow:
        slow.store.update("deployments", NS, APP, lambda d: d["spec"].__setitem__("replicas", 2))
        slow.controller.reconcile(NS, APP)
        creating = next(
            p["metadata"]["name"] for p in slow.pods() if p["status"]["phase"] == "Pending"
        )
        path = slow.write_kubeconfig(tmp_path / "kc", context="lab")
        api_client = config.new_client_from_config(config_file=str(path), context="lab")
        try:
            assert error_of(RawApi(api_client), creating) == (
                400,
                f'container "api" in pod "{creating}" is waiting to start: ContainerCreating',
            )
        finally:
            api_client.close()


def test_rbac_denied_is_told_before_streaming(sim, tmp_path):
    sim.deny("get", "pods", "log")
    session = LogSession(
        connect_for(sim, tmp_path), LogRequest(first_pod(sim)), LogBuffer(100), timing=FAST
    ).start()
    try:
        wait_for(lambda: session.error, 5, what="the RBAC refusal")
        assert session.error == f"RBAC: get pods/log is denied in namespace {NS}"
        assert session.pods == []
    finally:
        session.stop()
        session.join()


def test_a_stream_refused_by_the_server_shows_the_status_message(sim, raw):
    pod = first_pod(sim)
    buffer = LogBuffer(100)
    stream = LogStream(raw, NS, pod, LogRequest(pod, previous=True), buffer.add, FAST).start()
    wait_for(lambda: stream.state.state == "error", 5, what="the stream's error")
    assert stream.state.reason == f'previous terminated container "api" in pod "{pod}" not found'
    stream.join(2)


# -- streams: resume, deletion, merge ---------------------------------------------------------


def test_dropped_streams_resume_without_gap_or_duplicate(sim, raw):
    pod = first_pod(sim)
    buffer = LogBuffer(10_000)
    stream = LogStream(raw, NS, pod, LogRequest(pod, tail_lines=1000), buffer.add, FAST).start()
    wait_for(lambda: stream.state.state == "following", 5, what="following")
    stop = threading.Event()

    def writer() -> None:
        i = 0
        while not stop.is_set() and i < 3000:
            # bursts of identical texts at one instant: the hardest case for de-duplication
            now = time.time_ns()
            for _ in range(3):
                sim.logs.write(NS, pod, f"tick {i // 10}", when_ns=now)
                i += 1
            stop.wait(0.002)

    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    for _ in range(6):
        before = stream.reconnects
        # cut whatever is open until the stream has noticed (an old connection may still be
        # closing on the server side when the new one opens)
        wait_for(
            lambda before=before: sim.logs.drop_streams() < 0 or stream.reconnects > before,
            5,
            interval=0.05,
            what="a reconnect",
        )
    sim.stop()  # the whole server goes away, then comes back on the same port
    wait_for(lambda: stream.state.state == "reconnecting", 5, what="reconnecting")
    sim.start()
    stop.set()
    thread.join(10)
    expected = sim.logs.lines(NS, pod)
    wait_for(lambda: buffer.snapshot()[3] >= len(expected), 10, what="every line")
    _, lines, dropped, received = buffer.snapshot()
    assert dropped == 0
    assert [(ln.time_ns, ln.text) for ln in lines] == expected
    assert received == len(expected)
    stream.stop()
    stream.join(2)


def test_a_pod_deleted_while_followed_ends_its_stream(sim, raw):
    pod = first_pod(sim)
    buffer = LogBuffer(100)
    stream = LogStream(raw, NS, pod, LogRequest(pod), buffer.add, FAST).start()
    wait_for(lambda: stream.state.state == "following", 5, what="following")
    sim.logs.write(NS, pod, "last words")
    wait_for(lambda: any(ln.text == "last words" for ln in buffer.snapshot()[1]), 5, what="line")
    sim.controller.terminate_pod(NS, pod)
    wait_for(lambda: stream.state.state == "ended", 10, what="the stream's end")
    assert stream.state.describe() == "ended — pod deleted"
    stream.join(2)


def test_twenty_pods_merge_in_time_order(sim, tmp_path):
    sim.scale_to(20)
    pods = [p["metadata"]["name"] for p in sim.pods()]
    assert len(pods) == 20
    buffer = LogBuffer(10_000)
    session = LogSession(
        connect_for(sim, tmp_path),
        LogRequest(None, selector=f"app={APP}", tail_lines=0),
        buffer,
        max_pods=20,
        timing=FAST,
    ).start()
    try:
        wait_for(
            lambda: (
                len(session.pods) == 20
                and all(s.state == "following" for s in session.states().values())
            ),
            10,
            what="20 streams",
        )
        rng = random.Random(1)
        base = time.time_ns() + 10**9
        sent: list[tuple[int, str, str]] = []
        for i in range(400):
            pod = rng.choice(pods)
            stamp = base + rng.randrange(0, 2 * 10**9)
            stamp = max(stamp, (sim.logs.lines(NS, pod) or [(0, "")])[-1][0] + 1)
            sim.logs.write(NS, pod, f"msg {i}", when_ns=stamp)
            sent.append((sim.logs.lines(NS, pod)[-1][0], pod, f"msg {i}"))
        wait_for(lambda: buffer.snapshot()[3] >= len(sent), 10, what="every line merged")
        lines = buffer.snapshot()[1]
        assert [ln.time_ns for ln in lines] == sorted(ln.time_ns for ln in lines)
        assert sorted((ln.time_ns, ln.pod, ln.text) for ln in lines) == sorted(sent)
    finally:
        session.stop()
        session.join()


def test_the_merged_view_follows_at_most_max_pods_and_adds_new_ones(sim, tmp_path):
    session = LogSession(
        connect_for(sim, tmp_path),
        LogRequest(None, selector=f"app={APP}"),
        LogBuffer(1000),
        max_pods=3,
        timing=FAST,
    ).start()
    try:
        wait_for(lambda: len(session.pods) == 2, 5, what="the two pods")
        sim.scale_to(5)
        wait_for(
            lambda: len(session.pods) == 3 and len(session.not_followed) == 2,
            5,
            what="one added, two listed as not followed",
        )
    finally:
        session.stop()
        session.join()


def test_the_default_container_annotation_chooses_what_is_followed(sim, raw):
    pod = first_pod(sim)

    def two_containers(p: dict) -> None:
        p["spec"]["containers"].append({"name": "proxy", "image": "envoy:1.30"})

    sim.store.update("pods", NS, pod, two_containers)
    status, message = error_of(raw, pod)  # the API server wants a name when there are two
    assert (status, message) == (
        400,
        f"a container name must be specified for pod {pod}, choose one of: [api proxy]",
    )
    sim.logs.write(NS, pod, "from the proxy", container="proxy")
    sim.logs.write(NS, pod, "from the api")
    for annotation, expected in ((None, "api"), ("proxy", "proxy")):
        if annotation:

            def annotate(p: dict, name: str = annotation) -> None:
                p["metadata"].setdefault("annotations", {})[
                    "kubectl.kubernetes.io/default-container"
                ] = name

            sim.store.update("pods", NS, pod, annotate)
        buffer = LogBuffer(100)
        stream = LogStream(raw, NS, pod, LogRequest(pod, follow=False), buffer.add, FAST).start()
        wait_for(lambda s=stream: s.state.state == "ended", 5, what="the whole log read")
        assert stream.container == expected and stream.containers == ("api", "proxy")
        assert f"from the {expected}" in [ln.text for ln in buffer.snapshot()[1]]
        stream.join(2)
