"""Checklists verified live against the real lab parts: PostgreSQL, Redis, the TLS lab, the API
simulator and the Kubernetes simulator, collected by the real sources into a CockpitState.

Healthy lab: every verifiable post-deployment item is green with evidence. Faults injected for
real (health failure, a flushed cache that is not refilled, disk pressure, a CPU spike) turn the
matching items red. A recorded run is in the audit trail and in `cockpit audit export`.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from cockpit.audit.log import AuditLog, read_entries
from cockpit.checklists.checklists import (
    item_results,
    load_checklists,
    record_run,
    render_checklist_markdown,
    verify_checklist,
)
from cockpit.checklists.verifiers import CheckState
from cockpit.config import Config, parse_config
from cockpit.lab.apisim.sim import ApiSimulator
from cockpit.lab.kubesim.sim import KubeSim
from cockpit.lab.schema import install_schema
from cockpit.sources.registry import build_sources
from cockpit.state import CockpitState

LISTS = load_checklists().lists
ENDPOINTS = ["/health", "/api/markets?status=active", "/api/markets/1"]


class Lab:
    """The running parts, the config pointing at them, and a state fed by the real sources."""

    def __init__(self, api: ApiSimulator, kube: KubeSim, cfg: Config, redis_server) -> None:
        self.api, self.kube, self.cfg, self.redis_server = api, kube, cfg, redis_server
        self.state = CockpitState(interval_seconds=0.3)

    async def verdicts(self, list_id: str, until, timeout: float = 20.0) -> dict:
        """Collect with every source every 0.3 s until `until(verdicts)` holds; return them."""
        sources, failures = build_sources(self.cfg)
        assert not failures, failures
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        try:
            while True:
                results = await asyncio.gather(*(s.collect() for s in sources.values()))
                for name, result in zip(sources, results, strict=True):
                    self.state.update(name, result)
                verdicts = await verify_checklist(LISTS[list_id], self.state, self.cfg)
                if until(verdicts) or loop.time() > deadline:
                    return verdicts
                await asyncio.sleep(0.3)  # the sampling interval the rates are computed over
        finally:
            await asyncio.gather(*(s.aclose() for s in sources.values()))


@pytest.fixture(scope="module")
def lab(pg, redis_server, tls_lab, tmp_path_factory) -> Iterator[Lab]:
    with pg.connect() as conn:
        install_schema(conn)
    tmp = tmp_path_factory.mktemp("checklab")
    api = ApiSimulator(pg.url, redis_server.url).start()
    kube = KubeSim(
        namespace="predictiq", deployment="predictiq-api", replicas=3, delay=0.05
    ).start()
    try:
        kubeconfig = kube.write_kubeconfig(tmp / "kubeconfig", context="lab")
        cert = tls_lab.endpoints["valid"]
        cfg = parse_config(
            {
                "refresh": {"timeout_seconds": 3, "interval_seconds": 0.3},
                "database": {"url": pg.url},
                "cache": {"url": redis_server.url},
                "api": {"base_url": api.url, "endpoints": ENDPOINTS},
                "certificates": [
                    {
                        "host": cert.server_name,
                        "port": cert.port,
                        "address": cert.host,
                        "ca_file": str(cert.ca_pem_path),
                    }
                ],
                "kubernetes": {
                    "kubeconfig": str(kubeconfig),
                    "context": "lab",
                    "namespace": "predictiq",
                    "deployment": "predictiq-api",
                    "selector": "app=predictiq-api",
                },
            },
            env={},
        )
        api.start_traffic(rps=30)
        yield Lab(api, kube, cfg, redis_server)
    finally:
        api.stop()
        kube.stop()


def _all_pass(checks: set[str]):
    return lambda v: all(v[c].state == CheckState.PASS for c in checks)


def test_healthy_lab_is_green_then_faults_turn_items_red(lab, tmp_path):
    post = LISTS["post_deployment"]
    verifiable = {i.check for i in post.items if i.check}
    verdicts = asyncio.run(lab.verdicts("post_deployment", _all_pass(verifiable)))
    for check in sorted(verifiable):
        assert verdicts[check].state == CheckState.PASS, (check, verdicts[check].evidence)
        assert verdicts[check].evidence
    assert "GET /health → 200" in verdicts["health_check"].evidence
    assert all(p in verdicts["endpoints_responding"].evidence for p in ENDPOINTS)
    assert "3/3 pods ready" in verdicts["pods_ready"].evidence

    # a run is recorded with who/when/each item, and exported by the CLI and the renderer
    audit = AuditLog(tmp_path / "audit.jsonl")
    items = item_results(post, verdicts, ticked={"stakeholders"})
    entry = record_run(audit, post, items, run_id="r1")
    [stored] = read_entries(audit.path)
    assert stored["event"] == "checklist.run" and stored["operator"] and stored["time"]
    assert {i["id"]: i["state"] for i in stored["items"]}["stakeholders"] == "done"
    assert {i["id"]: i["state"] for i in stored["items"]}["logged"] == "open"
    markdown = render_checklist_markdown(entry)
    assert "Post-deployment checklist — run r1" in markdown and "GET /health → 200" in markdown
    cli = Path(sys.executable).parent / "cockpit"
    proc = subprocess.run(
        [
            str(cli),
            "audit",
            "export",
            "--path",
            str(audit.path),
            "--checklist",
            "r1",
            "--format",
            "markdown",
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 0, proc.stderr
    assert "Health check passing" in proc.stdout and "pass" in proc.stdout

    # drills: the API's health fails; the cache is flushed and not refilled on misses
    lab.api.set_health_failure(True)
    lab.api.set_fill_on_miss(False)
    with lab.redis_server.client() as r:
        r.flushdb()
    red = {"health_check", "endpoints_responding", "cache_hit_rate"}
    try:
        verdicts = asyncio.run(
            lab.verdicts(
                "post_deployment", lambda v: all(v[c].state == CheckState.FAIL for c in red)
            )
        )
    finally:
        lab.api.set_health_failure(False)
        lab.api.set_fill_on_miss(True)
    for check in red:
        assert verdicts[check].state == CheckState.FAIL, (check, verdicts[check].evidence)
    assert "503" in verdicts["health_check"].evidence
    assert "/health 503" in verdicts["endpoints_responding"].evidence
    assert verdicts["db_connections"].state == CheckState.PASS  # the rest stays as it was


def test_node_and_pod_faults_turn_daily_and_post_items_red(lab):
    node = lab.kube.disk_pressure()
    try:
        verdicts = asyncio.run(
            lab.verdicts("daily", lambda v: v["disk_pressure"].state == CheckState.FAIL)
        )
    finally:
        lab.kube.clear_disk_pressure()
    assert verdicts["disk_pressure"].state == CheckState.FAIL
    assert node in verdicts["disk_pressure"].evidence
    for pod in lab.kube.pods():  # every pod throttled at its limit: deployment-wide CPU ~100%
        lab.kube.cpu_spike(pod["metadata"]["name"], fraction=1.0)
    try:
        verdicts = asyncio.run(
            lab.verdicts(
                "post_deployment", lambda v: v["critical_metrics"].state == CheckState.FAIL
            )
        )
    finally:
        lab.kube.clear_cpu_spike()
    assert verdicts["critical_metrics"].state == CheckState.FAIL, verdicts[
        "critical_metrics"
    ].evidence
    assert "limit 80%" in verdicts["critical_metrics"].evidence
