"""The Kubernetes source: pods, the deployment, its HPA, warning events and nodes from list+watch.

Background threads keep the cache current (kube/watch.py: one list, then a watch per resource;
kube/poll.py: metrics.k8s.io, which has no watch, and RBAC). In steady state no list is sent but
the metrics one, every refresh.metrics_seconds. `collect()` only snapshots the cache, so it is
cheap at any size. While the pods or deployment watch is disconnected it returns a
SourceFailure, and the state keeps showing the last data as "stale since ... — reason";
a broken events, nodes or HPA watch alone is only a `watch_error` on an otherwise good snapshot.

Freshness (issue 20): a quiet watch is normal, so a copy of the cache says nothing about whether
the API server is still there. Each collection first sends one cheap `GET /version` under the
refresh timeout: a snapshot ("updated 0s ago") means the API server answered just now; a hung,
slow, refusing or 401-answering server is a SourceFailure within one refresh. A probe that
answers while a watch is still backing off wakes that watch, so it reconnects at once.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from cockpit.config import KubernetesConfig, RefreshConfig
from cockpit.models import KubeSnapshot, SourceFailure
from cockpit.sources.base import describe_error
from cockpit.sources.kube.cache import KubeCache
from cockpit.sources.kube.client import KubeTarget, new_api_client, resolve_target
from cockpit.sources.kube.disk import DiskPoller
from cockpit.sources.kube.poll import DEFAULT_ACTION_VERBS, ActionVerb, Poller
from cockpit.sources.kube.watch import (
    PAGE_SIZE,
    FallbackList,
    ListWatch,
    WatchTiming,
    detail_text,
    error_text,
    is_timeout,
)

NAME = "kubernetes"
CLOSE_JOIN_SECONDS = 2.0  # aclose waits this long for threads (each request has a timeout anyway)
REQUIRED = ("pods", "deployment")  # without these there is no snapshot
OPTIONAL = ("events", "nodes", "hpa")  # a broken one is reported in watch_error
PROBE_PATH = "/version"  # the freshness probe: cheap, and answered by every API server
PROBE_SHARE = 0.8  # of the refresh timeout, for the probe's connect and read each
SILENCE_SHARE = 1.5  # a watch silent for this many read timeouts is reported stale


class KubeSource:
    """Pods by the configured selector, the deployment, events, nodes, usage and RBAC.

    `metrics_interval` is the metrics.k8s.io poll period (default: refresh.metrics_seconds);
    `action_verbs` maps action ids to (verb, group, resource, subresource) to check with a
    SelfSubjectAccessReview; `watch_timing` tunes the watch timeouts and backoff (tests);
    `list_page_size` is the number of pods per page of a pods list.
    """

    name = NAME

    def __init__(
        self,
        cfg: KubernetesConfig,
        refresh: RefreshConfig | None = None,
        *,
        metrics_interval: float | None = None,
        disk_interval: float | None = None,
        action_verbs: dict[str, ActionVerb] | None = None,
        watch_timing: WatchTiming | None = None,
        permissions_interval: float = 300.0,
        list_page_size: int = PAGE_SIZE,
    ) -> None:
        self.cfg = cfg
        self.refresh = refresh or RefreshConfig()
        self.metrics_interval = metrics_interval or self.refresh.metrics_seconds
        self.disk_interval = disk_interval or self.refresh.disk_seconds
        self.action_verbs = dict(DEFAULT_ACTION_VERBS if action_verbs is None else action_verbs)
        interval = self.refresh.interval_seconds
        # a watch that fails at once (refused, 401) retries within about half a refresh; one
        # that timed out backs off to two refreshes at most (issue 20: recovery within two)
        self.timing = watch_timing or WatchTiming(
            connect_timeout=cfg.request_timeout_seconds,
            retry_max=interval / 2,
            backoff_max=2 * interval,
        )
        self.permissions_interval = permissions_interval
        self.list_page_size = list_page_size
        self.target: KubeTarget | None = None
        self.cache = KubeCache(cfg.deployment)
        self.watches: dict[str, ListWatch] = {}
        self.poller: Poller | None = None
        self.disk_poller: DiskPoller | None = None
        self._api_client: Any = None
        self._raw: Any = None  # RawApi, once started
        self._closed = False

    # -- lifecycle --------------------------------------------------------------------------------

    def _start(self) -> None:
        """Resolve the context, build the client and start the threads (blocking; run in a
        thread)."""
        from cockpit.sources.kube.http import RawApi

        target = resolve_target(self.cfg)
        api_client = new_api_client(self.cfg)
        raw = RawApi(api_client)  # not client.CoreV1Api & co: their models cost ~30 MB
        hpa_list = FallbackList(  # autoscaling/v2, or v1 on clusters older than 1.23
            raw.lister("/apis/autoscaling/v2/namespaces/{namespace}/horizontalpodautoscalers"),
            raw.lister("/apis/autoscaling/v1/namespaces/{namespace}/horizontalpodautoscalers"),
        )
        ns, cache = target.namespace, self.cache
        self.watches = {
            "pods": ListWatch(
                "pods",
                raw.lister("/api/v1/namespaces/{namespace}/pods"),
                {"namespace": ns, "label_selector": self.cfg.selector},
                cache.pods_listed,
                cache.pod_event,
                self.timing,
                page_size=self.list_page_size,
            ),
            "deployment": ListWatch(
                "deployment",
                raw.lister("/apis/apps/v1/namespaces/{namespace}/deployments"),
                {"namespace": ns, "field_selector": f"metadata.name={self.cfg.deployment}"},
                cache.deployment_listed,
                cache.deployment_event,
                self.timing,
            ),
            "events": ListWatch(
                "events",
                raw.lister("/api/v1/namespaces/{namespace}/events"),
                {"namespace": ns, "field_selector": "type=Warning"},
                cache.events_listed,
                cache.event_event,
                self.timing,
            ),
            # All nodes (they are few); the snapshot keeps those running the pods.
            "nodes": ListWatch(
                "nodes",
                raw.lister("/api/v1/nodes"),
                {},
                cache.nodes_listed,
                cache.node_event,
                self.timing,
            ),
            # The namespace's HPAs; the cache keeps the one whose scaleTargetRef is the deployment.
            "hpa": ListWatch(
                "hpa", hpa_list, {"namespace": ns}, cache.hpas_listed, cache.hpa_event, self.timing
            ),
        }
        self.poller = Poller(
            raw,
            cache,
            ns,
            self.cfg.deployment,
            self.cfg.selector,
            self.cfg.request_timeout_seconds,
            self.metrics_interval,
            self.action_verbs,
            self.permissions_interval,
        )
        self.disk_poller = DiskPoller(
            raw,
            cache,
            ns,
            self.cfg.request_timeout_seconds,
            self.disk_interval,
            pods_listed=self.watches["pods"].settled,
        )
        self.target, self._api_client, self._raw = target, api_client, raw
        for watch in self.watches.values():
            watch.start()
        self.poller.start()
        self.disk_poller.start()

    def _wait_settled(self, seconds: float) -> None:
        """Wait (bounded) until every first list, the first metrics.k8s.io poll and the first
        SelfSubjectAccessReviews have answered or failed once. A metrics API still silent at the
        deadline is a metrics_error (until its answer arrives), not pods without usage."""
        deadline = time.monotonic() + seconds
        for key in (*REQUIRED, *OPTIONAL):
            self.watches[key].settled.wait(max(deadline - time.monotonic(), 0))
        if self.poller is not None and not self.poller.first_round.wait(
            max(deadline - time.monotonic(), 0)
        ):
            self.cache.usage_pending(f"metrics.k8s.io did not answer within {seconds:.1f} s")
        if self.disk_poller is not None:  # a one-shot snapshot has disk use too, if it is quick
            self.disk_poller.first_round.wait(max(deadline - time.monotonic(), 0))

    async def collect(self) -> KubeSnapshot | SourceFailure:
        """A snapshot of the watch cache (starting the threads on the first call)."""
        if self._closed:
            return SourceFailure(NAME, "collect", "source closed")
        if self.target is None:
            try:
                await asyncio.to_thread(self._start)
            except Exception as exc:  # bad kubeconfig/context: retried next time
                return SourceFailure(NAME, "kubeconfig", describe_error(exc))
            # The first collect waits for the first lists, so the cockpit opens with data.
            await asyncio.to_thread(self._wait_settled, self.refresh.timeout_seconds * 0.8)
        failure = await self._probe()
        if failure is not None:
            return failure
        for watch in self.watches.values():
            if watch.error:
                watch.wake()  # the API server answers: retry now rather than after the backoff
        return self._current()

    async def _probe(self) -> SourceFailure | None:
        """GET /version under the refresh timeout: None when the API server answered."""
        timeout = self.refresh.timeout_seconds * PROBE_SHARE
        what = f"GET {PROBE_PATH}"
        try:
            await asyncio.wait_for(
                asyncio.to_thread(self._raw.get_json, PROBE_PATH, None, (timeout, timeout)),
                timeout * 1.5,
            )
        except Exception as exc:  # any failure of the probe is the pane's reason
            heard = self._last_heard()
            if isinstance(exc, TimeoutError) or is_timeout(exc):
                return SourceFailure(
                    NAME,
                    what,
                    f"timed out after {timeout:g}s",
                    detail=f"{detail_text(exc) or 'no answer in time'}; {heard}",
                )
            return SourceFailure(NAME, what, error_text(exc), detail=f"{detail_text(exc)}; {heard}")
        return None

    def _last_heard(self) -> str:
        """'pods watch last heard from 12s ago' for a failure's detail."""
        silent = self.watches["pods"].silent_for() if "pods" in self.watches else None
        return (
            "the pods watch has heard nothing yet"
            if silent is None
            else f"the pods watch last heard from the server {silent:.0f}s ago"
        )

    def _current(self) -> KubeSnapshot | SourceFailure:
        assert self.target is not None
        for key in REQUIRED:
            watch = self.watches[key]
            if not watch.filled:
                return SourceFailure(
                    NAME,
                    f"list {key}",
                    watch.error or "waiting for the first list",
                    detail=watch.error_detail,
                )
        for key in REQUIRED:
            watch = self.watches[key]
            if watch.error:
                return SourceFailure(
                    NAME, f"watch {key}", watch.error or "", detail=watch.error_detail
                )
            silent = watch.silent_for()
            if silent is not None and silent > self.timing.read_timeout * SILENCE_SHARE:
                # no event and no bookmark for longer than the read timeout allows: the stream is
                # stuck somewhere the read timeout cannot see (a half-open proxy)
                return SourceFailure(
                    NAME,
                    f"watch {key}",
                    f"silent for {silent:.0f}s",
                    detail="no event and no bookmark on the watch; it reconnects "
                    "when the read timeout fires",
                )
        broken = [
            f"{key}: {self.watches[key].error}" for key in OPTIONAL if self.watches[key].error
        ]
        watch_error = "; ".join(broken) or None
        t = self.target
        return self.cache.snapshot(
            t.context, t.cluster, t.namespace, self.cfg.selector, watch_error
        )

    async def aclose(self) -> None:
        """Stop the threads (cutting open watches), wait for them briefly, close the client."""
        if self._closed:
            return
        self._closed = True
        workers = [
            *self.watches.values(),
            *([self.poller] if self.poller else []),
            *([self.disk_poller] if self.disk_poller else []),
        ]
        for worker in workers:
            worker.stop()

        def join_all() -> None:
            deadline = time.monotonic() + CLOSE_JOIN_SECONDS
            for worker in workers:
                worker.join(max(deadline - time.monotonic(), 0.01))

        await asyncio.to_thread(join_all)
        if self._api_client is not None:
            self._api_client.close()
