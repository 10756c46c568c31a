"""`cockpit audit verify|tail|export` run as an operator would, as subprocesses."""

from __future__ import annotations

import json
import os
import selectors
import subprocess
import sys
import time
from pathlib import Path

from cockpit.audit.log import AuditLog

ROOT = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "COCKPIT_CONFIG": "/nonexistent/cockpit.toml"}


def cockpit(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "cockpit.cli", "audit", *args],
        capture_output=True,
        text=True,
        env=ENV,
        timeout=60,
        cwd=ROOT,
    )


def _log(tmp_path: Path) -> Path:
    path = tmp_path / "audit.jsonl"
    log = AuditLog(path, session_id="e2e")
    log.record(
        "intent",
        action="scale",
        target="deployment/predictiq-api",
        params={"replicas": 5},
        context="kind-prod",
        namespace="predictiq",
        incident_id="INC-1",
    )
    log.record(
        "result",
        action="scale",
        target="deployment/predictiq-api",
        outcome="ok",
        incident_id="INC-1",
        after={"replicas": 5},
    )
    log.record("cancelled", action="restart", target="deployment/predictiq-api")
    log.record(
        "checklist.run",
        checklist="pre-deploy",
        run_id="r1",
        title="Pre-deployment",
        items=[
            {"id": "backup", "text": "backups fresh", "state": "pass", "evidence": "dump 2h old"},
            {"id": "certs", "text": "certs valid", "state": "fail", "evidence": "api expired"},
        ],
    )
    return path


def test_verify_intact_then_broken_naming_the_line(tmp_path: Path) -> None:
    path = _log(tmp_path)
    out = cockpit("verify", str(path))
    assert out.returncode == 0 and "OK" in out.stdout and "4 entries" in out.stdout
    lines = path.read_text().splitlines(keepends=True)
    path.write_text(lines[0] + lines[2] + lines[1] + lines[3])
    out = cockpit("verify", str(path))
    assert out.returncode == 1 and "line 2" in out.stdout
    assert cockpit("verify", str(tmp_path / "missing.jsonl")).returncode == 2


def test_verify_uses_the_configured_path(tmp_path: Path) -> None:
    path = _log(tmp_path)
    cfg = tmp_path / "c.toml"
    cfg.write_text(f"[audit]\npath = '{path}'\n")
    out = cockpit("verify", "--config", str(cfg))
    assert out.returncode == 0 and str(path) in out.stdout


def test_tail_prints_the_last_entries(tmp_path: Path) -> None:
    path = _log(tmp_path)
    out = cockpit("tail", "-n", "2", "--path", str(path))
    assert out.returncode == 0
    lines = out.stdout.splitlines()
    assert len(lines) == 2 and lines[0].startswith("#3 ") and "cancelled" in lines[0]
    assert lines[1].startswith("#4 ") and "checklist.run" in lines[1]


def test_tail_follow_prints_new_entries(tmp_path: Path) -> None:
    path = _log(tmp_path)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "cockpit.cli",
            "audit",
            "tail",
            "-n",
            "1",
            "--follow",
            "--path",
            str(path),
        ],
        stdout=subprocess.PIPE,
        text=True,
        env=ENV,
        cwd=ROOT,
    )
    try:
        sel = selectors.DefaultSelector()
        sel.register(proc.stdout, selectors.EVENT_READ)
        seen: list[str] = []

        def wait_for(text: str) -> None:
            deadline = time.monotonic() + 20
            while not any(text in s for s in seen):
                assert time.monotonic() < deadline, f"{text!r} not printed; got {seen}"
                if sel.select(timeout=0.5):
                    seen.append(proc.stdout.readline())

        wait_for("#4 ")
        AuditLog(path).record("denied", action="kill_idle", error="read-only mode")
        wait_for("#5 ")
        assert "read-only mode" in seen[-1]
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_export_json_since_and_incident(tmp_path: Path) -> None:
    path = _log(tmp_path)
    out = cockpit("export", "--path", str(path), "--incident", "INC-1")
    assert out.returncode == 0
    assert [e["event"] for e in json.loads(out.stdout)] == ["intent", "result"]
    assert json.loads(cockpit("export", "--path", str(path), "--since", "1h").stdout)[0]["seq"] == 1
    assert json.loads(cockpit("export", "--path", str(path), "--since", "2999-01-01").stdout) == []
    assert cockpit("export", "--path", str(path), "--since", "yesterday-ish").returncode == 2
    assert cockpit("export", "--path", str(path), "--incident", "INC-404").returncode == 1


def test_export_markdown_for_incident_and_checklist(tmp_path: Path) -> None:
    path = _log(tmp_path)
    target = tmp_path / "pm.md"
    out = cockpit(
        "export",
        "--path",
        str(path),
        "--incident",
        "INC-1",
        "--format",
        "markdown",
        "-o",
        str(target),
    )
    assert out.returncode == 0
    text = target.read_text()
    assert "INC-1" in text and "scale" in text and "restart" not in text
    out = cockpit("export", "--path", str(path), "--checklist", "last", "--format", "markdown")
    assert out.returncode == 0
    assert "# Pre-deployment checklist — run r1" in out.stdout
    assert "| 2 | certs valid | ❌ FAIL |  | api expired |" in out.stdout


def test_tail_summarises_a_kill_of_46_connections_and_full_prints_them_all(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    pids = list(range(21667, 21667 + 46))
    AuditLog(path, session_id="e2e").record(
        "intent",
        action="kill_idle",
        target="postgresql://db/predictiq",
        params={"pids": pids, "idle_seconds": 600},
    )
    line = cockpit("tail", "--path", str(path)).stdout.strip()
    assert "46 connections: 21667, 21668, … (+44)" in line and "idle_seconds=600" in line
    assert "21712" not in line and len(line) < 300
    full = cockpit("tail", "--full", "--path", str(path)).stdout.strip()
    assert all(str(p) in full for p in pids)


def test_export_of_an_unknown_incident_exits_1_with_one_error_line_and_no_post_mortem(
    tmp_path: Path,
) -> None:
    path = _log(tmp_path)
    out = cockpit("export", "--path", str(path), "--incident", "NOPE", "--format", "markdown")
    assert out.returncode == 1
    assert out.stdout == ""
    assert (
        out.stderr.strip().count("\n") == 0 and "no audit entries for incident NOPE" in out.stderr
    )


def test_post_mortem_lists_the_incidents_actions_with_who_when_plan_and_result(
    tmp_path: Path,
) -> None:
    path = tmp_path / "audit.jsonl"
    log = AuditLog(path, session_id="e2e")
    log.record(
        "incident.detected",
        incident_id="INC-20261127-0001",
        rule="connection_exhaustion",
        severity="P1",
        title="Database connection exhaustion",
    )
    log.record(
        "intent",
        action="kill_idle",
        target="postgresql://db/predictiq",
        incident_id="INC-20261127-0001",
        effect=["terminate 46 idle connections (idle > 10m)"],
    )
    log.record(
        "result",
        action="kill_idle",
        target="postgresql://db/predictiq",
        incident_id="INC-20261127-0001",
        effect=["terminate 46 idle connections (idle > 10m)"],
        outcome="ok",
        message="terminated 46 of 46",
    )
    out = cockpit(
        "export", "--path", str(path), "--incident", "INC-20261127-0001", "--format", "markdown"
    )
    assert out.returncode == 0
    taken = out.stdout.split("## Actions taken", 1)[1].split("##", 1)[0]
    assert "none recorded" not in taken
    assert "kill_idle on postgresql://db/predictiq — plan: terminate 46 idle connections" in taken
    assert "result: ok (terminated 46 of 46)" in taken


def test_verify_says_when_the_head_file_is_missing(tmp_path: Path) -> None:
    path = _log(tmp_path)
    path.with_name(path.name + ".head").unlink()
    out = cockpit("verify", str(path))
    assert out.returncode == 0
    assert "head file" in out.stdout and "missing" in out.stdout and "cut off the end" in out.stdout
