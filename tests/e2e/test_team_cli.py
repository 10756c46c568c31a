"""`cockpit team init` and `cockpit audit verify --team` run as an operator would, against a real
PostgreSQL: the schema twice (idempotent), the roles and their env files, and a local log
rewritten with recomputed hashes, which passes the local check and is caught by the team one."""

from __future__ import annotations

import json
import os
import secrets
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from cockpit.audit.log import GENESIS, AuditLog, entry_hash, read_entries
from tests.conftest import PgHandle
from tests.integration.team_helpers import cockpit_sync, with_db_and_user
from tests.waiting import wait_for

ROOT = Path(__file__).resolve().parents[2]


def cockpit(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cockpit.cli", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "COCKPIT_CONFIG": "/nonexistent/cockpit.toml", **(env or {})},
        timeout=60,
        cwd=ROOT,
    )


class Fresh:
    """A database with no schema and two role names nobody else uses."""

    def __init__(self, pg: PgHandle) -> None:
        tag = secrets.token_hex(4)
        self.pg = pg
        self.dbname = f"cockpit_team_e2e_{tag}"
        self.live, self.wall = f"cte_live_{tag}", f"cte_wall_{tag}"
        self.admin_url = with_db_and_user(pg.admin_url, self.dbname)


@pytest.fixture
def fresh(pg: PgHandle) -> Iterator[Fresh]:
    f = Fresh(pg)
    with psycopg.connect(pg.admin_url, autocommit=True, connect_timeout=5) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(f.dbname)))
    try:
        yield f
    finally:
        with psycopg.connect(pg.admin_url, autocommit=True, connect_timeout=5) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(f.dbname))
            )
            for role in (f.live, f.wall):
                conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))


def _init(fresh: Fresh, *extra: str) -> subprocess.CompletedProcess[str]:
    return cockpit(
        "team", "init", "--url", fresh.admin_url,
        "--live-role", fresh.live, "--read-role", fresh.wall, *extra,
    )  # fmt: skip


def _url(env_file: Path) -> str:
    return env_file.read_text().strip().partition("=")[2]


def _config(tmp_path: Path, name: str, log: Path, read_only: bool = False) -> Path:
    path = tmp_path / f"{name}.toml"
    path.write_text(
        f"read_only = {'true' if read_only else 'false'}\n"
        f"[audit]\npath = {json.dumps(str(log))}\n"
        '[team]\nurl = "${COCKPIT_TEAM_URL}"\n'
    )
    return path


def test_init_prints_the_grants_and_is_idempotent(fresh: Fresh) -> None:
    first = _init(fresh)
    assert first.returncode == 0, first.stderr
    assert "schema cockpit at version 1 (1: " in first.stdout
    assert f'GRANT INSERT ON cockpit.entries TO "{fresh.live}"' in first.stdout
    assert f'"{fresh.wall}" SET default_transaction_read_only = on' in first.stdout
    assert 'url = "${COCKPIT_TEAM_URL}"' in first.stdout
    again = _init(fresh)
    assert again.returncode == 0 and "at version 1 (nothing to do)" in again.stdout


def test_init_creates_the_roles_and_their_env_files_without_printing_passwords(
    fresh: Fresh, tmp_path: Path
) -> None:
    out = _init(fresh, "--create-roles", str(tmp_path / "env"))
    assert out.returncode == 0, out.stderr
    live_env, wall_env = tmp_path / "env" / "live.env", tmp_path / "env" / "wall.env"
    for env_file in (live_env, wall_env):
        assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
        password = _url(env_file).split("@")[0].rpartition(":")[2]
        assert password and password not in out.stdout + out.stderr
    with psycopg.connect(_url(live_env), autocommit=True, connect_timeout=5) as conn:
        conn.execute("SELECT count(*) FROM cockpit.entries")
    with psycopg.connect(_url(wall_env), autocommit=True, connect_timeout=5) as conn:
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            conn.execute("DELETE FROM cockpit.presence")


def test_bad_role_name_and_unreachable_store_exit_2_with_one_line(closed_port: int) -> None:
    out = cockpit("team", "init", "--url", "postgresql://x@127.0.0.1/db", "--live-role", "A;B")
    assert out.returncode == 2 and "role name 'A;B'" in out.stderr
    url = f"postgresql://admin:hunter2@127.0.0.1:{closed_port}/cockpit"
    out = cockpit("team", "init", "--url", url)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert "hunter2" not in out.stderr and "admin:***@" in out.stderr


def _rewrite(log: Path, line_no: int, **changes: object) -> None:
    """Change one entry and recompute every hash after it (and the head file): what someone
    who can write the file can do, and what the local check cannot see."""
    entries = read_entries(log)
    entries[line_no - 1].update(changes)
    prev = GENESIS
    lines = []
    for e in entries:
        e["prev"] = prev
        e["hash"] = entry_hash(e)
        prev = e["hash"]
        lines.append(json.dumps(e, ensure_ascii=True, separators=(",", ":")))
    log.write_text("\n".join(lines) + "\n")
    log.with_name(log.name + ".head").write_text(
        json.dumps({"seq": entries[-1]["seq"], "hash": prev})
    )


def test_verify_team_catches_a_log_rewritten_with_recomputed_hashes(
    fresh: Fresh, tmp_path: Path
) -> None:
    assert _init(fresh, "--create-roles", str(tmp_path / "env")).returncode == 0
    live_url = _url(tmp_path / "env" / "live.env")
    log = tmp_path / "audit.jsonl"
    with cockpit_sync(live_url, log) as sync:
        for text in ("restarting", "rolled back", "healthy"):
            sync.audit.record("incident.note", incident_id="INC-20260101-0001", text=text)
        wait_for(lambda: not sync.status().pending_upload and sync.status().online)
    cfg = _config(tmp_path, "live", log)
    env = {"COCKPIT_TEAM_URL": live_url}
    ok = cockpit("audit", "verify", "--team", "--config", str(cfg), env=env)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "team store OK, 3 entries match" in ok.stdout

    _rewrite(log, 2, text="nothing happened")
    local = cockpit("audit", "verify", "--config", str(cfg), env=env)
    assert local.returncode == 0 and "not detectable locally" in local.stdout
    caught = cockpit("audit", "verify", "--team", "--config", str(cfg), env=env)
    assert caught.returncode == 1
    assert "line 2 (seq 2) differs from the team store's copy (text differ)" in caught.stdout

    # an entry deleted from the log (and the chain recomputed) is named too
    entries = read_entries(log)
    log.write_text("")
    AuditLog(log)  # nothing to add: rewrite lines 1 and 3 only, chained again
    _write_chain(log, [entries[0], entries[2]])
    caught = cockpit("audit", "verify", "--team", "--config", str(cfg), env=env)
    assert caught.returncode == 1 and "differs from the team store" in caught.stdout


def _write_chain(log: Path, entries: list[dict]) -> None:
    prev = GENESIS
    lines = []
    for seq, e in enumerate(entries, start=1):
        e.update(seq=seq, prev=prev)
        e["hash"] = entry_hash(e)
        prev = e["hash"]
        lines.append(json.dumps(e, ensure_ascii=True, separators=(",", ":")))
    log.write_text("\n".join(lines) + "\n")
    log.with_name(log.name + ".head").write_text(json.dumps({"seq": len(entries), "hash": prev}))


def test_verify_team_without_a_team_section_exits_2(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    AuditLog(log).record("note", text="x")
    cfg = tmp_path / "c.toml"
    cfg.write_text(f"[audit]\npath = {json.dumps(str(log))}\n")
    out = cockpit("audit", "verify", "--team", "--config", str(cfg))
    assert out.returncode == 2 and "--team needs a [team] section" in out.stderr
