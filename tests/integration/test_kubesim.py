"""The Kubernetes API simulator, exercised with the official client and with kubectl."""

from __future__ import annotations

import json
import shutil
import subprocess
import threading

import pytest
import urllib3
from kubernetes import client, config, watch
from kubernetes.client.rest import ApiException
from kubernetes.utils import parse_quantity

from cockpit.lab.kubesim.sim import KubeSim

NS, APP = "predictiq", "predictiq-api"
SELECTOR = f"app={APP}"


@pytest.fixture
def sim():
    """A running simulator with fast controller steps and frequent bookmarks."""
    with KubeSim(
        namespace=NS, deployment=APP, replicas=3, delay=0.05, bookmark_interval=0.2, seed=7
    ) as running:
        yield running


@pytest.fixture
def kubeconfig(sim, tmp_path):
    """A kubeconfig written by the simulator."""
    return sim.write_kubeconfig(tmp_path / "kubeconfig", context="lab")


@pytest.fixture
def api(kubeconfig):
    """An ApiClient for the "lab" context, closed afterwards."""
    api_client = config.new_client_from_config(config_file=str(kubeconfig), context="lab")
    yield api_client
    api_client.close()


def pod_names(sim: KubeSim) -> set[str]:
    return {p["metadata"]["name"] for p in sim.pods()}


class EventCollector:
    """Runs a watch in a thread and keeps (type, name) pairs; bounded by timeout_seconds."""

    def __init__(self, list_func, *args, **kwargs) -> None:
        self.events: list[tuple[str, str]] = []
        self.error: BaseException | None = None
        self.watch = watch.Watch()
        self.thread = threading.Thread(
            target=self._run, args=(list_func, args, kwargs), daemon=True
        )
        self.thread.start()

    def _run(self, list_func, args, kwargs) -> None:
        try:
            for event in self.watch.stream(list_func, *args, **kwargs):
                name = event["raw_object"].get("metadata", {}).get("name", "")
                self.events.append((event["type"], name))
        except BaseException as exc:  # the test inspects it
            self.error = exc

    def names(self, kind: str) -> set[str]:
        return {name for event_type, name in list(self.events) if event_type == kind}

    def stop(self) -> None:
        self.watch.stop()
        self.thread.join(timeout=5)


def test_list_pods_by_selector_in_real_shapes(sim, api):
    core = client.CoreV1Api(api)
    pods = core.list_namespaced_pod(NS, label_selector=SELECTOR, _request_timeout=5)
    assert len(pods.items) == 3
    assert int(pods.metadata.resource_version) == sim.resource_version
    for pod in pods.items:
        assert pod.status.phase == "Running"
        assert pod.metadata.uid and pod.metadata.creation_timestamp
        owner = pod.metadata.owner_references[0]
        assert owner.kind == "ReplicaSet"
        assert owner.name == f"{APP}-{pod.metadata.labels['pod-template-hash']}"
        container = pod.spec.containers[0]
        assert container.name == "api"
        assert container.resources.limits == {"cpu": "1", "memory": "1Gi"}
        assert pod.status.container_statuses[0].ready is True
        assert pod.spec.node_name.startswith("kubesim-worker-")

    in_set = core.list_namespaced_pod(
        NS, label_selector=f"app in ({APP},other)", _request_timeout=5
    )
    assert len(in_set.items) == 3
    assert (
        core.list_namespaced_pod(
            NS, label_selector="app notin (predictiq-api)", _request_timeout=5
        ).items
        == []
    )
    assert (
        core.list_namespaced_pod(NS, label_selector="app=nothing", _request_timeout=5).items == []
    )
    assert sim.counts("list", "pods") == 4


def test_watch_delivers_scaled_pods_without_a_new_list(sim, api):
    core, apps = client.CoreV1Api(api), client.AppsV1Api(api)
    listed = core.list_namespaced_pod(
        NS, label_selector=SELECTOR, _preload_content=False, _request_timeout=5
    )
    body = json.loads(listed.data)
    before = {p["metadata"]["name"] for p in body["items"]}
    collector = EventCollector(
        core.list_namespaced_pod,
        NS,
        label_selector=SELECTOR,
        resource_version=body["metadata"]["resourceVersion"],
        allow_watch_bookmarks=True,
        timeout_seconds=10,
        _request_timeout=15,
    )
    try:
        apps.patch_namespaced_deployment_scale(
            APP, NS, {"spec": {"replicas": 5}}, _request_timeout=5
        )
        assert sim.wait_for(lambda: len(collector.names("ADDED")) == 2, 5)
        added = collector.names("ADDED")
        assert added.isdisjoint(before)
        assert sim.wait_for(lambda: sim.deployment()["status"].get("readyReplicas") == 5, 5)

        apps.patch_namespaced_deployment_scale(
            APP, NS, {"spec": {"replicas": 2}}, _request_timeout=5
        )
        assert sim.wait_for(lambda: len(collector.names("DELETED")) == 3, 5)
        assert sim.wait_for(lambda: "BOOKMARK" in {t for t, _ in collector.events}, 5)
    finally:
        collector.stop()
    assert collector.names("DELETED") | pod_names(sim) == before | added
    assert sim.counts("list", "pods") == 1
    assert sim.counts("watch", "pods") == 1


def test_watch_from_an_expired_resource_version_gets_410(sim, api):
    core = client.CoreV1Api(api)
    old_rv = core.list_namespaced_pod(NS, _request_timeout=5).metadata.resource_version
    sim.scale_to(4)
    sim.expire_resource_versions()

    with pytest.raises(ApiException) as gone:
        for _ in watch.Watch().stream(
            core.list_namespaced_pod,
            NS,
            resource_version=old_rv,
            timeout_seconds=5,
            _request_timeout=10,
        ):
            pass
    assert gone.value.status == 410
    # A list still works, and a watch from its version does not expire.
    fresh_rv = core.list_namespaced_pod(NS, _request_timeout=5).metadata.resource_version
    events = list(
        watch.Watch().stream(
            core.list_namespaced_pod,
            NS,
            resource_version=fresh_rv,
            timeout_seconds=1,
            _request_timeout=5,
        )
    )
    assert events == []


def test_scale_subresource_round_trip(sim, api):
    apps = client.AppsV1Api(api)
    scale = apps.read_namespaced_deployment_scale(APP, NS, _request_timeout=5)
    assert (scale.spec.replicas, scale.status.replicas, scale.status.selector) == (3, 3, SELECTOR)

    apps.patch_namespaced_deployment_scale(APP, NS, {"spec": {"replicas": 4}}, _request_timeout=5)
    assert apps.read_namespaced_deployment(APP, NS, _request_timeout=5).spec.replicas == 4
    # A PUT carries the resourceVersion it read; the controller may write in between (409),
    # so retry as a real client does.
    for _ in range(20):
        scale = apps.read_namespaced_deployment_scale(APP, NS, _request_timeout=5)
        scale.spec.replicas = 1
        try:
            apps.replace_namespaced_deployment_scale(APP, NS, scale, _request_timeout=5)
            break
        except ApiException as exc:
            assert exc.status == 409
    assert sim.wait_for(lambda: len(sim.pods()) == 1, 5)
    assert sim.wait_for(
        lambda: (
            apps.read_namespaced_deployment_scale(APP, NS, _request_timeout=5).status.replicas == 1
        ),
        5,
    )


def test_rollout_restart_replaces_every_pod_under_fresh_names(sim, api):
    apps = client.AppsV1Api(api)
    before = pod_names(sim)
    old_hash = sim.pods()[0]["metadata"]["labels"]["pod-template-hash"]
    patch = {
        "spec": {
            "template": {
                "metadata": {
                    "annotations": {"kubectl.kubernetes.io/restartedAt": "2025-06-01T10:00:00Z"}
                }
            }
        }
    }
    apps.patch_namespaced_deployment(APP, NS, patch, _request_timeout=5)

    def rolled_out() -> bool:
        dep = sim.deployment()
        status = dep["status"]
        return (
            status["observedGeneration"] == dep["metadata"]["generation"]
            and status.get("updatedReplicas") == status.get("readyReplicas") == 3
            and status.get("replicas") == 3
            and status["conditions"][1]["reason"] == "NewReplicaSetAvailable"
        )

    assert sim.wait_for(rolled_out, 10)
    after = sim.pods()
    assert {p["metadata"]["name"] for p in after}.isdisjoint(before)
    assert {p["metadata"]["labels"]["pod-template-hash"] for p in after} != {old_hash}
    dep = apps.read_namespaced_deployment(APP, NS, _request_timeout=5)
    assert dep.metadata.annotations["deployment.kubernetes.io/revision"] == "2"


def test_paused_deployment_does_not_roll(sim, api):
    apps = client.AppsV1Api(api)
    apps.patch_namespaced_deployment(APP, NS, {"spec": {"paused": True}}, _request_timeout=5)
    before = pod_names(sim)
    patch = {
        "spec": {
            "template": {
                "metadata": {
                    "annotations": {"kubectl.kubernetes.io/restartedAt": "2025-06-01T10:00:00Z"}
                }
            }
        }
    }
    apps.patch_namespaced_deployment(APP, NS, patch, _request_timeout=5)

    def observed() -> bool:
        dep = sim.deployment()
        return dep["status"]["observedGeneration"] == dep["metadata"]["generation"]

    assert sim.wait_for(observed, 5)
    progressing = sim.deployment()["status"]["conditions"][1]
    assert (progressing["status"], progressing["reason"]) == ("Unknown", "DeploymentPaused")
    assert pod_names(sim) == before


def test_access_review_answers_from_policy_and_enforces_it(sim, api):
    sim.deny("patch", "deployments", "scale")
    authz, apps = client.AuthorizationV1Api(api), client.AppsV1Api(api)

    def review(verb: str, resource: str, subresource: str = "") -> bool:
        body = client.V1SelfSubjectAccessReview(
            spec=client.V1SelfSubjectAccessReviewSpec(
                resource_attributes=client.V1ResourceAttributes(
                    namespace=NS,
                    verb=verb,
                    group="apps",
                    resource=resource,
                    subresource=subresource or None,
                    name=APP,
                )
            )
        )
        return authz.create_self_subject_access_review(body, _request_timeout=5).status.allowed

    assert review("patch", "deployments", "scale") is False
    assert review("patch", "deployments") is True
    assert review("get", "deployments") is True
    with pytest.raises(ApiException) as forbidden:
        apps.patch_namespaced_deployment_scale(
            APP, NS, {"spec": {"replicas": 9}}, _request_timeout=5
        )
    assert forbidden.value.status == 403
    assert sim.deployment()["spec"]["replicas"] == 3
    assert sim.mutating_requests[-1].resource == "deployments/scale"
    assert sim.counts("create", "selfsubjectaccessreviews") == 3


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
def test_kubectl_get_pods_and_deployments(sim, kubeconfig):
    result = subprocess.run(
        ["kubectl", "--kubeconfig", str(kubeconfig), "get", "pods,deployments", "-n", NS],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    for name in pod_names(sim):
        assert f"pod/{name}" in result.stdout
    assert f"deployment.apps/{APP}" in result.stdout


def test_counts_reads_and_logs_only_mutating_requests(sim, api):
    core, apps = client.CoreV1Api(api), client.AppsV1Api(api)
    core.list_namespaced_pod(NS, _request_timeout=5)
    apps.read_namespaced_deployment(APP, NS, _request_timeout=5)
    core.list_namespaced_event(NS, field_selector="type=Warning", _request_timeout=5)
    assert sim.mutating_requests == []
    apps.patch_namespaced_deployment_scale(
        APP, NS, {"spec": {"replicas": 7}}, dry_run="All", _request_timeout=5
    )
    assert sim.deployment()["spec"]["replicas"] == 3
    [logged] = sim.mutating_requests
    assert (logged.verb, logged.resource, logged.name, logged.dry_run) == (
        "patch",
        "deployments/scale",
        APP,
        True,
    )
    assert sim.request_counts == {
        ("list", "pods"): 1,
        ("get", "deployments"): 1,
        ("list", "events"): 1,
        ("patch", "deployments/scale"): 1,
    }


def test_stop_and_start_on_the_same_port(sim, api):
    core = client.CoreV1Api(api)
    names = {p.metadata.name for p in core.list_namespaced_pod(NS, _request_timeout=5).items}
    rv = core.list_namespaced_pod(NS, _request_timeout=5).metadata.resource_version
    collector = EventCollector(
        core.list_namespaced_pod, NS, resource_version=rv, timeout_seconds=30, _request_timeout=30
    )
    assert sim.wait_for(lambda: sim.open_watches == 1, 5)
    port = sim.port
    sim.stop()
    collector.thread.join(timeout=5)  # its watch had 30 s to run: only the stop ended it
    assert not collector.thread.is_alive() and collector.error is not None
    with pytest.raises(urllib3.exceptions.MaxRetryError):
        core.list_namespaced_pod(NS, _request_timeout=2)

    sim.start()
    assert sim.port == port
    again = {p.metadata.name for p in core.list_namespaced_pod(NS, _request_timeout=5).items}
    assert again == names


def test_faults_show_up_in_real_shapes(sim, api):
    core, apps = client.CoreV1Api(api), client.AppsV1Api(api)
    victim = sim.oom_crashloop(APP)
    status = core.read_namespaced_pod(victim, NS, _request_timeout=5).status.container_statuses[0]
    assert status.last_state.terminated.reason == "OOMKilled"
    assert status.state.waiting.reason == "CrashLoopBackOff"
    assert status.ready is False and status.restart_count >= 1
    events = core.list_namespaced_event(
        NS,
        field_selector=f"involvedObject.name={victim},involvedObject.kind=Pod,type=Warning",
        _request_timeout=5,
    ).items
    assert [e.reason for e in events] == ["BackOff"]
    assert sim.wait_for(lambda: sim.deployment()["status"].get("readyReplicas") == 2, 5)

    node = sim.disk_pressure()
    conditions = {
        c.type: c.status for c in core.read_node(node, _request_timeout=5).status.conditions
    }
    assert conditions["DiskPressure"] == "True" and conditions["Ready"] == "True"

    hot = sim.cpu_spike(APP, fraction=1.0)
    metrics = client.CustomObjectsApi(api).list_namespaced_custom_object(
        "metrics.k8s.io", "v1beta1", NS, "pods", label_selector=SELECTOR, _request_timeout=5
    )
    usage = {m["metadata"]["name"]: m["containers"][0]["usage"] for m in metrics["items"]}
    assert usage[hot]["cpu"].endswith("n") and usage[hot]["memory"].endswith("Ki")
    assert parse_quantity(usage[hot]["cpu"]) >= parse_quantity("0.95")
    assert all(parse_quantity(u["memory"]) < parse_quantity("1Gi") for u in usage.values())

    hpa_v2 = client.AutoscalingV2Api(api).read_namespaced_horizontal_pod_autoscaler(
        APP, NS, _request_timeout=5
    )
    hpa_v1 = client.AutoscalingV1Api(api).read_namespaced_horizontal_pod_autoscaler(
        APP, NS, _request_timeout=5
    )
    assert (hpa_v2.spec.min_replicas, hpa_v2.spec.max_replicas) == (2, 10)
    assert hpa_v1.spec.target_cpu_utilization_percentage == 70

    sim.api_errors(1.0)
    with pytest.raises(ApiException) as failed:
        apps.read_namespaced_deployment(APP, NS, _request_timeout=5)
    assert failed.value.status == 500
    sim.clear_faults()
    assert apps.read_namespaced_deployment(APP, NS, _request_timeout=5).metadata.name == APP


def test_pending_pods_are_unschedulable(sim, api):
    core = client.CoreV1Api(api)
    sim.pending_pods(2)
    assert sim.wait_for(lambda: len(sim.pods()) == 5, 5)
    pending = [
        p
        for p in core.list_namespaced_pod(NS, label_selector=SELECTOR, _request_timeout=5).items
        if p.status.phase == "Pending"
    ]
    assert len(pending) == 2
    for pod in pending:
        [scheduled] = pod.status.conditions
        assert (scheduled.type, scheduled.status, scheduled.reason) == (
            "PodScheduled",
            "False",
            "Unschedulable",
        )
        assert pod.spec.node_name is None


def test_dropped_and_silent_watches(sim, api):
    core = client.CoreV1Api(api)
    rv = core.list_namespaced_pod(NS, _request_timeout=5).metadata.resource_version
    collector = EventCollector(
        core.list_namespaced_pod, NS, resource_version=rv, timeout_seconds=30, _request_timeout=30
    )
    assert sim.wait_for(lambda: sim.open_watches == 1, 5)
    assert sim.drop_watches() == 1
    collector.thread.join(timeout=5)
    assert isinstance(collector.error, urllib3.exceptions.ProtocolError)

    sim.silent_watches()
    with pytest.raises(urllib3.exceptions.ReadTimeoutError):
        for _ in watch.Watch().stream(
            core.list_namespaced_pod,
            NS,
            resource_version=rv,
            allow_watch_bookmarks=True,
            timeout_seconds=30,
            _request_timeout=(2, 0.5),
        ):
            pass
    sim.clear_silent_watches()
    assert sim.wait_for(lambda: sim.open_watches == 0, 5)


def test_five_thousand_pods_list_as_raw_json(sim, api):
    sim.add_pods(5000 - 3)
    core = client.CoreV1Api(api)
    response = core.list_namespaced_pod(
        NS, label_selector=SELECTOR, _preload_content=False, _request_timeout=30
    )
    body = json.loads(response.data)
    assert len(body["items"]) == 5000
    assert len({p["metadata"]["name"] for p in body["items"]}) == 5000
    metrics = client.CustomObjectsApi(api).list_namespaced_custom_object(
        "metrics.k8s.io", "v1beta1", NS, "pods", _request_timeout=30
    )
    assert len(metrics["items"]) == 5000


def test_every_kind_parses_into_client_models(sim, api):
    """The client's models validate strictly: every shape the simulator serves must pass."""
    core, apps = client.CoreV1Api(api), client.AppsV1Api(api)
    sim.oom_crashloop(APP)
    sim.disk_pressure()
    sim.pending_pods(1)
    assert sim.wait_for(lambda: len(sim.pods()) == 4, 5)
    assert {n.metadata.name for n in core.list_namespace(_request_timeout=5).items} >= {NS}
    assert len(core.list_node(_request_timeout=5).items) == 3
    assert len(core.list_pod_for_all_namespaces(_request_timeout=5).items) == 4
    reasons = {e.reason for e in core.list_namespaced_event(NS, _request_timeout=5).items}
    assert reasons == {"BackOff", "FailedScheduling"}
    everywhere = core.list_event_for_all_namespaces(_request_timeout=5).items
    assert "EvictionThresholdMet" in {e.reason for e in everywhere}
    [rs] = apps.list_namespaced_replica_set(NS, _request_timeout=5).items
    assert rs.metadata.owner_references[0].name == APP
    [dep] = apps.list_namespaced_deployment(NS, _request_timeout=5).items
    assert dep.spec.replicas == 4
    [hpa] = (
        client.AutoscalingV2Api(api)
        .list_namespaced_horizontal_pod_autoscaler(NS, _request_timeout=5)
        .items
    )
    assert hpa.spec.scale_target_ref.name == APP
    [hpa_v1] = (
        client.AutoscalingV1Api(api)
        .list_namespaced_horizontal_pod_autoscaler(NS, _request_timeout=5)
        .items
    )
    assert hpa_v1.spec.max_replicas == 10
    nodes = client.CustomObjectsApi(api).list_cluster_custom_object(
        "metrics.k8s.io", "v1beta1", "nodes", _request_timeout=5
    )
    assert all(parse_quantity(n["usage"]["cpu"]) > 0 for n in nodes["items"])


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
def test_kubectl_shows_server_side_columns_and_top(sim, kubeconfig):
    victim = sim.oom_crashloop(APP)
    table = subprocess.run(
        ["kubectl", "--kubeconfig", str(kubeconfig), "get", "pods", "-n", NS, "--no-headers"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert table.returncode == 0, table.stderr
    rows = {line.split()[0]: line.split() for line in table.stdout.splitlines()}
    assert rows[victim][1:3] == ["0/1", "CrashLoopBackOff"]
    assert sum(row[2] == "Running" for row in rows.values()) == 2
    top = subprocess.run(
        ["kubectl", "--kubeconfig", str(kubeconfig), "top", "pods", "-n", NS, "--no-headers"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert top.returncode == 0, top.stderr
    assert {line.split()[0] for line in top.stdout.splitlines()} == set(rows)


def test_metrics_unavailable_answers_503_for_metrics_only(sim, api, kubeconfig):
    custom, core = client.CustomObjectsApi(api), client.CoreV1Api(api)
    sim.metrics_unavailable()
    with pytest.raises(ApiException) as unavailable:
        custom.list_namespaced_custom_object(
            "metrics.k8s.io", "v1beta1", NS, "pods", label_selector=SELECTOR, _request_timeout=5
        )
    assert unavailable.value.status == 503
    assert json.loads(unavailable.value.body)["reason"] == "ServiceUnavailable"
    top = subprocess.run(
        ["kubectl", "--kubeconfig", str(kubeconfig), "top", "pods", "-n", NS, "--no-headers"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert top.returncode != 0 and "unable to handle the request" in top.stderr, top.stderr
    assert len(core.list_namespaced_pod(NS, label_selector=SELECTOR, _request_timeout=5).items) == 3
    sim.clear_faults()
    items = custom.list_namespaced_custom_object(
        "metrics.k8s.io", "v1beta1", NS, "pods", label_selector=SELECTOR, _request_timeout=5
    )
    assert len(items["items"]) == 3


def test_expiring_versions_spares_a_watch_that_is_up_to_date(sim, api):
    core = client.CoreV1Api(api)
    rv = core.list_namespaced_pod(NS, _request_timeout=5).metadata.resource_version
    collector = EventCollector(
        core.list_namespaced_pod, NS, resource_version=rv, timeout_seconds=5, _request_timeout=10
    )
    assert sim.wait_for(lambda: sim.open_watches == 1, 5)
    sim.expire_resource_versions()  # nothing changed since rv: the open watch is not behind
    sim.scale_to(4)
    assert sim.wait_for(lambda: len(collector.names("ADDED")) == 1, 5), collector.events
    collector.watch.stop()
    sim.drop_watches()
    collector.thread.join(5)
    assert not isinstance(collector.error, ApiException), collector.error
