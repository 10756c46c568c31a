"""A "Kubernetes API" that answers 200 with a proxy's HTML page: the source says what came back,
within its timeout, and keeps answering."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from cockpit.config import KubernetesConfig
from cockpit.models import SourceFailure
from cockpit.sources.kube.source import KubeSource


class ProxyErrorPage(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # http.server's naming
        body = b"<html><body>502 Bad Gateway (corporate proxy)</body></html>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_POST = do_GET

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def kubeconfig(tmp_path: Path) -> Iterator[Path]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), ProxyErrorPage)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    path = tmp_path / "kubeconfig"
    path.write_text(f"""apiVersion: v1
kind: Config
clusters: [{{name: c, cluster: {{server: "http://127.0.0.1:{server.server_port}"}}}}]
users: [{{name: u, user: {{token: t}}}}]
contexts: [{{name: behind-a-proxy, context: {{cluster: c, user: u, namespace: predictiq}}}}]
current-context: behind-a-proxy
""")
    try:
        yield path
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


async def test_an_html_answer_is_a_clear_failure(kubeconfig: Path) -> None:
    source = KubeSource(KubernetesConfig(kubeconfig=str(kubeconfig), request_timeout_seconds=2))
    try:
        for _ in range(2):
            result = await source.collect()
            assert isinstance(result, SourceFailure)
            assert "not JSON (text/html)" in result.reason  # the cause, short
            assert "502 Bad Gateway" in result.detail  # what came back, in the detail
    finally:
        await source.aclose()
