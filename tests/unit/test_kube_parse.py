"""Raw Kubernetes JSON to snapshot types: pods in trouble, rollouts, HPAs, events, nodes,
metrics."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from cockpit.sources.kube import parse

CONTAINER_SPEC = {
    "name": "api",
    "image": "registry.example/api:1.14.2",
    "resources": {
        "requests": {"cpu": "250m", "memory": "256Mi"},
        "limits": {"cpu": "1", "memory": "512Mi"},
    },
}

# As `kubectl get pod -o json` shows a pod OOM-killed twice and now backing off.
OOM_CRASHLOOP = json.loads("""{
  "apiVersion": "v1", "kind": "Pod",
  "metadata": {"name": "api-7d9f8b6c5-x7k2q", "namespace": "prod", "uid": "u-1",
               "creationTimestamp": "2025-05-01T10:00:00Z", "labels": {"app": "api"}},
  "spec": {"nodeName": "ip-10-0-1-23", "containers": [
           {"name": "sidecar", "image": "envoy:1.30", "resources": {"requests": {"cpu": "50m"}}}]},
  "status": {
    "phase": "Running",
    "conditions": [{"type": "Ready", "status": "False", "reason": "ContainersNotReady"}],
    "containerStatuses": [
      {"name": "api", "ready": false, "restartCount": 2,
       "state": {"waiting": {"reason": "CrashLoopBackOff",
                             "message": "back-off 20s restarting failed container=api"}},
       "lastState": {"terminated": {"exitCode": 137, "reason": "OOMKilled",
                                    "startedAt": "2025-05-01T10:04:00Z",
                                    "finishedAt": "2025-05-01T10:05:30Z"}}},
      {"name": "sidecar", "ready": true, "restartCount": 0,
       "state": {"running": {"startedAt": "2025-05-01T10:00:05Z"}}, "lastState": {}}
    ]
  }
}""")
OOM_CRASHLOOP["spec"]["containers"].insert(0, CONTAINER_SPEC)

PENDING_UNSCHEDULABLE = {
    "metadata": {
        "name": "api-7d9f8b6c5-p4n2m",
        "namespace": "prod",
        "uid": "u-2",
        "creationTimestamp": "2025-05-01T10:10:00Z",
    },
    "spec": {"containers": [CONTAINER_SPEC]},
    "status": {
        "phase": "Pending",
        "qosClass": "Burstable",
        "conditions": [
            {
                "type": "PodScheduled",
                "status": "False",
                "reason": "Unschedulable",
                "message": "0/3 nodes are available: 3 Insufficient cpu.",
            }
        ],
    },
}

EVICTED = {
    "metadata": {"name": "api-7d9f8b6c5-ev1ct", "namespace": "prod", "uid": "u-3"},
    "spec": {"nodeName": "ip-10-0-1-24", "containers": [CONTAINER_SPEC]},
    "status": {
        "phase": "Failed",
        "reason": "Evicted",
        "message": "The node was low on resource: memory. ",
    },
}


def test_oom_killed_pod_in_crash_loop():
    pod = parse.parse_pod(OOM_CRASHLOOP)
    assert (pod.uid, pod.name, pod.namespace, pod.node) == (
        "u-1",
        "api-7d9f8b6c5-x7k2q",
        "prod",
        "ip-10-0-1-23",
    )
    assert (pod.phase, pod.ready, pod.total, pod.restarts) == ("Running", 1, 2, 2)
    assert pod.reason == "CrashLoopBackOff"
    assert pod.created_at == datetime(2025, 5, 1, 10, 0, tzinfo=UTC)
    api, sidecar = pod.containers
    assert (api.state, api.reason, api.last_state_reason, api.last_exit_code) == (
        "waiting",
        "CrashLoopBackOff",
        "OOMKilled",
        137,
    )
    assert api.last_finished_at == datetime(2025, 5, 1, 10, 5, 30, tzinfo=UTC)
    assert (api.cpu_request_m, api.cpu_limit_m, api.memory_request, api.memory_limit) == (
        250.0,
        1000.0,
        256 * 2**20,
        512 * 2**20,
    )
    assert (sidecar.state, sidecar.ready, sidecar.cpu_limit_m) == ("running", True, None)
    # Requests sum over containers; the sidecar has no limit, so the pod has none.
    assert (pod.cpu_request_m, pod.cpu_limit_m, pod.memory_limit) == (300.0, None, None)
    assert pod.cpu_m is None and pod.memory_bytes is None


def test_running_again_after_an_oom_kill_still_names_it():
    raw = json.loads(json.dumps(OOM_CRASHLOOP))
    raw["status"]["containerStatuses"][0]["state"] = {
        "running": {"startedAt": "2025-05-01T10:06:00Z"}
    }
    raw["status"]["containerStatuses"][0]["ready"] = True
    pod = parse.parse_pod(raw)
    assert (pod.ready, pod.reason) == (2, "OOMKilled")


def test_pending_unschedulable_and_evicted_pods():
    pending = parse.parse_pod(PENDING_UNSCHEDULABLE)
    assert (pending.phase, pending.reason, pending.node, pending.ready, pending.total) == (
        "Pending",
        "Unschedulable",
        "",
        0,
        1,
    )
    assert pending.containers[0].state == "waiting" and pending.containers[0].reason == ""
    evicted = parse.parse_pod(EVICTED)
    assert (evicted.phase, evicted.reason, evicted.ready, evicted.created_at) == (
        "Failed",
        "Evicted",
        0,
        None,
    )


def test_image_pull_backoff_wins_over_creating_and_terminating_is_flagged():
    raw = {
        "metadata": {"name": "p", "deletionTimestamp": "2025-05-01T10:00:00Z"},
        "spec": {"containers": [{"name": "a"}, {"name": "b"}]},
        "status": {
            "phase": "Pending",
            "containerStatuses": [
                {"name": "a", "state": {"waiting": {"reason": "ContainerCreating"}}},
                {
                    "name": "b",
                    "state": {
                        "waiting": {
                            "reason": "ImagePullBackOff",
                            "message": "Back-off pulling image",
                        }
                    },
                },
            ],
        },
    }
    pod = parse.parse_pod(raw)
    assert (pod.reason, pod.deleting) == ("ImagePullBackOff", True)
    raw["status"]["containerStatuses"].pop()
    raw["spec"]["containers"].pop()
    assert parse.parse_pod(raw).reason == "Terminating"  # as kubectl shows a deleted pod
    del raw["metadata"]["deletionTimestamp"]
    assert parse.parse_pod(raw).reason == "ContainerCreating"


def deployment(**status) -> dict:
    return {
        "metadata": {"name": "api", "namespace": "prod", "generation": 4},
        "spec": {
            "replicas": 4,
            "paused": False,
            "template": {"metadata": {"annotations": {parse.RESTARTED_AT: "2025-05-01T09:00:00Z"}}},
        },
        "status": {
            "observedGeneration": 4,
            "replicas": 4,
            "updatedReplicas": 4,
            "readyReplicas": 4,
            "availableReplicas": 4,
            **status,
        },
    }


def test_deployment_rollout_states():
    done = parse.parse_deployment(
        deployment(
            conditions=[
                {
                    "type": "Progressing",
                    "status": "True",
                    "reason": "NewReplicaSetAvailable",
                    "message": "ok",
                }
            ]
        )
    )
    assert (done.desired, done.updated, done.ready, done.available) == (4, 4, 4, 4)
    assert (done.rollout, done.restarted_at, done.paused) == (
        "complete",
        "2025-05-01T09:00:00Z",
        False,
    )
    rolling = parse.parse_deployment(deployment(updatedReplicas=2, replicas=5))
    assert rolling.rollout == "progressing" and "2 of 4" in rolling.rollout_message
    unobserved = parse.parse_deployment(deployment(observedGeneration=3))
    assert (unobserved.rollout, unobserved.observed_generation) == ("progressing", 3)
    stuck = parse.parse_deployment(
        deployment(
            updatedReplicas=2,
            conditions=[
                {
                    "type": "Progressing",
                    "status": "False",
                    "reason": "ProgressDeadlineExceeded",
                    "message": 'ReplicaSet "api-5f" has timed out progressing.',
                }
            ],
        )
    )
    assert stuck.rollout == "stuck" and "timed out" in stuck.rollout_message
    bare = parse.parse_deployment(
        {"metadata": {"name": "x"}, "spec": {"replicas": 2, "paused": True}, "status": {}}
    )
    assert (bare.ready, bare.available, bare.paused, bare.rollout) == (0, 0, True, "progressing")


def test_hpa_v2_and_v1_and_matching_the_deployment():
    v2 = {
        "metadata": {"name": "api"},
        "spec": {
            "scaleTargetRef": {"kind": "Deployment", "name": "api"},
            "minReplicas": 2,
            "maxReplicas": 10,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "target": {"type": "Utilization", "averageUtilization": 70},
                    },
                }
            ],
        },
        "status": {"currentReplicas": 3, "desiredReplicas": 4},
    }
    v1 = {
        "metadata": {"name": "other"},
        "spec": {
            "scaleTargetRef": {"kind": "Deployment", "name": "worker"},
            "maxReplicas": 5,
            "targetCPUUtilizationPercentage": 60,
        },
        "status": {"currentReplicas": 1},
    }
    hpa = parse.hpa_for([v1, v2], "api")
    assert (
        hpa.name,
        hpa.min_replicas,
        hpa.max_replicas,
        hpa.current_replicas,
        hpa.desired_replicas,
        hpa.target_cpu_percent,
    ) == ("api", 2, 10, 3, 4, 70)
    worker = parse.hpa_for([v1, v2], "worker")
    assert (worker.min_replicas, worker.target_cpu_percent, worker.desired_replicas) == (1, 60, 0)
    assert parse.hpa_for([v1], "api") is None


def test_events_nodes_and_metrics_quantities():
    event = parse.parse_event(
        {
            "metadata": {"name": "api-x.17f"},
            "type": "Warning",
            "reason": "BackOff",
            "message": "Back-off restarting failed container",
            "count": 7,
            "involvedObject": {"kind": "Pod", "name": "api-x"},
            "firstTimestamp": "2025-05-01T10:00:00Z",
            "lastTimestamp": "2025-05-01T10:07:00Z",
        }
    )
    assert (event.object_kind, event.object_name, event.count) == ("Pod", "api-x", 7)
    assert event.last_seen == datetime(2025, 5, 1, 10, 7, tzinfo=UTC)
    series = parse.parse_event(
        {
            "type": "Warning",
            "eventTime": "2025-05-01T10:08:00.123456Z",
            "series": {"count": 3},
            "lastTimestamp": None,
        }
    )
    assert (series.count, series.last_seen.minute) == (3, 8)
    node = parse.parse_node(
        {
            "metadata": {"name": "n1"},
            "status": {
                "conditions": [
                    {"type": "Ready", "status": "True"},
                    {"type": "DiskPressure", "status": "True"},
                    {"type": "MemoryPressure", "status": "False"},
                ]
            },
        }
    )
    assert (node.ready, node.disk_pressure, node.memory_pressure, node.pid_pressure) == (
        True,
        True,
        False,
        False,
    )
    usage = parse.parse_pod_metrics(
        [
            {
                "metadata": {"name": "api-x"},
                "containers": [
                    {"name": "api", "usage": {"cpu": "912345678n", "memory": "308224Ki"}},
                    {"name": "sidecar", "usage": {"cpu": "5m", "memory": "10Mi"}},
                ],
            }
        ]
    )
    cpu, mem = usage["api-x"]
    assert abs(cpu - 917.345678) < 1e-6 and mem == 308224 * 1024 + 10 * 2**20
    assert parse.cpu_millicores("bogus") is None and parse.memory_bytes(None) is None


def test_a_null_node_name_is_an_empty_node_and_the_pods_cells_render():
    """Regression: `"nodeName": null` made `Cell(pod.node)` hold None, and rendering it raised
    AttributeError ('NoneType' object has no attribute 'translate') inside the pods pane."""
    from widgets.panes.pods import PodsPane

    raw = json.loads(json.dumps(PENDING_UNSCHEDULABLE))
    raw["spec"]["nodeName"] = None
    raw["status"]["containerStatuses"] = None
    raw["metadata"]["deletionTimestamp"] = None
    pod = parse.parse_pod(raw)
    for cell in PodsPane._pod_cells(pod).values():
        cell.__rich__()  # what the table does when it draws the row
        assert isinstance(cell.text, str)
    assert pod.node == "" and pod.deleting is False


def _initializing(
    init_statuses: list[dict], init_specs: list[dict] | None = None, initialized: str = "False"
) -> dict:
    return {
        "metadata": {"name": "api-7d9f8b6c5-1n1t0", "namespace": "prod", "uid": "u-9"},
        "spec": {
            "initContainers": init_specs or [{"name": "wait"}, {"name": "migrate"}],
            "containers": [CONTAINER_SPEC],
        },
        "status": {
            "phase": "Pending",
            "conditions": [{"type": "Initialized", "status": initialized}],
            "initContainerStatuses": init_statuses,
            "containerStatuses": [
                {
                    "name": "api",
                    "ready": False,
                    "restartCount": 0,
                    "state": {"waiting": {"reason": "PodInitializing"}},
                }
            ],
        },
    }


DONE = {
    "name": "wait",
    "restartCount": 0,
    "state": {"terminated": {"exitCode": 0, "reason": "Completed"}},
}


def test_init_containers_read_as_kubectl_prints_them():
    running = {"name": "migrate", "restartCount": 0, "state": {"running": {}}}
    assert parse.parse_pod(_initializing([DONE, running])).reason == "Init:1/2"
    assert parse.parse_pod(_initializing([])).reason == "Init:0/2"  # no status yet
    failed = {
        "name": "migrate",
        "restartCount": 2,
        "state": {"terminated": {"exitCode": 3}},
    }  # no reason: the exit code says it
    pod = parse.parse_pod(_initializing([DONE, failed]))
    assert (pod.reason, pod.restarts) == ("Init:ExitCode:3", 2)
    killed = {"name": "migrate", "state": {"terminated": {"exitCode": 137, "signal": 9}}}
    assert parse.parse_pod(_initializing([DONE, killed])).reason == "Init:Signal:9"
    oom = {"name": "migrate", "state": {"terminated": {"exitCode": 137, "reason": "OOMKilled"}}}
    assert parse.parse_pod(_initializing([DONE, oom])).reason == "Init:OOMKilled"


def test_once_initialized_the_app_containers_speak_and_sidecars_count_as_ready():
    sidecar_spec = [{"name": "wait"}, {"name": "proxy", "restartPolicy": "Always"}]
    sidecar = {
        "name": "proxy",
        "ready": True,
        "started": True,
        "restartCount": 5,
        "state": {"running": {}},
    }
    raw = _initializing([DONE, sidecar], sidecar_spec, initialized="True")
    raw["status"]["containerStatuses"] = [
        {"name": "api", "ready": True, "restartCount": 1, "state": {"running": {}}}
    ]
    raw["status"]["phase"] = "Running"
    pod = parse.parse_pod(raw)
    assert (pod.reason, pod.ready, pod.total, pod.restarts) == ("", 2, 2, 6)
    assert [(c.name, c.init, c.sidecar) for c in pod.containers] == [
        ("wait", True, False),
        ("proxy", True, True),
        ("api", False, False),
    ]
