"""Helpers for the action tests: a config, a context and a counting PostgreSQL connector."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg

from actions.base import ActionContext
from actions.clients import Clients
from cockpit.audit.log import AuditLog
from cockpit.config import Config, parse_config
from cockpit.state import CockpitState


def make_config(**sections: Any) -> Config:
    """A validated Config from plain sections (as a TOML file would give them)."""
    return parse_config(sections, env={})


class CountingConnect:
    """psycopg's own async connect, counting calls by application_name (never a fake: every
    call opens a real connection)."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    async def __call__(self, url: str, **kwargs: Any) -> psycopg.AsyncConnection:
        self.calls.append(str(kwargs.get("application_name")))
        return await psycopg.AsyncConnection.connect(url, **kwargs)


def make_context(
    cfg: Config,
    audit_path: Path,
    state: CockpitState | None = None,
    connect: CountingConnect | None = None,
) -> ActionContext:
    """An ActionContext on real clients, auditing to `audit_path`."""
    return ActionContext(
        cfg=cfg,
        state=state or CockpitState(),
        audit=AuditLog(audit_path, "test"),
        clients=Clients(cfg, pg_connect=connect),
    )
