"""What the PostgreSQL source sees when its role lacks pg_read_all_stats: other roles' backends
are rows with NULL columns (and '<insufficient privilege>' as their query). They still count."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

import psycopg
import pytest

from cockpit.config import DatabaseConfig, ThresholdsConfig
from cockpit.models import DbActivity
from cockpit.sources.postgres.source import HIDDEN_STATE, PostgresSource
from tests.integration.test_source_postgres import collect_until

OTHERS_APP = "visibility-test-others"
COCKPIT = str(Path(sys.executable).parent / "cockpit")


def with_user(url: str, user: str, password: str) -> str:
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{quote(user)}:{quote(password)}@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


@pytest.fixture
def limited_role(pg) -> Iterator[str]:
    """A login role without pg_read_all_stats (created here, dropped after); yields its URL."""
    name, password = f"cockpit_limited_{secrets.token_hex(3)}", secrets.token_hex(12)
    admin = pg.connect(pg.admin_url)
    admin.execute(f"CREATE ROLE \"{name}\" LOGIN PASSWORD '{password}'")
    admin.execute(f'GRANT CONNECT ON DATABASE "{pg.dbname}" TO "{name}"')
    try:
        yield with_user(pg.url, name, password)
    finally:
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s", (name,)
        )
        admin.execute(f'REVOKE CONNECT ON DATABASE "{pg.dbname}" FROM "{name}"')
        admin.execute(f'DROP ROLE IF EXISTS "{name}"')


@pytest.fixture
def others(pg) -> Iterator[list[psycopg.Connection]]:
    """Four backends of the admin role in the test database: three idle, one running a query."""
    conns = [pg.connect(application_name=OTHERS_APP) for _ in range(4)]
    busy = conns[0]
    worker = threading.Thread(target=lambda: _sleep(busy), daemon=True)
    worker.start()
    probe = pg.connect(pg.admin_url)
    try:
        for _ in range(200):
            row = probe.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s"
                " AND state = 'active'",
                (OTHERS_APP,),
            ).fetchone()
            if row and row[0] >= 1:
                break
            threading.Event().wait(0.02)
        yield conns
    finally:
        busy.cancel_safe()
        worker.join(10)


def _sleep(conn: psycopg.Connection) -> None:
    try:
        conn.execute("SELECT pg_sleep(60)")
    except psycopg.Error:
        pass  # cancelled at teardown


async def test_backends_of_other_roles_count_and_say_they_are_hidden(pg, limited_role, others):
    source = PostgresSource(DatabaseConfig(url=limited_role), ThresholdsConfig(), timeout=5.0)
    try:
        snap = await collect_until(source, lambda s: s.hidden >= len(others))
    finally:
        await source.aclose()
    assert isinstance(snap, DbActivity)
    hidden = [c for c in snap.connections if c.hidden]
    assert len(hidden) == snap.hidden >= len(others)
    assert snap.total == len(snap.connections) >= len(others)
    assert snap.by_state.get(HIDDEN_STATE, 0) == snap.hidden
    for c in hidden:
        assert c.state == HIDDEN_STATE and c.query == "" and c.query_seconds is None
        assert isinstance(c.user, str) and isinstance(c.client_addr, str)
    assert snap.visibility_note is not None and "pg_read_all_stats" in snap.visibility_note


def test_snapshot_total_counts_the_hidden_backends(tmp_path, pg, limited_role, others):
    path = tmp_path / "cockpit.toml"
    path.write_text(f'[refresh]\ntimeout_seconds = 5\n[database]\nurl = "{limited_role}"\n')
    env = {k: v for k, v in os.environ.items() if k != "COCKPIT_CONFIG"}
    proc = subprocess.run(
        [COCKPIT, "snapshot", "--json", "--interval", "0", "--config", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr
    db = json.loads(proc.stdout)["database"]
    assert db["ok"] is True
    assert db["hidden"] >= len(others) and db["total"] >= db["hidden"]
    assert db["by_state"][HIDDEN_STATE] == db["hidden"]
    assert "pg_read_all_stats" in db["visibility_note"]
