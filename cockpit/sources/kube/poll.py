"""What cannot be watched: polled in one thread, each read on its own cadence.

- metrics.k8s.io PodMetrics every `metrics_interval` (refresh.metrics_seconds, 10 s by default:
  metrics-server serves no watch, and CPU% moves slowly; raw JSON; unavailable -> metrics_error);
- SelfSubjectAccessReviews for the cockpit's action verbs, at start and every few minutes.

Nodes and the HPA are watched (kube/watch.py), not polled: in steady state the only list the source
sends is the metrics one.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from urllib.parse import quote

from kubernetes.client.exceptions import ApiException

from cockpit.sources.fields import Json, boolean, items, mapping, text
from cockpit.sources.kube import parse
from cockpit.sources.kube.cache import KubeCache
from cockpit.sources.kube.http import RawApi
from cockpit.sources.kube.watch import error_text, http_status

ActionVerb = tuple[str, str, str, str]  # (verb, API group, resource, subresource)
_PATCH_DEPLOYMENT: ActionVerb = ("patch", "apps", "deployments", "")
_PATCH_SCALE: ActionVerb = ("patch", "apps", "deployments", "scale")
DEFAULT_ACTION_VERBS: dict[str, ActionVerb] = {
    "scale": _PATCH_SCALE,
    "restart": _PATCH_DEPLOYMENT,
    "set_env": _PATCH_DEPLOYMENT,
    "resources": _PATCH_DEPLOYMENT,
    "rollback": _PATCH_DEPLOYMENT,
    "contain": _PATCH_SCALE,
    "pause_rollout": _PATCH_DEPLOYMENT,
    "resume_rollout": _PATCH_DEPLOYMENT,
}
# How a missing metrics pipeline answers: no such group (404), or an APIService whose backend
# (metrics-server) is down or absent (503 ServiceUnavailable).
_METRICS_MISSING = {
    404: "metrics.k8s.io not available (is metrics-server installed?)",
    503: "metrics.k8s.io unavailable: HTTP 503 (is metrics-server running?)",
}


class BackgroundLoop:
    """A polling loop in its own daemon thread (the metrics and access reviews, the kubelet
    summaries): `start`, `stop` (the loop ends after its current request, each of which has a
    timeout) and `join`. `first_round` is set by the loop once its first round has ended."""

    def __init__(self, name: str) -> None:
        self._stop = threading.Event()
        self.first_round = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def _run(self) -> None:
        raise NotImplementedError

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


class Poller(BackgroundLoop):
    """Runs the periodic reads in a daemon thread until stopped; each task fails on its own."""

    def __init__(
        self,
        raw: RawApi,
        cache: KubeCache,
        namespace: str,
        deployment: str,
        selector: str,
        timeout: float,
        metrics_interval: float,
        action_verbs: dict[str, ActionVerb],
        permissions_interval: float = 300.0,
    ) -> None:
        self.cache, self.namespace, self.deployment, self.selector = (
            cache,
            namespace,
            deployment,
            selector,
        )
        self.timeout = timeout
        self.raw = raw
        self.action_verbs = action_verbs
        self.errors: dict[str, str] = {}
        # (name, interval, function); all run once at start.
        self.tasks: list[tuple[str, float, Callable[[], None]]] = [
            ("permissions", permissions_interval, self.poll_permissions),
            ("metrics", metrics_interval, self.poll_metrics),
        ]
        # first_round is set once every task has run once (answered or failed): the first
        # collect waits for it, so a one-shot snapshot has usage and permissions.
        super().__init__("kube-poll")

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
                    except Exception as exc:  # one failing read must not stop the others
                        self.errors[name] = error_text(exc)
                    due[name] = time.monotonic() + interval
            self.first_round.set()
            self._stop.wait(max(min(due.values()) - time.monotonic(), 0.05))

    # -- tasks ------------------------------------------------------------------------------------

    def poll_metrics(self) -> None:
        """PodMetrics of the selected pods; any failure is metrics_error, not a source failure."""
        try:
            body = self.raw.get_json(
                f"/apis/metrics.k8s.io/v1beta1/namespaces/{quote(self.namespace, safe='')}/pods",
                [("labelSelector", self.selector)] if self.selector else [],
                self.timeout,
            )
        except ApiException as exc:
            status = http_status(exc)
            missing = _METRICS_MISSING.get(status) if status is not None else None
            self.cache.set_usage(None, missing or error_text(exc))
            return
        except Exception as exc:  # reported in the snapshot
            self.cache.set_usage(None, error_text(exc))
            raise
        self.cache.set_usage(parse.parse_pod_metrics(items(body, "items")), None)

    def poll_permissions(self) -> None:
        """One SelfSubjectAccessReview per distinct verb and resource, on the deployment (the
        actions that patch the deployment share one answer)."""
        allowed: dict[str, bool] = {}
        reasons: dict[str, str] = {}
        answered: dict[ActionVerb, tuple[bool, str]] = {}  # verb and resource -> (allowed, why)
        for action, asked in self.action_verbs.items():
            if asked in answered:
                allowed[action], why = answered[asked]
                if why:
                    reasons[action] = why
                continue
            verb, group, resource, subresource = asked
            attrs: dict[str, str] = {
                "namespace": self.namespace,
                "verb": verb,
                "group": group,
                "resource": resource,
                "name": self.deployment,
            }
            if subresource:
                attrs["subresource"] = subresource
            review: Json = {
                "apiVersion": "authorization.k8s.io/v1",
                "kind": "SelfSubjectAccessReview",
                "spec": {"resourceAttributes": attrs},
            }
            status = mapping(
                self.raw.post_json(
                    "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", review, self.timeout
                ),
                "status",
            )
            allowed[action] = boolean(status, "allowed") and not boolean(status, "denied")
            reason = text(status, "reason") or text(status, "evaluationError")
            if not allowed[action] and not reason:
                target = f"{resource}/{subresource}" if subresource else resource
                reason = f"cannot {verb} {target} in {self.namespace}"
            if reason:
                reasons[action] = reason
            answered[asked] = (allowed[action], reason)
        self.cache.set_permissions(allowed, reasons)
