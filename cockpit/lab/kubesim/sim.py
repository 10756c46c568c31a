"""A Kubernetes API server simulator on loopback, for `cockpit demo` and the tests.

It speaks the subset of the REST API the cockpit uses, in the real JSON shapes, to the official
`kubernetes` client and to `kubectl`: discovery, namespaces, nodes, pods, deployments (with the
`scale` subresource), replica sets, core/v1 events, HPAs (autoscaling/v2 and v1), metrics.k8s.io
PodMetrics/NodeMetrics, SelfSubjectAccessReview, and each node's kubelet `/stats/summary` through
the node proxy (`/api/v1/nodes/{node}/proxy/...`, kubesim/nodeproxy.py). Lists take label
selectors (`=`, `!=`, `in`, `notin`, exists) and field selectors (`involvedObject.name=...`);
`?watch=1` streams chunked ADDED/MODIFIED/DELETED/BOOKMARK/ERROR events from one global
resourceVersion, with a bounded history: an older version gets an ERROR event with a 410 Gone
Status (reason Expired).

Usage::

    with KubeSim(replicas=3, delay=0.1) as sim:
        sim.write_kubeconfig(path, context="lab")          # then kubectl / new_client_from_config
        sim.scale_to(5)                                    # instant setup, no delay
        sim.oom_crashloop("predictiq-api")                 # -> the affected pod's name
        sim.counts("list", "pods")                         # requests seen, by verb and resource

Constructor: ``KubeSim(namespace="predictiq", deployment="predictiq-api", replicas=3,
labels=None (-> {"app": deployment}), image=..., nodes=3, delay=1.0, host="127.0.0.1", port=0,
token="lab-token", bookmark_interval=5.0, watch_timeout=1800.0, history_limit=20000,
hpa=(2, 10) (min, max; None for no HPA), seed=None, cluster_name="kubesim", env=None (the
container's environment: [{"name": ..., "value": ...} | {"name": ..., "valueFrom": ...}]))``.
A rollout makes a new ReplicaSet with the next ``deployment.kubernetes.io/revision`` and keeps
the old ones (scaled to 0); a template equal to an old one's (a rollback) promotes that
ReplicaSet to the next revision, as the deployment controller does. A pod template env entry with
both ``value`` and ``valueFrom`` is refused with 422, as the API server does.
``delay`` is the controller's step: a spec change acts one step later, a new pod is Pending for
one step, a deleted pod is Terminating for one step; a rollout replaces pods one by one.

Lifecycle: ``start()``, ``stop()`` (cuts every connection, joins threads; state is kept, and
``start()`` again serves it on the same port), context manager, ``url``, ``port``,
``write_kubeconfig(path, context="lab", namespace=None, user="lab-user")``.

Inspection: ``request_counts`` (Counter of (verb, resource)), ``counts(verb, resource)``,
``mutating_requests`` (list of MutatingRequest; SelfSubjectAccessReviews are not mutating),
``reset_counts()``, ``pods(deployment=None)``, ``deployment(name=None)``,
``get(resource, namespace, name)``, ``resource_version``, ``open_watches``,
``wait_for(predicate, timeout)``. Verbs: list, watch, get, create, update, patch, delete;
resources: "pods", "deployments", "deployments/scale", "events", "nodes", "replicasets",
"horizontalpodautoscalers", "namespaces", "selfsubjectaccessreviews", "pods.metrics.k8s.io",
"nodes.metrics.k8s.io", and "discovery" for /api, /apis, /version.

Setup: ``scale_to(n, deployment=None)`` and ``add_pods(count, deployment=None)`` (instant, Running
pods), ``add_deployment(name, replicas, labels=None, hpa=None)``, ``deny(verb, resource,
subresource="")`` / ``allow(...)`` for the RBAC policy (also enforced as 403 on real requests).

Faults (each has a ``clear_*``; ``clear_faults()`` clears them all): ``oom_crashloop(target)``,
``memory_hungry(deployment=None, need=None)`` (pods started with a lower memory limit than the
need, default a quarter over the template's limit, are OOM-killed over and over),
``cpu_spike(target, fraction=1.05)``, ``memory_near_limit(target, fraction=0.97)``,
``image_pull_backoff(target)``, ``evict(target)``, ``pending_pods(count=1, deployment=None,
message=...)``, ``disk_pressure(node=None)``, ``memory_pressure(node=None)``,
``api_errors(rate=1.0)``, ``slow_responses(seconds)``, ``fill_volume(target, fraction=0.9,
volume="data")`` (a pod's volume as the kubelet summary reports it), ``kubelet_down(node)`` /
``kubelet_slow(node, seconds)`` (the node proxy to that node's kubelet; cleared together by
``clear_kubelet_faults()``), ``metrics_unavailable()`` (metrics.k8s.io
answers 503 ServiceUnavailable, as without metrics-server), ``silent_watches()``,
``pause(deployment)`` / ``resume(deployment)``; one-shot: ``drop_watches()``,
``expire_resource_versions()`` (compacts history; only a watch that is *behind* the latest
version gets 410 Gone, an up-to-date one carries on, as on a real server).
A ``target`` is a pod name or a deployment name (meaning its first running pod); the pod-level
faults return the affected pod's name.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from cockpit.lab.kubesim import objects
from cockpit.lab.kubesim.api import AccessPolicy, Operations
from cockpit.lab.kubesim.controller import Controller
from cockpit.lab.kubesim.disk import DiskFaultsMixin, DiskModel
from cockpit.lab.kubesim.faults import FaultsMixin
from cockpit.lab.kubesim.http import Faults, KubeSimServer, MutatingRequest, RequestLog
from cockpit.lab.kubesim.jsontypes import JSON, first
from cockpit.lab.kubesim.logs import PodLogs, fault_lines
from cockpit.lab.kubesim.metrics import UsageModel
from cockpit.lab.kubesim.store import ObjectStore
from cockpit.lab.kubesim.watch import WatchRegistry

DEFAULT_IMAGE = "registry.predictiq.example/predictiq/api:1.14.2"


class KubeSim(FaultsMixin, DiskFaultsMixin):
    """A simulated Kubernetes API server with one (or more) deployments. See the module doc."""

    def __init__(
        self,
        namespace: str = "predictiq",
        deployment: str = "predictiq-api",
        replicas: int = 3,
        labels: dict[str, str] | None = None,
        image: str = DEFAULT_IMAGE,
        nodes: int = 3,
        delay: float = 1.0,
        host: str = "127.0.0.1",
        port: int = 0,
        token: str | None = "lab-token",
        bookmark_interval: float = 5.0,
        watch_timeout: float = 1800.0,
        history_limit: int = 20_000,
        hpa: tuple[int, int] | None = (2, 10),
        seed: int | None = None,
        cluster_name: str = "kubesim",
        env: list[JSON] | None = None,
    ) -> None:
        self.namespace = namespace
        self.default_deployment = deployment
        self.image = image
        self.host, self.port = host, port
        self.token = token
        self.bookmark_interval = bookmark_interval
        self.watch_timeout = watch_timeout
        self.cluster_name = cluster_name
        self.store = ObjectStore(history_limit)
        node_names = [f"kubesim-worker-{i + 1}" for i in range(nodes)]
        self.controller = Controller(self.store, node_names, delay)
        self.usage = UsageModel(seed)
        self.disk = DiskModel(seed)  # the kubelets' /stats/summary (kubesim/disk.py)
        self.policy = AccessPolicy()
        self.operations = Operations(self.store, self.controller, self.usage, self.policy)
        self.requests = RequestLog()
        self.faults = Faults()
        self.watches = WatchRegistry(self.store)
        self.logs = PodLogs(self)  # pods' container logs and the log route's follow streams
        self.logs.tick_faults = lambda: fault_lines(self)
        self.stopping = threading.Event()
        self._server: KubeSimServer | None = None
        self._serve_thread: threading.Thread | None = None
        for name in ("default", "kube-system", namespace):
            if self.store.get("namespaces", "", name) is None:
                self.store.put("namespaces", objects.namespace(name))
        for index, name in enumerate(node_names):
            self.store.put("nodes", objects.node(name, index))
        self.add_deployment(deployment, replicas, labels, hpa, env)

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> KubeSim:
        """Serve on host:port (a free port the first time if port=0, the same one after)."""
        if self._server is not None:
            return self
        self.stopping.clear()
        self._server = KubeSimServer((self.host, self.port), self)
        self.port = self._server.server_address[1]
        self._serve_thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"kubesim-http-{self.port}",
            daemon=True,
        )
        self._serve_thread.start()
        self.controller.start()
        return self

    def stop(self) -> None:
        """Stop serving: cut watches and kept-alive connections, join threads. State is kept."""
        if self._server is None:
            return
        self.stopping.set()
        self._server.shutdown()
        self.watches.drop_all()
        self._server.cut_all_connections()
        self._server.server_close()
        if self._serve_thread:
            self._serve_thread.join(timeout=5)
        self.controller.stop()
        self._server = None
        self._serve_thread = None

    def __enter__(self) -> KubeSim:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """The API server URL (http://127.0.0.1:PORT)."""
        return f"http://{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        """Whether the server is accepting connections."""
        return self._server is not None

    def write_kubeconfig(
        self,
        path: str | Path,
        context: str = "lab",
        namespace: str | None = None,
        user: str = "lab-user",
    ) -> Path:
        """Write a kubeconfig (cluster, token user, one context, current) for kubectl and the
        client."""
        path = Path(path)
        ns = namespace or self.namespace
        token_line = f"    token: {self.token}\n" if self.token else "    {}\n"
        path.write_text(
            "apiVersion: v1\n"
            "kind: Config\n"
            "clusters:\n"
            f"- name: {self.cluster_name}\n"
            "  cluster:\n"
            f"    server: {self.url}\n"
            "users:\n"
            f"- name: {user}\n"
            "  user:\n"
            f"{token_line}"
            "contexts:\n"
            f"- name: {context}\n"
            "  context:\n"
            f"    cluster: {self.cluster_name}\n"
            f"    user: {user}\n"
            f"    namespace: {ns}\n"
            f"current-context: {context}\n"
        )
        return path

    # -- inspection -----------------------------------------------------------------------------

    @property
    def request_counts(self) -> Counter[tuple[str, str]]:
        """A copy of the request counters, keyed by (verb, resource)."""
        with self.requests.lock:
            return Counter(self.requests.counts)

    def counts(self, verb: str, resource: str) -> int:
        """How many `verb` requests on `resource` the server has seen."""
        with self.requests.lock:
            return self.requests.counts[(verb, resource)]

    @property
    def mutating_requests(self) -> list[MutatingRequest]:
        """Every create/update/patch/delete received (access reviews excluded)."""
        with self.requests.lock:
            return list(self.requests.mutating)

    def reset_counts(self) -> None:
        """Forget counted and logged requests."""
        with self.requests.lock:
            self.requests.counts.clear()
            self.requests.mutating.clear()

    @property
    def resource_version(self) -> int:
        """The latest resourceVersion."""
        return self.store.resource_version

    @property
    def open_watches(self) -> int:
        """How many watch connections are open."""
        with self.watches.lock:
            return len(self.watches.sessions)

    def get(self, resource: str, namespace: str, name: str) -> JSON | None:
        """A stored object (do not mutate it)."""
        return self.store.get(resource, namespace, name)

    def deployment(self, name: str | None = None) -> JSON:
        """The stored deployment (the default one if no name)."""
        dep = self.store.get("deployments", self.namespace, name or self.default_deployment)
        if dep is None:
            raise KeyError(name)
        return dep

    def pods(self, deployment: str | None = None, include_terminating: bool = False) -> list[JSON]:
        """Pods of a deployment (the default one if no name), sorted by name."""
        dep = self.deployment(deployment)
        with self.store.lock:
            _, owned = self.controller.owned_pods(dep)
            if include_terminating:
                sets, _ = self.controller.owned_pods(dep)
                names = {rs["metadata"]["name"] for rs in sets}
                owned = [
                    p
                    for p in self.store.items("pods", self.namespace)
                    if first(p["metadata"], "ownerReferences").get("name") in names
                ]
        return owned

    def wait_for(self, predicate: Callable[[], object], timeout: float = 5.0) -> bool:
        """Poll `predicate` until it is truthy or `timeout` passes; returns whether it held."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return True
            time.sleep(0.01)
        return bool(predicate())

    # -- setup ----------------------------------------------------------------------------------

    def add_deployment(
        self,
        name: str,
        replicas: int = 3,
        labels: dict[str, str] | None = None,
        hpa: tuple[int, int] | None = None,
        env: list[JSON] | None = None,
    ) -> JSON:
        """Create a deployment with `replicas` Running pods (instantly), optionally an HPA, and
        `env` as its container's environment."""
        labels = labels or {"app": name}
        dep = self.store.put(
            "deployments",
            objects.deployment(name, self.namespace, replicas, labels, self.image, env),
        )
        if hpa is not None:
            self.store.put("horizontalpodautoscalers", objects.hpa(dep, *hpa))
        self.controller.reconcile(self.namespace, name, instant=True)
        return self.deployment(name)

    def scale_to(self, replicas: int, deployment: str | None = None) -> None:
        """Set spec.replicas and create/delete pods at once (setup, not a scenario)."""
        name = deployment or self.default_deployment
        self.store.update(
            "deployments",
            self.namespace,
            name,
            lambda d: d["spec"].__setitem__("replicas", replicas),
        )
        self.controller.reconcile(self.namespace, name, instant=True)

    def add_pods(self, count: int, deployment: str | None = None) -> None:
        """Add `count` Running pods to a deployment at once (bulk setup for big tests)."""
        name = deployment or self.default_deployment
        self.scale_to(self.deployment(name)["spec"]["replicas"] + count, name)

    def clear_faults(self) -> None:
        """Clear every injected fault, the disk ones too."""
        super().clear_faults()
        self.clear_volume_fill()
        self.clear_kubelet_faults()

    def deny(self, verb: str, resource: str, subresource: str = "") -> None:
        """Make RBAC deny `verb` on `resource[/subresource]` ("*" matches any)."""
        self.policy.denied.add((verb, resource, subresource))

    def allow(self, verb: str, resource: str, subresource: str = "") -> None:
        """Undo a `deny`."""
        self.policy.denied.discard((verb, resource, subresource))
