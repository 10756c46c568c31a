"""Builders for the simulator's objects, in the JSON shapes the real API server returns.

Every function returns a fresh dict the store can take ownership of. uid, creationTimestamp and
resourceVersion are filled in by the store.
"""

from __future__ import annotations

import hashlib
import json
import random
import zlib

from cockpit.lab.kubesim.jsontypes import JSON, member, members
from cockpit.lab.kubesim.store import now_rfc3339

# The alphabet Kubernetes uses for generated name suffixes and template hashes (no vowels).
_SAFE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"


def random_suffix(length: int = 5) -> str:
    """A generated-name suffix like the ReplicaSet controller's (`-x7k2q`)."""
    return "".join(random.choice(_SAFE_ALPHABET) for _ in range(length))


def template_hash(template: JSON) -> str:
    """A stable pod-template-hash for a pod template (same template, same hash)."""
    digest = zlib.crc32(json.dumps(template, sort_keys=True).encode())
    out: list[str] = []
    for _ in range(10):
        digest, rem = divmod(digest, len(_SAFE_ALPHABET))
        out.append(_SAFE_ALPHABET[rem])
    return "".join(out)


def _owner(kind: str, api_version: str, owner: JSON) -> JSON:
    return {
        "apiVersion": api_version,
        "kind": kind,
        "name": owner["metadata"]["name"],
        "uid": owner["metadata"]["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def namespace(name: str) -> JSON:
    """A Namespace in phase Active."""
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": name, "labels": {"kubernetes.io/metadata.name": name}},
        "spec": {"finalizers": ["kubernetes"]},
        "status": {"phase": "Active"},
    }


def node(name: str, index: int) -> JSON:
    """A Ready worker node with no pressure conditions."""
    now = now_rfc3339()

    def condition(kind: str, status: str, reason: str, message: str) -> JSON:
        return {
            "type": kind,
            "status": status,
            "lastHeartbeatTime": now,
            "lastTransitionTime": now,
            "reason": reason,
            "message": message,
        }

    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "labels": {
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "node-role.kubernetes.io/worker": "",
                "topology.kubernetes.io/zone": f"lab-{'abc'[index % 3]}",
            },
        },
        "spec": {"podCIDR": f"10.244.{index}.0/24"},
        "status": {
            "capacity": {"cpu": "8", "memory": "32863924Ki", "pods": "110"},
            "allocatable": {"cpu": "7910m", "memory": "31712948Ki", "pods": "110"},
            "conditions": [
                condition(
                    "MemoryPressure",
                    "False",
                    "KubeletHasSufficientMemory",
                    "kubelet has sufficient memory available",
                ),
                condition(
                    "DiskPressure",
                    "False",
                    "KubeletHasNoDiskPressure",
                    "kubelet has no disk pressure",
                ),
                condition(
                    "PIDPressure",
                    "False",
                    "KubeletHasSufficientPID",
                    "kubelet has sufficient PID available",
                ),
                condition("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
            ],
            "addresses": [
                {"type": "InternalIP", "address": f"10.0.{index}.10"},
                {"type": "Hostname", "address": name},
            ],
            "nodeInfo": {
                "kubeletVersion": "v1.32.4",
                "containerRuntimeVersion": "containerd://1.7.27",
                "osImage": "Ubuntu 24.04.2 LTS",
                "architecture": "amd64",
                "operatingSystem": "linux",
                "kernelVersion": "6.8.0-1024-aws",
                "kubeProxyVersion": "",
                "bootID": f"5f2c3c1e-8a7b-4c3e-9d2a-{index:012d}",
                "machineID": f"ec2{index:029d}",
                "systemUUID": f"ec2{index:05d}-0000-0000-0000-000000000000",
            },
        },
    }


def _data_volume() -> JSON:
    return {
        "name": "data",
        "ephemeral": {
            "volumeClaimTemplate": {
                "spec": {
                    "accessModes": ["ReadWriteOnce"],
                    "resources": {"requests": {"storage": "10Gi"}},
                }
            }
        },
    }


def deployment(
    name: str,
    ns: str,
    replicas: int,
    labels: dict[str, str],
    image: str,
    env: list[JSON] | None = None,
) -> JSON:
    """A Deployment whose template runs one container "api" with requests and limits (and `env`,
    the container's environment, when given)."""
    container: JSON = {
        "name": "api",
        "image": image,
        "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"}],
        "resources": {
            "requests": {"cpu": "500m", "memory": "512Mi"},
            "limits": {"cpu": "1", "memory": "1Gi"},
        },
        "volumeMounts": [{"name": "data", "mountPath": "/var/lib/predictiq"}],
    }
    if env:
        container["env"] = json.loads(json.dumps(env))
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": name,
            "namespace": ns,
            "generation": 1,
            "labels": dict(labels),
            "annotations": {"deployment.kubernetes.io/revision": "1"},
        },
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": dict(labels)},
            "template": {
                "metadata": {"labels": dict(labels)},
                "spec": {
                    "containers": [container],
                    # a per-pod claim (generic ephemeral volume): the disk the drills fill
                    "volumes": [_data_volume()],
                    "restartPolicy": "Always",
                    "terminationGracePeriodSeconds": 30,
                },
            },
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0},
            },
            "revisionHistoryLimit": 10,
            "progressDeadlineSeconds": 600,
        },
        "status": {"observedGeneration": 1, "replicas": 0},
    }


def replicaset(owner: JSON, pod_hash: str, revision: int) -> JSON:
    """The ReplicaSet a deployment creates for one pod template."""
    spec = owner["spec"]
    template = json.loads(json.dumps(spec["template"]))
    template["metadata"].setdefault("labels", {})["pod-template-hash"] = pod_hash
    labels = dict(template["metadata"]["labels"])
    selector = {"matchLabels": {**spec["selector"]["matchLabels"], "pod-template-hash": pod_hash}}
    return {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {
            "name": f"{owner['metadata']['name']}-{pod_hash}",
            "namespace": owner["metadata"]["namespace"],
            "labels": labels,
            "annotations": {"deployment.kubernetes.io/revision": str(revision)},
            "ownerReferences": [_owner("Deployment", "apps/v1", owner)],
            "generation": 1,
        },
        "spec": {"replicas": 0, "selector": selector, "template": template},
        "status": {"replicas": 0, "observedGeneration": 1},
    }


def pod(rs: JSON, node_name: str | None) -> JSON:
    """A new pod of a ReplicaSet: Pending (ContainerCreating if scheduled, else unscheduled)."""
    template = rs["spec"]["template"]
    spec = json.loads(json.dumps(template["spec"]))
    spec["serviceAccountName"] = "default"
    spec["dnsPolicy"] = "ClusterFirst"
    spec["schedulerName"] = "default-scheduler"
    if node_name:
        spec["nodeName"] = node_name
    # the service account token volume, as admission adds it to every pod
    token = f"kube-api-access-{random_suffix()}"
    spec["volumes"] = [*spec.get("volumes", []), {"name": token, "projected": {"sources": []}}]
    meta = {
        "name": f"{rs['metadata']['name']}-{random_suffix()}",
        "generateName": f"{rs['metadata']['name']}-",
        "namespace": rs["metadata"]["namespace"],
        "labels": dict(template["metadata"]["labels"]),
        "ownerReferences": [_owner("ReplicaSet", "apps/v1", rs)],
    }
    annotations = template["metadata"].get("annotations")
    if annotations:
        meta["annotations"] = dict(annotations)
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": meta,
        "spec": spec,
        "status": {"phase": "Pending", "qosClass": "Burstable"},
    }


def container_id() -> str:
    """A containerd container ID."""
    return "containerd://" + hashlib.sha256(random_suffix(16).encode()).hexdigest()


def event(
    involved: JSON, event_type: str, reason: str, message: str, component: str, count: int = 1
) -> JSON:
    """A core/v1 Event about `involved` (named like the real ones: object name + hex suffix)."""
    meta = involved["metadata"]
    ns = meta.get("namespace") or "default"
    now = now_rfc3339()
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": f"{meta['name']}.{random.getrandbits(64):016x}", "namespace": ns},
        "involvedObject": {
            "apiVersion": involved["apiVersion"],
            "kind": involved["kind"],
            "name": meta["name"],
            "namespace": meta.get("namespace", ""),
            "uid": meta.get("uid", ""),
            "resourceVersion": meta.get("resourceVersion", ""),
        },
        "reason": reason,
        "message": message,
        "source": {"component": component},
        "firstTimestamp": now,
        "lastTimestamp": now,
        "count": count,
        "type": event_type,
        "eventTime": None,
        "reportingComponent": component,
        "reportingInstance": "",
    }


def hpa(target: JSON, min_replicas: int, max_replicas: int) -> JSON:
    """An autoscaling/v2 HorizontalPodAutoscaler on CPU utilisation for a deployment."""
    meta = target["metadata"]
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": meta["name"], "namespace": meta["namespace"]},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": meta["name"]},
            "minReplicas": min_replicas,
            "maxReplicas": max_replicas,
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
        "status": {"currentReplicas": 0, "desiredReplicas": 0, "currentMetrics": []},
    }


def hpa_as_v1(obj: JSON) -> JSON:
    """Convert a stored autoscaling/v2 HPA to the autoscaling/v1 shape."""
    spec, status = obj["spec"], member(obj, "status")
    target = next(
        (
            m["resource"]["target"].get("averageUtilization")
            for m in members(spec, "metrics")
            if m.get("type") == "Resource" and m["resource"]["name"] == "cpu"
        ),
        None,
    )
    v1_status = {
        "currentReplicas": status.get("currentReplicas", 0),
        "desiredReplicas": status.get("desiredReplicas", 0),
    }
    for metric in members(status, "currentMetrics"):
        if metric.get("type") == "Resource" and metric["resource"]["name"] == "cpu":
            v1_status["currentCPUUtilizationPercentage"] = metric["resource"]["current"].get(
                "averageUtilization"
            )
    if "lastScaleTime" in status:
        v1_status["lastScaleTime"] = status["lastScaleTime"]
    return {
        "apiVersion": "autoscaling/v1",
        "kind": "HorizontalPodAutoscaler",
        "metadata": obj["metadata"],
        "spec": {
            "scaleTargetRef": spec["scaleTargetRef"],
            "minReplicas": spec.get("minReplicas", 1),
            "maxReplicas": spec["maxReplicas"],
            "targetCPUUtilizationPercentage": target,
        },
        "status": v1_status,
    }
