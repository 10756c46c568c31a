"""A real Prometheus (Debian's `prometheus` package) for the tests: a throwaway server on a free
port, its TSDB in a temporary directory, scraping each simulated pod's /metrics through the
Kubernetes simulator's pod proxy every second."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import httpx
import pytest

from cockpit.lab.services import free_port
from tests.waiting import wait_for

BINARY = "prometheus"


def skip_reason() -> str | None:
    """Why the Prometheus tests cannot run here, or None."""
    if shutil.which(BINARY) is None:
        return (
            "no `prometheus` binary: install Debian's package (`apt-get install prometheus`; "
            ".ci/run does it when it can)"
        )
    return None


def scrape_config(
    kube_url: str,
    token: str | None,
    namespace: str,
    pods: list[str],
    containers: str | None = None,
) -> str:
    """One scrape job per pod (the pod proxy path differs per pod), each labelled with its pod;
    and, with `containers` (host:port of a ContainerExporter), the pods' cAdvisor and
    kube-state-metrics series, their own pod labels kept (honor_labels, as for a kubelet)."""
    host = kube_url.removeprefix("http://").rstrip("/")
    lines = ["global:", "  scrape_interval: 1s", "  evaluation_interval: 1s", "scrape_configs:"]
    if containers:
        lines += [
            "  - job_name: kubelet-cadvisor",
            "    honor_labels: true",
            "    static_configs:",
            f"      - targets: ['{containers}']",
        ]
    for pod in pods:
        lines += [
            f"  - job_name: pod-{pod}",
            "    honor_labels: false",
            f"    metrics_path: /api/v1/namespaces/{namespace}/pods/{pod}:8080/proxy/metrics",
            *(["    authorization:", f"      credentials: {token}"] if token else []),
            "    static_configs:",
            f"      - targets: ['{host}']",
            "        labels:",
            f"          pod: {pod}",
            f"          namespace: {namespace}",
            "          service: predictiq-api",
        ]
    return "\n".join(lines) + "\n"


class PrometheusServer:
    """`prometheus` as a child process; stopped (and its data removed) by `stop()`."""

    def __init__(self, config_text: str) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="cockpit-prom-"))
        (self.dir / "prometheus.yml").write_text(config_text)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = open(self.dir / "prometheus.log", "wb")  # closed in stop()
        self.process = subprocess.Popen(
            [
                BINARY,
                f"--config.file={self.dir / 'prometheus.yml'}",
                f"--storage.tsdb.path={self.dir / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--storage.tsdb.retention.time=1h",
            ],
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )

    def ready(self) -> bool:
        """Whether /-/ready answers 200 (fails the test if the process died)."""
        if self.process.poll() is not None:
            pytest.fail("prometheus exited: " + (self.dir / "prometheus.log").read_text()[-2000:])
        try:
            return httpx.get(f"{self.url}/-/ready", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def query(self, promql: str, at: float | None = None) -> list[dict]:
        """Prometheus' own answer to an instant query (the result list), now or `at`."""
        params = {"query": promql, **({"time": f"{at:.3f}"} if at is not None else {})}
        body = httpx.get(f"{self.url}/api/v1/query", params=params, timeout=5).json()
        assert body["status"] == "success", body
        return body["data"]["result"]

    def wait_ready(self) -> PrometheusServer:
        """Wait for the server to serve queries."""
        wait_for(self.ready, 30, what="prometheus ready")
        return self

    def stop(self) -> None:
        """Terminate, wait, and remove the data directory."""
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)
