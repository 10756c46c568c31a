"""The simulated pods' container series as Prometheus finds them in a real cluster: cAdvisor's
(`container_cpu_usage_seconds_total`, `container_memory_working_set_bytes`, from the kubelet's
/metrics/cadvisor) and kube-state-metrics' (`kube_pod_container_resource_limits`), each with its
`namespace`, `pod` and `container` labels, from the same usage model metrics.k8s.io reports.

`ContainerExporter` serves them on a loopback port of its own, for a Prometheus to scrape (with
`honor_labels`, as a kubelet's series are): the tests check the cockpit's back-filled pod CPU and
memory trends against it.
"""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Protocol, cast

from cockpit.lab.kubesim.jsontypes import JSON
from cockpit.lab.kubesim.metrics import UsageModel, container_limits

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class Cluster(Protocol):
    """What the series are read from: a KubeSim (its pods and its usage model)."""

    usage: UsageModel

    def pods(self) -> list[JSON]:
        """The deployment's pods."""
        ...


class ContainerSeries:
    """The exposition text of every running pod's container; CPU seconds are integrated from
    the usage model between reads (a counter, as cAdvisor's)."""

    def __init__(self, kube: Cluster) -> None:
        self.kube = kube
        self._lock = threading.Lock()
        self._cpu_seconds: dict[str, tuple[float, float]] = {}  # uid -> (seconds, at)

    def text(self) -> str:
        """Prometheus text format for the pods running now."""
        out = [
            "# HELP container_cpu_usage_seconds_total Cumulative cpu time consumed in seconds.",
            "# TYPE container_cpu_usage_seconds_total counter",
            "# HELP container_memory_working_set_bytes Current working set in bytes.",
            "# TYPE container_memory_working_set_bytes gauge",
            "# HELP kube_pod_container_resource_limits The number of requested limit resource.",
            "# TYPE kube_pod_container_resource_limits gauge",
        ]
        now = time.monotonic()
        with self._lock:
            for pod in self.kube.pods():
                if pod["status"].get("phase") != "Running":
                    continue
                meta = pod["metadata"]
                labels = (
                    f'namespace="{meta["namespace"]}",pod="{meta["name"]}",'
                    f'container="{pod["spec"]["containers"][0]["name"]}"'
                )
                cores, memory = self.kube.usage.usage(pod)
                seconds, at = self._cpu_seconds.get(meta["uid"], (0.0, now))
                seconds += cores * (now - at)
                self._cpu_seconds[meta["uid"]] = (seconds, now)
                cpu_limit, memory_limit = container_limits(pod)
                out += [
                    f"container_cpu_usage_seconds_total{{{labels}}} {seconds:.6f}",
                    f"container_memory_working_set_bytes{{{labels}}} {memory:.0f}",
                    "kube_pod_container_resource_limits"
                    f'{{{labels},resource="cpu",unit="core"}} {cpu_limit:g}',
                    "kube_pod_container_resource_limits"
                    f'{{{labels},resource="memory",unit="byte"}} {memory_limit:.0f}',
                ]
        return "\n".join(out) + "\n"


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # http.server's naming
        series = cast("ContainerExporter", self.server).series
        body = series.text().encode() if self.path.split("?")[0] == "/metrics" else b""
        self.send_response(200 if body else 404)
        self.send_header("Content-Type", CONTENT_TYPE)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        """Silent: the lab runs under a TUI."""


class ContainerExporter(ThreadingHTTPServer):
    """`/metrics` with the pods' container series on 127.0.0.1 (a free port), in a thread."""

    daemon_threads = True

    def __init__(self, kube: Cluster) -> None:
        self.series = ContainerSeries(kube)
        super().__init__(("127.0.0.1", 0), _Handler)
        self._thread = threading.Thread(
            target=self.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True
        )

    @property
    def target(self) -> str:
        """host:port, as a Prometheus scrape target."""
        return f"127.0.0.1:{self.server_address[1]}"

    def start(self) -> ContainerExporter:
        """Serve in a background thread; returns self."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self.shutdown()
        self.server_close()
        self._thread.join(5)

    def __enter__(self) -> ContainerExporter:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
