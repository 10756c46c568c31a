"""An incident's detail shows the log lines its runbook entry points at, fetched from the
Kubernetes simulator when the detail opens, and the post-mortem export includes them:
the previous container's last lines for OOM, 429s counted per minute for rate limits."""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from cockpit.audit.log import AuditLog, read_entries
from cockpit.config import IncidentsConfig, KubernetesConfig
from cockpit.incidents.log_evidence import EVENT, LogEvidence
from cockpit.incidents.postmortem import render_postmortem
from cockpit.lab.apisim.podlog import PodAccessLog
from cockpit.lab.kubesim.logs import format_time, request_line
from cockpit.lab.kubesim.sim import KubeSim
from cockpit.sources.kube.source import KubeSource
from tests.ui.fixtures import fixed_sources, make_config, wait_until
from widgets.app import CockpitApp
from widgets.incidents.detail import IncidentDetailScreen

NS, APP = "predictiq", "predictiq-api"


@pytest.fixture
def sim():
    with KubeSim(namespace=NS, deployment=APP, replicas=2, delay=0.05, seed=4) as running:
        yield running


def config_for(sim: KubeSim, tmp_path):
    path = sim.write_kubeconfig(tmp_path / "kubeconfig", context="lab")
    kube = KubernetesConfig(
        kubeconfig=str(path), context="lab", namespace=NS, deployment=APP, selector=f"app={APP}"
    )
    return replace(make_config(), kubernetes=kube, incidents=IncidentsConfig(open_after_samples=1))


def body_text(screen: IncidentDetailScreen) -> str:
    return screen.render_text(screen.incident)


async def open_detail(app: CockpitApp, pilot, rule: str) -> IncidentDetailScreen:
    await wait_until(pilot, lambda: any(i.rule == rule for i in app.incidents), timeout=15)
    inc = next(i for i in app.incidents if i.rule == rule)
    screen = IncidentDetailScreen(inc.id, app.engine)
    app.push_screen(screen)
    await wait_until(
        pilot, lambda: isinstance(getattr(screen, "log_evidence", None), LogEvidence), timeout=10
    )
    await pilot.pause()
    return screen


@pytest.fixture
def slow_sim():
    """Steps of 2 s: the crash loop kills the container again only every 10 s."""
    with KubeSim(namespace=NS, deployment=APP, replicas=2, delay=2.0, seed=4) as running:
        yield running


async def test_oom_detail_shows_the_previous_containers_last_lines(slow_sim, tmp_path):
    sim = slow_sim
    cfg = config_for(sim, tmp_path)
    pod = sim.pods()[0]["metadata"]["name"]
    for i in range(30):
        sim.logs.write(NS, pod, f"serving request {i}")
    sim.oom_crashloop(pod)
    audit = AuditLog(tmp_path / "audit.jsonl")
    sources = {"kubernetes": KubeSource(cfg.kubernetes)}
    app = CockpitApp(cfg, sources=sources, audit=audit, local_tz=UTC)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_detail(app, pilot, "oom")
        text = body_text(screen)
        logs = text[text.index("[b]Logs[/b]") : text.index("[b]Timeline[/b]")]
        assert "previous container, last 20 lines (1 pod)" in logs
        assert "fatal error: runtime: out of memory" in logs and "(OOMKilled)" in logs
        assert "serving request 14" in logs and "serving request 13" not in logs  # 16 + 4 OOM lines
        entry = [e for e in read_entries(audit.path) if e["event"] == EVENT][-1]
        assert entry["incident_id"] == screen.incident_id and len(entry["lines"]) == 20
        report = render_postmortem(screen.incident, read_entries(audit.path))
        assert "## Log evidence" in report and "fatal error: runtime: out of memory" in report
        assert "| Log evidence |" in report


def _age(sim: KubeSim, minutes: int) -> None:
    """Make every pod's container have started `minutes` ago (its log can then go back)."""
    started = datetime.fromtimestamp(time.time() - minutes * 60, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    for pod in sim.pods():

        def age(p: dict) -> None:
            p["status"]["containerStatuses"][0]["state"]["running"]["startedAt"] = started

        sim.store.update("pods", NS, pod["metadata"]["name"], age)


async def test_rate_limit_detail_counts_rate_limit_lines_per_minute(sim, tmp_path):
    cfg = config_for(sim, tmp_path)
    _age(sim, 15)
    pods = [p["metadata"]["name"] for p in sim.pods()]
    now = time.time_ns()
    for minutes_ago, count in ((7, 3), (3, 5)):
        for pod in pods:
            for i in range(count):
                sim.logs.write(
                    NS,
                    pod,
                    request_line("GET", "/api/markets/1", 429, 0.001),
                    when_ns=now - minutes_ago * 60 * 10**9 + i,
                )
    access = PodAccessLog(sim)  # what the API simulator writes, for the pod that served it
    for turn, status in enumerate((429, 429, 200, 429)):  # served by the pods in turn
        access(pods[turn % len(pods)], "GET", "/api/markets/2", status, 0.002)
    expected: dict[str, int] = {}
    for pod in pods:
        for stamp, text in sim.logs.lines(NS, pod):
            if "rate limit exceeded" in text:
                minute = format_time(stamp)[11:16]
                expected[minute] = expected.get(minute, 0) + 1
    audit = AuditLog(tmp_path / "audit.jsonl")
    app = CockpitApp(cfg, sources=fixed_sources(), audit=audit, local_tz=UTC)  # api: 2.5 429/s
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_detail(app, pilot, "rate_limit")
        evidence = screen.log_evidence
        assert isinstance(evidence, LogEvidence)
        total = 2 * (3 + 5) + 3
        assert evidence.summary == (
            f"{total} lines match 'rate limit exceeded' in the last 10 min (2 pods)"
        )
        counts = dict(evidence.per_minute)
        assert len(evidence.per_minute) == 10 and sum(counts.values()) == total
        assert {m: c for m, c in counts.items() if c} == expected
        text = body_text(screen)
        assert "per minute: " in text and evidence.summary in text
        report = render_postmortem(screen.incident, read_entries(audit.path))
        assert evidence.summary in report and "per minute:" in report
