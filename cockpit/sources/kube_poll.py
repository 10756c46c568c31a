"""What has no watch, or changes too rarely to hold a connection for: polled in one thread.

- metrics.k8s.io PodMetrics every `metrics_interval` (raw JSON; unavailable -> metrics_error);
- the nodes running the pods, on the same cadence (a GET each for a few, one list for many);
- the HPA targeting the deployment (autoscaling/v2, falling back to v1), on a slower cadence;
- SelfSubjectAccessReviews for the cockpit's action verbs, at start and every few minutes.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from cockpit.sources import kube_parse as parse
from cockpit.sources.kube_cache import KubeCache
from cockpit.sources.kube_watch import error_text

DEFAULT_ACTION_VERBS: dict[str, tuple] = {
    "scale": ("patch", "apps", "deployments", "scale"),
    "restart": ("patch", "apps", "deployments", ""),
}
NODES_BY_GET = 10  # up to this many nodes: one GET each; more: one list, filtered here


def _raw(resp: Any) -> dict:
    try:
        return json.loads(resp.data)
    finally:
        resp.release_conn()


class Poller:
    """Runs the periodic reads in a daemon thread until stopped; each task fails on its own."""

    def __init__(self, api_client: Any, cache: KubeCache, namespace: str, deployment: str,
                 selector: str, timeout: float, metrics_interval: float,
                 action_verbs: dict[str, tuple], permissions_interval: float = 300.0) -> None:
        self.cache, self.namespace, self.deployment, self.selector = cache, namespace, deployment, selector
        self.timeout = timeout
        self.core = client.CoreV1Api(api_client)
        self.custom = client.CustomObjectsApi(api_client)
        self.autoscaling_v2 = client.AutoscalingV2Api(api_client)
        self.autoscaling_v1 = client.AutoscalingV1Api(api_client)
        self.authz = client.AuthorizationV1Api(api_client)
        self.action_verbs = action_verbs
        self.errors: dict[str, str] = {}
        slow = max(5 * metrics_interval, 15.0)
        # (name, interval, function); all run once at start.
        self.tasks: list[tuple[str, float, Callable[[], None]]] = [
            ("permissions", permissions_interval, self.poll_permissions),
            ("metrics", metrics_interval, self.poll_metrics),
            ("nodes", metrics_interval, self.poll_nodes),
            ("hpa", slow, self.poll_hpa),
        ]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="kube-poll", daemon=True)

    def start(self) -> None:
        """Start the thread."""
        self._thread.start()

    def stop(self) -> None:
        """End the loop after the current request (each has a timeout)."""
        self._stop.set()

    def join(self, timeout: float) -> bool:
        """Wait for the thread; True if it ended."""
        if self._thread.is_alive():
            self._thread.join(timeout)
        return not self._thread.is_alive()

    def _run(self) -> None:
        due = {name: 0.0 for name, _, _ in self.tasks}
        while not self._stop.is_set():
            now = time.monotonic()
            for name, interval, task in self.tasks:
                if self._stop.is_set():
                    return
                if due[name] <= now:
                    try:
                        task()
                        self.errors.pop(name, None)
                    except Exception as exc:  # noqa: BLE001 - one failing read must not stop the others
                        self.errors[name] = error_text(exc)
                    due[name] = time.monotonic() + interval
            self._stop.wait(max(min(due.values()) - time.monotonic(), 0.05))

    # -- tasks ------------------------------------------------------------------------------------

    def poll_metrics(self) -> None:
        """PodMetrics of the selected pods; any failure is metrics_error, not a source failure."""
        try:
            body = _raw(self.custom.list_namespaced_custom_object(
                "metrics.k8s.io", "v1beta1", self.namespace, "pods", label_selector=self.selector,
                _preload_content=False, _request_timeout=self.timeout))
        except ApiException as exc:
            why = "metrics.k8s.io not available (is metrics-server installed?)" if exc.status == 404 \
                else error_text(exc)
            self.cache.set_usage(None, why)
            return
        except Exception as exc:  # noqa: BLE001 - reported in the snapshot
            self.cache.set_usage(None, error_text(exc))
            raise
        self.cache.set_usage(parse.parse_pod_metrics(body.get("items") or []), None)

    def poll_nodes(self) -> None:
        """Conditions of the nodes running the pods."""
        wanted = self.cache.pod_nodes()
        if len(wanted) <= NODES_BY_GET:
            nodes = [parse.parse_node(_raw(self.core.read_node(
                name, _preload_content=False, _request_timeout=self.timeout))) for name in sorted(wanted)]
        else:
            body = _raw(self.core.list_node(_preload_content=False, _request_timeout=self.timeout))
            nodes = [parse.parse_node(n) for n in body.get("items") or []
                     if (n.get("metadata") or {}).get("name") in wanted]
        self.cache.set_nodes(tuple(nodes))

    def poll_hpa(self) -> None:
        """The HPA scaling the deployment: autoscaling/v2, or v1 on clusters without v2."""
        try:
            body = _raw(self.autoscaling_v2.list_namespaced_horizontal_pod_autoscaler(
                self.namespace, _preload_content=False, _request_timeout=self.timeout))
        except ApiException as exc:
            if exc.status != 404:
                raise
            body = _raw(self.autoscaling_v1.list_namespaced_horizontal_pod_autoscaler(
                self.namespace, _preload_content=False, _request_timeout=self.timeout))
        self.cache.set_hpa(parse.hpa_for(body.get("items") or [], self.deployment))

    def poll_permissions(self) -> None:
        """One SelfSubjectAccessReview per action verb, on the deployment."""
        allowed: dict[str, bool] = {}
        reasons: dict[str, str] = {}
        for action, (verb, group, resource, subresource) in self.action_verbs.items():
            attrs = {"namespace": self.namespace, "verb": verb, "group": group,
                     "resource": resource, "name": self.deployment}
            if subresource:
                attrs["subresource"] = subresource
            review = {"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
                      "spec": {"resourceAttributes": attrs}}
            status = _raw(self.authz.create_self_subject_access_review(
                review, _preload_content=False, _request_timeout=self.timeout)).get("status") or {}
            allowed[action] = bool(status.get("allowed")) and not status.get("denied")
            reason = status.get("reason") or status.get("evaluationError") or ""
            if not allowed[action] and not reason:
                target = f"{resource}/{subresource}" if subresource else resource
                reason = f"cannot {verb} {target} in {self.namespace}"
            if reason:
                reasons[action] = reason
        self.cache.set_permissions(allowed, reasons)
