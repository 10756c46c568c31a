"""The simulator's resource registry and the discovery documents kubectl reads first.

kubectl asks /api and /apis (preferring aggregated discovery, falling back to these legacy
APIVersions/APIGroupList documents when the answer is plain JSON), then each group version's
APIResourceList, then the resource itself.
"""

from __future__ import annotations

from dataclasses import dataclass

from cockpit.lab.kubesim.jsontypes import JSON

_READ = ["get", "list", "watch"]
_WRITE = ["create", "delete", "deletecollection", "patch", "update"]


@dataclass(frozen=True)
class Resource:
    """One served resource: where it lives in the store and how discovery describes it."""

    name: str  # plural, as in the URL and the store
    kind: str
    namespaced: bool
    verbs: tuple[str, ...]
    short_names: tuple[str, ...] = ()
    subresources: tuple[str, ...] = ()


_CORE = [
    Resource("namespaces", "Namespace", False, tuple(_READ + ["create", "delete"]), ("ns",)),
    Resource("pods", "Pod", True, tuple(_READ + _WRITE), ("po",), ("status", "log")),
    Resource("events", "Event", True, tuple(_READ + _WRITE), ("ev",)),
    Resource("nodes", "Node", False, tuple(_READ + _WRITE), ("no",), ("status",)),
]
_APPS = [
    Resource(
        "deployments", "Deployment", True, tuple(_READ + _WRITE), ("deploy",), ("scale", "status")
    ),
    Resource("replicasets", "ReplicaSet", True, tuple(_READ + _WRITE), ("rs",), ("scale",)),
]
_HPA = [
    Resource(
        "horizontalpodautoscalers",
        "HorizontalPodAutoscaler",
        True,
        tuple(_READ + _WRITE),
        ("hpa",),
        ("status",),
    ),
]
_AUTHZ = [
    Resource("selfsubjectaccessreviews", "SelfSubjectAccessReview", False, ("create",)),
]
_METRICS = [
    Resource("pods", "PodMetrics", True, ("get", "list")),
    Resource("nodes", "NodeMetrics", False, ("get", "list")),
]

# group/version -> resources; "v1" is the core group.
GROUP_VERSIONS: dict[str, list[Resource]] = {
    "v1": _CORE,
    "apps/v1": _APPS,
    "autoscaling/v2": _HPA,
    "autoscaling/v1": _HPA,
    "authorization.k8s.io/v1": _AUTHZ,
    "metrics.k8s.io/v1beta1": _METRICS,
}
_PREFERRED = {"autoscaling": "v2"}


def find_resource(group_version: str, name: str) -> Resource | None:
    """The resource served under a group version, or None."""
    for resource in GROUP_VERSIONS.get(group_version, []):
        if resource.name == name:
            return resource
    return None


def version_document() -> JSON:
    """GET /version."""
    return {
        "major": "1",
        "minor": "32",
        "gitVersion": "v1.32.4-kubesim",
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2025-04-22T16:00:00Z",
        "goVersion": "go1.23.6",
        "compiler": "gc",
        "platform": "linux/amd64",
    }


def api_versions() -> JSON:
    """GET /api (legacy APIVersions)."""
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1"}],
    }


def api_groups() -> JSON:
    """GET /apis (legacy APIGroupList)."""
    groups: dict[str, list[str]] = {}
    for group_version in GROUP_VERSIONS:
        if "/" in group_version:
            group, version = group_version.split("/")
            groups.setdefault(group, []).append(version)
    out: list[JSON] = []
    for group, versions in groups.items():
        preferred = _PREFERRED.get(group, versions[0])
        out.append(
            {
                "name": group,
                "versions": [
                    {"groupVersion": f"{group}/{v}", "version": v}
                    for v in sorted(versions, key=lambda v: v != preferred)
                ],
                "preferredVersion": {"groupVersion": f"{group}/{preferred}", "version": preferred},
            }
        )
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": out}


def api_group(group: str) -> JSON | None:
    """GET /apis/{group} (one APIGroup)."""
    for entry in api_groups()["groups"]:
        if entry["name"] == group:
            return {"kind": "APIGroup", "apiVersion": "v1", **entry}
    return None


def resource_list(group_version: str) -> JSON | None:
    """GET /api/v1 or /apis/{group}/{version}: the APIResourceList."""
    resources = GROUP_VERSIONS.get(group_version)
    if resources is None:
        return None
    out: list[JSON] = []
    for r in resources:
        singular = r.kind.lower()
        entry: JSON = {
            "name": r.name,
            "singularName": singular,
            "namespaced": r.namespaced,
            "kind": r.kind,
            "verbs": list(r.verbs),
        }
        if r.short_names:
            entry["shortNames"] = list(r.short_names)
        if (
            r.name in ("pods", "deployments", "replicasets")
            and group_version != "metrics.k8s.io/v1beta1"
        ):
            entry["categories"] = ["all"]
        out.append(entry)
        for sub in r.subresources:
            sub_kind = "Scale" if sub == "scale" else r.kind
            out.append(
                {
                    "name": f"{r.name}/{sub}",
                    "singularName": "",
                    "namespaced": r.namespaced,
                    "kind": sub_kind,
                    "verbs": ["get", "patch", "update"] if sub != "log" else ["get"],
                    **({"group": "autoscaling", "version": "v1"} if sub == "scale" else {}),
                }
            )
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": group_version,
        "resources": out,
    }
