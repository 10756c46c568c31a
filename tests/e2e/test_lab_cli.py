"""`cockpit lab up` and `cockpit lab drill` as real processes: inject, clear, SIGTERM, nothing
left."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from cockpit.lab.labfiles import read_env
from tests.waiting import port_open, wait_for

COCKPIT = [sys.executable, "-m", "cockpit.cli"]

pytestmark = [pytest.mark.timeout(120), pytest.mark.slow]


def cockpit(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([*COCKPIT, *args], capture_output=True, text=True, timeout=60, env=env)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_lab_up_drill_and_sigterm_teardown(tmp_path: Path) -> None:
    lab_dir = tmp_path / "lab"
    # our own runtime dir: the "last lab" pointer of this test never meets a real user's
    env = {**os.environ, "XDG_RUNTIME_DIR": str(tmp_path)}
    up = subprocess.Popen(
        [*COCKPIT, "lab", "up", "--dir", str(lab_dir)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(
            lambda: (lab_dir / "lab.json").exists() or up.poll() is not None,
            what="lab.json written",
            timeout=60,  # starting PostgreSQL, Redis and four simulators: ~12 s on a loaded machine
        )
        assert up.poll() is None, up.stderr.read()
        assert (lab_dir / "config.toml").is_file() and (lab_dir / "kubeconfig").is_file()
        info = json.loads((lab_dir / "lab.json").read_text())
        health = f"{info['api_url']}/health"

        listing = cockpit("lab", "drill", "--list", env=env)
        assert listing.returncode == 0
        assert "api-down" in listing.stdout and "connection-exhaustion" in listing.stdout

        injected = cockpit("lab", "drill", "api-down", "--dir", str(lab_dir), env=env)
        assert injected.returncode == 0, injected.stderr
        assert httpx.get(health, timeout=5).status_code == 503
        # without --dir: the lab remembered its dir
        assert "[active]" in cockpit("lab", "drill", "--list", env=env).stdout
        cleared = cockpit("lab", "drill", "--clear", "api-down", env=env)
        assert cleared.returncode == 0, cleared.stderr
        assert httpx.get(health, timeout=5).status_code == 200

        unknown = cockpit("lab", "drill", "meteor-strike", env=env)
        assert unknown.returncode == 2 and "unknown drill" in unknown.stderr

        config = str(lab_dir / "config.toml")
        check = cockpit("check-config", "--config", config, env=env)
        assert check.returncode == 2 and "PREDICTIQ_ADMIN_TOKEN" in check.stderr  # env not set
        with_env = {**env, **read_env(lab_dir / "env")}
        assert cockpit("check-config", "--config", config, env=with_env).returncode == 0

        pids = [info["postgres"]["pid"], info["redis"]["pid"]]
        ports = [
            info["postgres"]["port"],
            info["redis"]["port"],
            int(info["api_url"].rsplit(":", 1)[1]),
            int(info["kube_url"].rsplit(":", 1)[1]),
        ]
        up.send_signal(signal.SIGTERM)
        assert up.wait(timeout=30) == 0
    finally:
        if up.poll() is None:
            up.kill()
            up.wait(10)
    assert "lab stopped" in up.stderr.read()
    assert not any(alive(pid) for pid in pids)
    assert not any(port_open(port) for port in ports)
    assert not (lab_dir / "lab.json").exists() and not (lab_dir / "env").exists()
    gone = cockpit("lab", "drill", "api-down", "--dir", str(lab_dir), env=env)
    assert gone.returncode == 1 and "no running lab" in gone.stderr


def test_lab_drill_without_a_running_lab_says_so(tmp_path: Path) -> None:
    env = {**os.environ, "XDG_RUNTIME_DIR": str(tmp_path)}
    result = cockpit("lab", "drill", "api-down", env=env)
    assert result.returncode == 1 and "no running lab" in result.stderr
