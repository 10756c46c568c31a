"""The simulator's controllers: deployment -> replica sets -> pods, the scheduler and the kubelet.

One thread runs timed actions from a heap (reconcile a deployment, start a pod, finish a pod's
termination, crash an OOM-looping pod again), sleeping on a Condition until the next one is due.
A rollout follows maxSurge=1/maxUnavailable=0: one new pod, wait until it is ready, remove one
old pod, repeat. A paused deployment scales but does not roll.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections.abc import Callable

from cockpit.lab.kubesim import objects, pods
from cockpit.lab.kubesim.jsontypes import JSON, member, members
from cockpit.lab.kubesim.status import deployment_status, hpa_status, replicaset_status
from cockpit.lab.kubesim.store import ObjectStore, now_rfc3339

Key = tuple[str, str]


def _owner_name(obj: JSON) -> str | None:
    refs = members(obj["metadata"], "ownerReferences")
    return refs[0]["name"] if refs else None


class Controller:
    """Drives pods toward each deployment's spec, with `delay` seconds per step."""

    def __init__(self, store: ObjectStore, node_names: list[str], delay: float) -> None:
        self.store = store
        self.delay = delay
        self.node_names = node_names
        self.unschedulable: dict[Key, str] = {}  # deployment -> scheduler message
        self.crashlooping: set[Key] = set()  # pods being OOM-killed over and over
        # deployment -> the memory (bytes) its container needs: a pod started with a lower
        # limit is OOM-killed over and over (the OOM drill); one with enough runs
        self.memory_needs: dict[Key, int] = {}
        self._backoff_events: dict[Key, Key] = {}  # pod -> its BackOff event
        self._last_progress: dict[Key, float] = {}
        self._pending: set[tuple[str, Key]] = set()  # coalesced timers, see `once`
        self._timers: list[tuple[float, int, Callable[..., None], tuple[object, ...]]] = []
        self._seq = itertools.count()
        self._placement = itertools.count()
        self._ips = itertools.count(2)
        self._cv = threading.Condition()
        self._thread: threading.Thread | None = None
        self._stopping = False

    # -- timer thread ---------------------------------------------------------------------------

    def start(self) -> None:
        """Start the timer thread (idempotent)."""
        if self._thread and self._thread.is_alive():
            return
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="kubesim-controller", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop and join the timer thread; pending timers stay queued for the next start."""
        with self._cv:
            self._stopping = True
            self._cv.notify_all()
        if self._thread:
            self._thread.join(timeout=5)
        self._thread = None

    def after(self, seconds: float, action: Callable[..., None], *args: object) -> None:
        """Run `action(*args)` on the controller thread in `seconds`."""
        with self._cv:
            heapq.heappush(
                self._timers, (time.monotonic() + seconds, next(self._seq), action, args)
            )
            self._cv.notify_all()

    def _run(self) -> None:
        while True:
            with self._cv:
                while not self._stopping:
                    now = time.monotonic()
                    if self._timers and self._timers[0][0] <= now:
                        break
                    wait = self._timers[0][0] - now if self._timers else None
                    self._cv.wait(timeout=wait)
                if self._stopping:
                    return
                _, _, action, args = heapq.heappop(self._timers)
            action(*args)

    # -- deployments ----------------------------------------------------------------------------

    def deployment_changed(self, ns: str, name: str) -> None:
        """A deployment's spec changed: reconcile it one step later."""
        self._last_progress[(ns, name)] = time.monotonic()
        self.once("reconcile", (ns, name), self.delay, self.reconcile)

    def owned_pods(self, dep: JSON) -> tuple[list[JSON], list[JSON]]:
        """(replica sets, active pods) that belong to a deployment."""
        ns, uid = dep["metadata"]["namespace"], dep["metadata"]["uid"]
        sets = [
            rs
            for rs in self.store.items("replicasets", ns)
            if any(ref["uid"] == uid for ref in members(rs["metadata"], "ownerReferences"))
        ]
        names = {rs["metadata"]["name"] for rs in sets}
        owned = [
            p for p in self.store.items("pods", ns) if _owner_name(p) in names and pods.is_active(p)
        ]
        return sets, owned

    def current_replicaset(self, dep: JSON, sets: list[JSON]) -> JSON:
        """The replica set for the deployment's template, created if the rollout just began."""
        pod_hash = objects.template_hash(dep["spec"]["template"])
        for rs in sets:
            if rs["metadata"]["labels"].get("pod-template-hash") == pod_hash:
                return self._promote(dep, rs, sets)
        if dep["spec"].get("paused") and sets:
            return max(sets, key=_revision)
        revision = max((_revision(rs) for rs in sets), default=0) + 1
        rs = self.store.put("replicasets", objects.replicaset(dep, pod_hash, revision))
        self.store.update(
            "deployments",
            dep["metadata"]["namespace"],
            dep["metadata"]["name"],
            lambda d: d["metadata"]["annotations"].update(
                {"deployment.kubernetes.io/revision": str(revision)}
            ),
        )
        return rs

    def _promote(self, dep: JSON, rs: JSON, sets: list[JSON]) -> JSON:
        """An older replica set whose template the deployment has again (a rollback) takes the
        next revision, as the deployment controller does; the deployment's annotation follows."""
        top = max((_revision(s) for s in sets), default=0)
        if _revision(rs) >= top or dep["spec"].get("paused"):
            return rs
        revision = str(top + 1)
        meta = rs["metadata"]
        promoted = self.store.update(
            "replicasets",
            meta["namespace"],
            meta["name"],
            lambda r: r["metadata"]["annotations"].update(
                {"deployment.kubernetes.io/revision": revision}
            ),
        )
        self.store.update(
            "deployments",
            dep["metadata"]["namespace"],
            dep["metadata"]["name"],
            lambda d: (
                d["metadata"]
                .setdefault("annotations", {})
                .update({"deployment.kubernetes.io/revision": revision})
            ),
        )
        return promoted or rs

    def reconcile(self, ns: str, name: str, instant: bool = False) -> None:
        """One controller step for a deployment; `instant` creates Running pods, deletes at once."""
        with self.store.lock:
            dep = self.store.get("deployments", ns, name)
            if dep is None:
                return
            sets, owned = self.owned_pods(dep)
            new_rs = self.current_replicaset(dep, sets)
            new_name = new_rs["metadata"]["name"]
            new_pods = [p for p in owned if _owner_name(p) == new_name]
            old_pods = [p for p in owned if _owner_name(p) != new_name]
            desired = dep["spec"].get("replicas", 1)
            rolling = bool(old_pods) and not dep["spec"].get("paused")
            again = False
            if rolling and not instant:
                if all(pods.is_ready(p) for p in new_pods):
                    if len(new_pods) < desired and len(owned) <= desired:
                        self._create_pods(dep, new_rs, 1, instant)
                    else:
                        self._remove_pods(_deletion_order(old_pods)[:1], instant)
                        again = True
            elif rolling:
                self._remove_pods(old_pods, instant)
                self._create_pods(dep, new_rs, desired - len(new_pods), instant)
            elif len(owned) < desired:
                self._create_pods(dep, new_rs, desired - len(owned), instant)
            elif len(owned) > desired:
                self._remove_pods(_deletion_order(owned)[: len(owned) - desired], instant)
            self.refresh_status(ns, name)
        if again:
            self.once("reconcile", (ns, name), self.delay, self.reconcile)

    def refresh_status(self, ns: str, name: str) -> None:
        """Recompute replica set, deployment and HPA status from the pods (write only if
        changed)."""
        with self.store.lock:
            dep = self.store.get("deployments", ns, name)
            if dep is None:
                return
            sets, owned = self.owned_pods(dep)
            current = self.current_replicaset(dep, sets)
            for rs in sets:
                rs_pods = [p for p in owned if _owner_name(p) == rs["metadata"]["name"]]
                self._write_if_changed("replicasets", rs, replicaset_status(rs, rs_pods))
            since = time.monotonic() - self._last_progress.get((ns, name), time.monotonic())
            status = deployment_status(dep, current, owned, since)
            self._write_if_changed("deployments", dep, status)
            hpa = self.store.get("horizontalpodautoscalers", ns, name)
            if hpa is not None:
                self._write_if_changed("horizontalpodautoscalers", hpa, hpa_status(hpa, dep, owned))
            deadline = dep["spec"].get("progressDeadlineSeconds", 600)
        if status["conditions"][-1]["reason"] == "ReplicaSetUpdated":
            # Look again once the progress deadline has passed, to report it stuck.
            self.once("deadline", (ns, name), max(deadline - since, 0) + 0.05, self.refresh_status)

    def _write_if_changed(self, resource: str, obj: JSON, status: JSON) -> None:
        if obj.get("status") != status:
            meta = obj["metadata"]
            self.store.update(
                resource, meta["namespace"], meta["name"], lambda o: o.__setitem__("status", status)
            )

    # -- pods -----------------------------------------------------------------------------------

    def _create_pods(self, dep: JSON, rs: JSON, count: int, instant: bool) -> None:
        key = (dep["metadata"]["namespace"], dep["metadata"]["name"])
        created: list[JSON] = []
        taken: set[str] = set()
        for _ in range(max(count, 0)):
            if key in self.unschedulable:
                pod = objects.pod(rs, None)
                pods.mark_unschedulable(pod, self.unschedulable[key])
            else:
                node = self.node_names[next(self._placement) % len(self.node_names)]
                pod = objects.pod(rs, node)
                pods.mark_container_creating(pod, self._host_ip(node))
                if instant:
                    pods.mark_running(pod, self._pod_ip())
            # Generated names can collide (5 characters, thousands of pods): draw again, as the
            # API server's generateName retry does.
            while pod["metadata"]["name"] in taken or self.store.get(
                "pods", key[0], pod["metadata"]["name"]
            ):
                pod["metadata"]["name"] = f"{rs['metadata']['name']}-{objects.random_suffix()}"
            taken.add(pod["metadata"]["name"])
            created.append(pod)
        self.store.put_many("pods", created)
        if created:
            self._last_progress[key] = time.monotonic()
        for pod in created:
            meta = pod["metadata"]
            if key in self.unschedulable:
                self._event(
                    pod, "Warning", "FailedScheduling", self.unschedulable[key], "default-scheduler"
                )
            elif not instant:
                self.after(self.delay, self.start_pod, meta["namespace"], meta["name"])

    def start_pod(self, ns: str, name: str) -> None:
        """The kubelet started a pod's container: Pending -> Running and ready."""
        with self.store.lock:
            pod = self.store.get("pods", ns, name)
            if (
                pod is None
                or pod["status"].get("phase") != "Pending"
                or not pod["spec"].get("nodeName")
            ):
                return
            self.store.update("pods", ns, name, lambda p: pods.mark_running(p, self._pod_ip()))
            self._event(pod, "Normal", "Started", "Started container api", "kubelet")
            need = self.memory_needs.get((ns, self.deployment_of(pod) or ""))
            if need is not None and pods.memory_limit(pod) < need:
                self.crashlooping.add((ns, name))  # its limit is below what it needs
                self.crash(ns, name)
            self._after_pod_change(pod)

    def _remove_pods(self, victims: list[JSON], instant: bool) -> None:
        for pod in victims:
            ns, name = pod["metadata"]["namespace"], pod["metadata"]["name"]
            if instant:
                self.store.delete("pods", ns, name)
            else:
                self.terminate_pod(ns, name, notify=False)

    def terminate_pod(self, ns: str, name: str, notify: bool = True) -> JSON | None:
        """Graceful delete: mark Terminating now, remove after one step."""

        def mark(p: JSON) -> None:
            p["metadata"]["deletionTimestamp"] = now_rfc3339()
            p["metadata"]["deletionGracePeriodSeconds"] = 30

        terminating = self.store.update("pods", ns, name, mark)
        if terminating is not None:
            self.after(self.delay, self._finish_termination, ns, name)
            if notify:
                self._after_pod_change(terminating)
        return terminating

    def _finish_termination(self, ns: str, name: str) -> None:
        with self.store.lock:
            gone = self.store.delete("pods", ns, name)
            self.crashlooping.discard((ns, name))
            if gone is not None:
                self._after_pod_change(gone)

    def replace_pod(self, ns: str, name: str) -> JSON | None:
        """Delete a pod and put a Running replacement in its replica set, at once (a DELETED
        and an ADDED event): pod churn for the benchmarks at 20,000 pods, where the graceful
        path's status refresh and reconcile cost seconds each (they read every pod). The
        deployment's counts do not change, so its status stays true. None if absent."""
        with self.store.lock:
            pod = self.store.get("pods", ns, name)
            if pod is None:
                return None
            rs_name = _owner_name(pod)
            rs = self.store.get("replicasets", ns, rs_name) if rs_name else None
            dep_name = _owner_name(rs) if rs else None
            dep = self.store.get("deployments", ns, dep_name) if dep_name else None
            gone = self.store.delete("pods", ns, name)
            if rs is not None and dep is not None:
                self._create_pods(dep, rs, 1, instant=True)
            return gone

    def _after_pod_change(self, pod: JSON) -> None:
        """Let the owning deployment notice: status soon, a new step after `delay`.

        Coalesced, so a burst of pod changes (thousands at scale) costs one status refresh.
        """
        dep_name = self.deployment_of(pod)
        if dep_name:
            key = (pod["metadata"]["namespace"], dep_name)
            self._last_progress[key] = time.monotonic()
            self.once("refresh", key, 0, self._refresh_and_step)

    def _refresh_and_step(self, ns: str, name: str) -> None:
        self.refresh_status(ns, name)
        self.once("reconcile", (ns, name), self.delay, self.reconcile)

    def once(self, kind: str, key: Key, seconds: float, action: Callable[[str, str], None]) -> None:
        """Schedule `action(ns, name)` unless the same kind is already pending for that key."""
        with self._cv:
            if (kind, key) in self._pending:
                return
            self._pending.add((kind, key))
        self.after(seconds, self._run_once, kind, key, action)

    def _run_once(self, kind: str, key: Key, action: Callable[[str, str], None]) -> None:
        with self._cv:
            self._pending.discard((kind, key))
        action(*key)

    def deployment_of(self, pod: JSON) -> str | None:
        """Name of the deployment that owns a pod through its replica set."""
        rs_name = _owner_name(pod)
        if rs_name is None:
            return None
        rs = self.store.get("replicasets", pod["metadata"]["namespace"], rs_name)
        return _owner_name(rs) if rs else None

    # -- faults ---------------------------------------------------------------------------------

    def crash(self, ns: str, name: str) -> None:
        """OOM-kill a pod's container once more (while its fault is on), then schedule the next."""
        if (ns, name) not in self.crashlooping:
            return
        with self.store.lock:
            pod = self.store.update("pods", ns, name, pods.mark_oom_crashloop)
            if pod is None:
                self.crashlooping.discard((ns, name))
                return
            message = f"Back-off restarting failed container api in pod {name}_{ns}"
            event_key = self._backoff_events.get((ns, name))
            existing = self.store.get("events", *event_key) if event_key else None
            if existing is None or event_key is None:
                ev = self._event(pod, "Warning", "BackOff", message, "kubelet")
                self._backoff_events[(ns, name)] = (ns, ev["metadata"]["name"])
            else:

                def bump(e: JSON) -> None:
                    e["count"] += 1
                    e["lastTimestamp"] = now_rfc3339()

                self.store.update("events", *event_key, bump)
            self._after_pod_change(pod)
        self.after(max(self.delay * 5, 0.5), self.crash, ns, name)

    def recover(self, ns: str, name: str) -> None:
        """End a pod's crash loop: the container starts and stays up."""
        self.crashlooping.discard((ns, name))
        with self.store.lock:
            pod = self.store.update(
                "pods", ns, name, lambda p: pods.mark_running(p, self._pod_ip())
            )
            if pod is not None:
                self._after_pod_change(pod)

    def _event(self, involved: JSON, kind: str, reason: str, message: str, component: str) -> JSON:
        return self.store.put("events", objects.event(involved, kind, reason, message, component))

    def _pod_ip(self) -> str:
        n = next(self._ips)
        return f"10.244.{(n // 250) % 250}.{n % 250 + 2}"

    def _host_ip(self, node: str) -> str:
        return f"10.0.{self.node_names.index(node)}.10"


def _revision(rs: JSON) -> int:
    return int(member(rs["metadata"], "annotations").get("deployment.kubernetes.io/revision", 0))


def _deletion_order(candidates: list[JSON]) -> list[JSON]:
    """Which pods a scale-down removes first: unscheduled, then unready, then the newest."""
    return sorted(
        candidates,
        key=lambda p: (
            bool(p["spec"].get("nodeName")),
            pods.is_ready(p),
            [-ord(c) for c in p["metadata"].get("creationTimestamp", "")],
        ),
    )
