"""Resource operations behind the simulator's HTTP routes: get, list, patch, update, delete,
the deployment scale subresource, metrics.k8s.io and SelfSubjectAccessReview.

Each operation returns (HTTP status, body dict) or raises ApiError with a Kubernetes Status.
"""

from __future__ import annotations

import copy
import itertools
import json
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from cockpit.lab.kubesim import objects
from cockpit.lab.kubesim.discovery import Resource
from cockpit.lab.kubesim.jsontypes import JSON, member, members, text
from cockpit.lab.kubesim.patch import PatchError, apply_patch
from cockpit.lab.kubesim.select import SelectorError, matches_fields, matches_labels
from cockpit.lab.kubesim.store import now_rfc3339

if TYPE_CHECKING:
    from cockpit.lab.kubesim.controller import Controller
    from cockpit.lab.kubesim.metrics import UsageModel
    from cockpit.lab.kubesim.store import ObjectStore


@dataclass(frozen=True)
class Route:
    """A parsed resource URL."""

    group_version: str
    resource: Resource
    namespace: str | None
    name: str | None
    subresource: str | None

    @property
    def group(self) -> str:
        """The API group ("" for core)."""
        return self.group_version.rpartition("/")[0]

    @property
    def counted_name(self) -> str:
        """The resource name used by request counters ("deployments/scale",
        "pods.metrics.k8s.io")."""
        name = self.resource.name
        if self.group == "metrics.k8s.io":
            name += ".metrics.k8s.io"
        return f"{name}/{self.subresource}" if self.subresource else name


class ApiError(Exception):
    """An error answered as a Kubernetes Status object."""

    def __init__(self, code: int, reason: str, message: str, details: JSON | None = None) -> None:
        super().__init__(message)
        self.code, self.reason, self.message, self.details = code, reason, message, details

    def status(self) -> JSON:
        """The Status body."""
        body: JSON = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        if self.details:
            body["details"] = self.details
        return body


@dataclass
class AccessPolicy:
    """RBAC for the simulated user: every request is allowed except the denied tuples.

    A tuple is (verb, resource, subresource); "*" matches anything, "" means no subresource.
    """

    denied: set[tuple[str, str, str]] = field(default_factory=set)
    user: str = "lab-user"

    def allows(self, verb: str, resource: str, subresource: str = "") -> bool:
        """Whether the user may do `verb` on `resource[/subresource]`."""
        for d_verb, d_resource, d_sub in self.denied:
            if (
                d_verb in ("*", verb)
                and d_resource in ("*", resource)
                and d_sub in ("*", subresource or "")
            ):
                return False
        return True


def not_found(route: Route, name: str) -> ApiError:
    """The NotFound Status for a missing object."""
    qualified = route.resource.name + (f".{route.group}" if route.group else "")
    return ApiError(
        404,
        "NotFound",
        f'{qualified} "{name}" not found',
        {"name": name, "group": route.group, "kind": route.resource.name},
    )


class Operations:
    """The resource operations, bound to the simulator's store, controller and policy."""

    def __init__(
        self, store: ObjectStore, controller: Controller, usage: UsageModel, policy: AccessPolicy
    ) -> None:
        self.store, self.controller, self.usage, self.policy = store, controller, usage, policy
        # the matching items of a paged list, by snapshot id, for its next pages (`_page`)
        self._pages: OrderedDict[str, tuple[list[JSON], int]] = OrderedDict()
        self._pages_lock = threading.Lock()
        self._page_ids = itertools.count(1)

    # -- reads ----------------------------------------------------------------------------------

    def get(self, route: Route) -> JSON:
        """GET one object (or its scale subresource, or its metrics)."""
        if route.group == "metrics.k8s.io":
            return self._metrics_one(route)
        obj = self.store.get(route.resource.name, route.namespace or "", route.name or "")
        if obj is None:
            raise not_found(route, route.name or "")
        if route.subresource == "scale":
            return scale_of(obj)
        return convert(route, obj)

    def list(self, route: Route, query: dict[str, str]) -> JSON:
        """GET a collection, with label/field selectors and limit/continue."""
        labels, fields = query.get("labelSelector", ""), query.get("fieldSelector", "")
        try:
            if route.group == "metrics.k8s.io":
                return self._metrics_list(route, labels)
            token = query.get("continue") or ""
            found = self._paged(token)
            snapshot = (
                found
                if found is not None
                else self.store.list(route.resource.name, route.namespace, labels, fields)
            )
            items, rv = snapshot
        except SelectorError as exc:
            raise ApiError(400, "BadRequest", str(exc)) from exc
        meta: JSON = {"resourceVersion": str(rv)}
        start = int(token.rpartition("-")[2] or 0) if token else 0
        limit = int(query.get("limit") or 0)
        if start or limit:
            end = start + limit if limit else len(items)
            if end < len(items):
                meta["continue"] = f"{self._keep(token, snapshot)}-{end}"
                meta["remainingItemCount"] = len(items) - end
            items = items[start:end]
        if route.group_version == "autoscaling/v1":
            items = [objects.hpa_as_v1(i) for i in items]
        api_version = route.group_version
        return {
            "kind": f"{route.resource.kind}List",
            "apiVersion": api_version,
            "metadata": meta,
            "items": items,
        }

    def _paged(self, token: str) -> tuple[list[JSON], int] | None:
        """The snapshot a continue token ('<snapshot id>-<offset>') pages through, as the API
        server serves every page of a list from the first page's snapshot: the items are not
        listed, sorted and matched again for each page (at 20,000 pods, 40 pages of 500 did
        that 40 times under the store lock). None: list afresh (a bare offset, or a snapshot
        no longer kept)."""
        snapshot_id = token.rpartition("-")[0]
        with self._pages_lock:
            return self._pages.get(snapshot_id) if snapshot_id else None

    def _keep(self, token: str, snapshot: tuple[list[JSON], int]) -> str:
        """The snapshot id for the next page's token (a new one for a first page)."""
        snapshot_id = token.rpartition("-")[0]
        with self._pages_lock:
            if snapshot_id not in self._pages:
                snapshot_id = str(next(self._page_ids))
                self._pages[snapshot_id] = snapshot
                while len(self._pages) > 8:  # a few lists in flight at most
                    self._pages.popitem(last=False)
        return snapshot_id

    def _metrics_list(self, route: Route, labels: str) -> JSON:
        if route.resource.name == "nodes":
            pods = self.store.items("pods")
            items = [self.usage.node_metrics(n, pods) for n in self.store.items("nodes")]
        else:
            items = [
                self.usage.pod_metrics(p)
                for p in self.store.items("pods", route.namespace)
                if p["status"].get("phase") == "Running" and matches_labels(p, labels)
            ]
        return {
            "kind": f"{route.resource.kind}List",
            "apiVersion": route.group_version,
            "metadata": {},
            "items": [i for i in items if matches_labels(i, labels)],
        }

    def _metrics_one(self, route: Route) -> JSON:
        resource = route.resource.name
        obj = self.store.get(resource, route.namespace or "", route.name or "")
        if obj is None or (resource == "pods" and obj["status"].get("phase") != "Running"):
            raise not_found(route, route.name or "")
        if resource == "nodes":
            return self.usage.node_metrics(obj, self.store.items("pods"))
        return self.usage.pod_metrics(obj)

    # -- writes ---------------------------------------------------------------------------------

    def patch(self, route: Route, body: object, content_type: str, dry_run: bool) -> JSON:
        """PATCH an object or the deployment scale subresource."""
        with self.store.lock:
            current = self.store.get(route.resource.name, route.namespace or "", route.name or "")
            if current is None:
                raise not_found(route, route.name or "")
            if route.subresource == "scale":
                scale = self._apply(scale_of(current), body, content_type)
                return self.set_replicas(route, current, scale, dry_run)
            if route.subresource not in (None, "status"):
                raise ApiError(405, "MethodNotAllowed", "the server does not allow this method")
            patched = self._apply(current, body, content_type)
            return self._replace(route, current, patched, dry_run)

    def update(self, route: Route, body: JSON, dry_run: bool) -> JSON:
        """PUT an object or the deployment scale subresource."""
        with self.store.lock:
            current = self.store.get(route.resource.name, route.namespace or "", route.name or "")
            if current is None:
                raise not_found(route, route.name or "")
            sent_rv = member(body, "metadata").get("resourceVersion")
            if sent_rv and sent_rv != current["metadata"]["resourceVersion"]:
                raise ApiError(
                    409,
                    "Conflict",
                    f"Operation cannot be fulfilled on "
                    f'{route.resource.name} "{route.name}": the object has been '
                    f"modified; please apply your changes to the latest version "
                    f"and try again",
                )
            if route.subresource == "scale":
                return self.set_replicas(route, current, body, dry_run)
            return self._replace(route, current, copy.deepcopy(body), dry_run)

    def _apply(self, current: JSON, body: object, content_type: str) -> JSON:
        try:
            return apply_patch(current, body, content_type)
        except PatchError as exc:
            code = 415 if "does not support" in str(exc) else 422
            raise ApiError(
                code, "UnsupportedMediaType" if code == 415 else "Invalid", str(exc)
            ) from exc

    def _replace(self, route: Route, current: JSON, new: JSON, dry_run: bool) -> JSON:
        invalid = invalid_env(new) if route.resource.name == "deployments" else None
        if invalid is not None:
            raise ApiError(422, "Invalid", f'Deployment.apps "{route.name}" is invalid: {invalid}')
        # Identity and status are the server's; a client cannot change them through the object.
        for key in ("name", "namespace", "uid", "creationTimestamp"):
            if key in current["metadata"]:
                new.setdefault("metadata", {})[key] = current["metadata"][key]
        if route.subresource != "status":
            new["status"] = current.get("status", {})
        new["metadata"].pop("resourceVersion", None)
        if new.get("spec") != current.get("spec"):
            new["metadata"]["generation"] = current["metadata"].get("generation", 1) + 1
        if dry_run:
            return {
                **new,
                "metadata": {
                    **new["metadata"],
                    "resourceVersion": current["metadata"]["resourceVersion"],
                },
            }
        stored = self.store.put(route.resource.name, new)
        if route.resource.name == "deployments" and new.get("spec") != current.get("spec"):
            self.controller.deployment_changed(route.namespace or "", route.name or "")
        return stored

    def set_replicas(self, route: Route, current: JSON, scale: JSON, dry_run: bool) -> JSON:
        """Write spec.replicas from a Scale object; answer the new Scale."""
        try:
            replicas = int(scale["spec"]["replicas"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ApiError(422, "Invalid", "Scale.spec.replicas: Required value") from exc
        if replicas < 0:
            raise ApiError(
                422,
                "Invalid",
                f"Scale.spec.replicas: Invalid value: {replicas}: "
                "must be greater than or equal to 0",
            )
        new = copy.deepcopy(current)
        new["spec"]["replicas"] = replicas
        return scale_of(self._replace(route, current, new, dry_run))

    def delete(self, route: Route, dry_run: bool) -> JSON:
        """DELETE a pod (graceful, through the controller) or another object."""
        ns, name = route.namespace or "", route.name or ""
        current = self.store.get(route.resource.name, ns, name)
        if current is None:
            raise not_found(route, name)
        if dry_run:
            return current
        if route.resource.name == "pods":
            return self.controller.terminate_pod(ns, name) or current
        gone = self.store.delete(route.resource.name, ns, name)
        return gone or current

    def access_review(self, body: JSON) -> JSON:
        """POST selfsubjectaccessreviews: answer from the policy."""
        attributes = member(member(body, "spec"), "resourceAttributes")
        allowed = self.policy.allows(
            text(attributes, "verb"),
            text(attributes, "resource"),
            text(attributes, "subresource"),
        )
        status: JSON = {"allowed": allowed}
        if allowed:
            status["reason"] = (
                f'RBAC: allowed by RoleBinding "cockpit-operator" of Role '
                f'"operator" to User "{self.policy.user}"'
            )
        return {
            "kind": "SelfSubjectAccessReview",
            "apiVersion": "authorization.k8s.io/v1",
            "metadata": {"creationTimestamp": None},
            "spec": body.get("spec") or {},
            "status": status,
        }

    def forbidden(self, verb: str, route: Route) -> ApiError | None:
        """The 403 for a request the policy denies, else None."""
        sub = route.subresource or ""
        if self.policy.allows(verb, route.resource.name, sub):
            return None
        target = route.resource.name + (f"/{sub}" if sub else "")
        qualified = route.resource.name + (f".{route.group}" if route.group else "")
        where = f' in the namespace "{route.namespace}"' if route.namespace else ""
        name = f' "{route.name}"' if route.name else ""
        return ApiError(
            403,
            "Forbidden",
            f'{qualified}{name} is forbidden: User "{self.policy.user}" cannot {verb} resource '
            f'"{target}" in API group "{route.group}"{where}',
            {"name": route.name or "", "group": route.group, "kind": route.resource.name},
        )


def invalid_env(dep: JSON) -> str | None:
    """The API server's complaint about a pod template env entry with both `value` and
    `valueFrom` (a merge that forgot to drop one), or None."""
    template = member(member(dep, "spec"), "template")
    for i, container in enumerate(members(member(template, "spec"), "containers")):
        for j, env in enumerate(members(container, "env")):
            if env.get("value") and env.get("valueFrom"):
                return (
                    f"spec.template.spec.containers[{i}].env[{j}].valueFrom: Invalid value: "
                    '"": may not be specified when `value` is not empty'
                )
    return None


def scale_of(dep: JSON) -> JSON:
    """The autoscaling/v1 Scale view of a deployment."""
    meta = dep["metadata"]
    labels = member(dep["spec"]["selector"], "matchLabels")
    return {
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            k: meta[k]
            for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
            if k in meta
        },
        "spec": {"replicas": dep["spec"].get("replicas", 1)},
        "status": {
            "replicas": member(dep, "status").get("replicas", 0),
            "selector": ",".join(f"{k}={v}" for k, v in sorted(labels.items())),
        },
    }


def convert(route: Route, obj: JSON) -> JSON:
    """Serve a stored object in the requested group version (HPA v2 -> v1)."""
    if route.group_version == "autoscaling/v1" and obj.get("kind") == "HorizontalPodAutoscaler":
        return objects.hpa_as_v1(obj)
    return obj


def matches(obj: JSON, query: dict[str, str]) -> bool:
    """Whether an object matches a request's label and field selectors."""
    return matches_labels(obj, query.get("labelSelector", "")) and matches_fields(
        obj, query.get("fieldSelector", "")
    )


def dumps(body: JSON) -> bytes:
    """Serialise a response body once (compact, as the API server does)."""
    return json.dumps(body, separators=(",", ":")).encode()


__all__ = ["AccessPolicy", "ApiError", "Operations", "Route", "now_rfc3339"]
