"""The `cockpit` command as a user runs it: help, version, check-config, init."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ENV = {
    **os.environ,
    "DATABASE_URL": "postgresql://app:s3cret@db/predictiq",
    "REDIS_URL": "redis://cache:6379/0",
    "PREDICTIQ_ADMIN_TOKEN": "tok-123",
    "PAGERDUTY_ROUTING_KEY": "pd-routing-key-0123456789abcdef",
}


def cockpit(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "cockpit.cli", *args],
        capture_output=True,
        text=True,
        env=env or ENV,
        timeout=60,
        cwd=ROOT,
    )


def test_help_and_version():
    out = cockpit("--help")
    assert out.returncode == 0 and "check-config" in out.stdout and "snapshot" in out.stdout
    assert cockpit("--version").stdout.startswith("cockpit ")
    for sub in (
        ["check-config"],
        ["snapshot"],
        ["audit", "verify"],
        ["lab", "up"],
        ["demo"],
        ["init"],
    ):
        assert cockpit(*sub, "--help").returncode == 0, sub


def test_check_config_on_the_example_masks_secrets():
    out = cockpit("check-config", "--config", str(ROOT / "config.example.toml"))
    assert out.returncode == 0, out.stderr
    assert "s3cret" not in out.stdout and "tok-123" not in out.stdout and "***" in out.stdout
    assert "pd-routing-key" not in out.stdout and "[paging]" in out.stdout


def test_misspelt_key_exits_2_without_traceback(tmp_path):
    p = tmp_path / "c.toml"
    p.write_text("[kubernetes]\nnamespce = 'x'\n")
    out = cockpit("check-config", "--config", str(p))
    assert out.returncode == 2
    assert "kubernetes.namespce" in out.stderr and "did you mean kubernetes.namespace" in out.stderr
    assert "Traceback" not in out.stderr


def test_missing_variable_exits_2_naming_it(tmp_path):
    env = {k: v for k, v in ENV.items() if k != "DATABASE_URL"}
    out = cockpit("check-config", "--config", str(ROOT / "config.example.toml"), env=env)
    assert out.returncode == 2 and "DATABASE_URL" in out.stderr


def test_init_writes_a_valid_config_and_refuses_to_overwrite(tmp_path):
    env = {**ENV, "XDG_CONFIG_HOME": str(tmp_path / "xdg"), "HOME": str(tmp_path)}
    first = cockpit("init", env=env)
    assert first.returncode == 0, first.stderr
    written = tmp_path / "xdg" / "predictiq-cockpit" / "config.toml"
    assert written.exists()
    assert cockpit("check-config", env=env).returncode == 0
    before = written.read_text()
    second = cockpit("init", env=env)
    assert second.returncode == 2 and "already exists" in second.stderr
    assert written.read_text() == before


def test_config_lookup_order(tmp_path):
    good = tmp_path / "good.toml"
    good.write_text("read_only = true\n")
    bad = tmp_path / "bad.toml"
    bad.write_text("read_only = 3\n")
    env = {**ENV, "COCKPIT_CONFIG": str(bad)}
    assert cockpit("check-config", env=env).returncode == 2
    assert cockpit("check-config", "--config", str(good), env=env).returncode == 0


def test_global_flags_work_before_or_after_the_subcommand(tmp_path):
    good = tmp_path / "good.toml"
    good.write_text("read_only = true\n")
    env = {**ENV, "COCKPIT_CONFIG": str(tmp_path / "missing.toml")}
    assert cockpit("--config", str(good), "check-config", env=env).returncode == 0
    assert cockpit("check-config", "--config", str(good), env=env).returncode == 0
    assert cockpit("check-config", env=env).returncode == 2


def test_check_config_rejects_what_would_fail_at_run_time(tmp_path):
    cases = {
        '[database]\nurl = "not a url at all"\n': "database.url: expected a libpq URL",
        '[database]\nurl = "postgresql://db:notaport/x"\n': "database.url: expected a port",
        '[kubernetes]\nselector = "app in (("\n': "kubernetes.selector: expected a label selector",
        '[kubernetes]\nkubeconfig = "/nonexistent/kubeconfig"\n': (
            "kubernetes.kubeconfig: expected a kubeconfig file"
        ),
        '[cache]\nurl = "http://cache:6379/0"\n': (
            "cache.url: expected a redis://, rediss:// or unix:// URL"
        ),
    }
    for i, (toml, message) in enumerate(cases.items()):
        p = tmp_path / f"c{i}.toml"
        p.write_text(toml)
        out = cockpit("check-config", "--config", str(p))
        assert out.returncode == 2, (toml, out.stdout)
        assert out.stderr.startswith(f"cockpit: error: {p}: {message}"), out.stderr
        assert len(out.stderr.splitlines()) == 1 and out.stdout == ""


def test_a_config_that_is_not_utf8_is_one_line_exit_2_in_every_command(tmp_path):
    p = tmp_path / "latin1.toml"
    p.write_bytes(b'[kubernetes]\nnamespace = "caf\xe9"\n')
    for command in (["check-config"], ["snapshot", "--json"], ["run"]):
        out = cockpit(*command, "--config", str(p))
        assert out.returncode == 2, command
        assert (
            out.stderr == f"cockpit: error: {p}: not UTF-8 text: byte offset 29 (0xe9) is "
            "invalid continuation byte; save the file as UTF-8\n"
        ), out.stderr
