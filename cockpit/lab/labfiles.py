"""The files a running lab writes into its directory: config.toml, env, lab.json.

- config.toml is a real cockpit config (`cockpit --config DIR/config.toml`). Secrets never live in
  it: the API admin token is written as `${PREDICTIQ_ADMIN_TOKEN}`, and so is any database or
  Redis URL that carries a password. Their values are in DIR/env.
- env (mode 0600) holds `export NAME='value'` lines: `set -a; . DIR/env; set +a` before running
  the cockpit. `cockpit demo` sets them in its own process instead.
- lab.json (mode 0600) describes the running lab for `cockpit lab drill`: pids, ports, URLs and the
  control server's address and token.
"""

from __future__ import annotations

import json
import os
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import tomli_w

TOKEN_ENV = "PREDICTIQ_ADMIN_TOKEN"
DATABASE_ENV = "PREDICTIQ_LAB_DATABASE_URL"
REDIS_ENV = "PREDICTIQ_LAB_REDIS_URL"
KUBE_CONTEXT = "lab-staging"  # deliberately not matching *prod*: demo actions need no typed names


@dataclass(frozen=True)
class CertEntry:
    """One certificate the lab config watches: the SNI name, where it listens, the CA to trust."""

    host: str
    port: int
    ca_file: str


@dataclass(frozen=True)
class LabSettings:
    """Everything config.toml is rendered from."""

    kubeconfig: Path
    namespace: str
    deployment: str
    database_url: str  # the monitoring role's DSN (the lab: the superuser), database predictiq
    app_user: str
    app_database: str
    redis_url: str
    api_url: str
    admin_token: str
    certificates: tuple[CertEntry, ...]
    refresh_seconds: float = 2.0
    certificates_seconds: float = 3.0
    audit_path: str = ""
    metrics_seconds: float | None = None  # None: the refresh interval (drills show at once)


def _secret_ref(url: str, env_name: str, env: dict[str, str]) -> str:
    """The URL itself when it has no password, else a ${VAR} reference (value put in `env`)."""
    if urlsplit(url).password:
        env[env_name] = url
        return "${" + env_name + "}"
    return url


def render(settings: LabSettings) -> tuple[str, dict[str, str]]:
    """(config.toml text, the environment it needs)."""
    env = {TOKEN_ENV: settings.admin_token}
    doc: dict[str, Any] = {
        "kubernetes": {
            "context": KUBE_CONTEXT,
            "namespace": settings.namespace,
            "deployment": settings.deployment,
            "selector": f"app={settings.deployment}",
            "kubeconfig": str(settings.kubeconfig),
        },
        "database": {
            "url": _secret_ref(settings.database_url, DATABASE_ENV, env),
            "app_user": settings.app_user,
            "app_database": settings.app_database,
        },
        "cache": {"url": _secret_ref(settings.redis_url, REDIS_ENV, env)},
        # every simulated pod's own counters, through the simulator's pod proxy (apisim.pods)
        "api": {
            "base_url": settings.api_url,
            "token": "${" + TOKEN_ENV + "}",
            "metrics": {"scrape": "pods"},
        },
        "certificates": [
            {"host": c.host, "port": c.port, "address": "127.0.0.1", "ca_file": c.ca_file}
            for c in settings.certificates
        ],
        # pod metrics at the refresh rate (production default 10 s) so a drill shows within two
        # refreshes; the lab's metrics are cheap
        "refresh": {
            "interval_seconds": settings.refresh_seconds,
            "certificates_seconds": settings.certificates_seconds,
            "metrics_seconds": settings.metrics_seconds or settings.refresh_seconds,
            # kubelet summaries too (production default 60 s): the volume drill climbs in steps
            "disk_seconds": settings.metrics_seconds or settings.refresh_seconds,
        },
        # drill connections must count as idle within seconds, not the production 10 minutes
        "thresholds": {"idle_connection_seconds": 5.0},
        "audit": {"path": settings.audit_path},
    }
    header = (
        "# Written by the PredictIQ lab (`cockpit lab up` / `cockpit demo`); removed at teardown.\n"
        "# Secrets come from the environment: "
        f"set -a; . {settings.kubeconfig.parent / 'env'}; set +a\n"
    )
    return header + tomli_w.dumps(doc), env


def write_private(path: Path, text: str) -> None:
    """Write a file readable by its owner only (created 0600, never briefly world-readable)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.chmod(path, 0o600)  # an existing file keeps its old mode through O_CREAT


def write_env(path: Path, env: dict[str, str]) -> None:
    """DIR/env: `export NAME='value'` lines, mode 0600."""
    write_private(path, "".join(f"export {k}={shlex.quote(v)}\n" for k, v in env.items()))


def read_env(path: Path) -> dict[str, str]:
    """Parse DIR/env back (the inverse of write_env)."""
    env: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("export "):
            name, _, value = line.removeprefix("export ").partition("=")
            env[name] = shlex.split(value)[0] if value else ""
    return env


def write_info(path: Path, info: dict[str, Any]) -> None:
    """DIR/lab.json, mode 0600 (it holds the control token)."""
    write_private(path, json.dumps(info, indent=2) + "\n")


def read_info(path: Path) -> dict[str, Any]:
    """Read DIR/lab.json."""
    return json.loads(path.read_text(encoding="utf-8"))
