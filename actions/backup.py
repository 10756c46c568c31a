"""Back up the database: `pg_dump -Fc` of the application database into [backup] directory,
with a progress line (bytes written), then verified as the checklist's backup check does
(`pg_restore --list` and a full read, cockpit/checklists/backup.py), audited with the file's
path, size and sha256.

pg_dump comes from [backup] pg_dump or is the newest found (PATH, /usr/lib/postgresql/*/bin,
the embedded server's); one older than the server is refused with the reason, because it cannot
dump a newer server. The password never reaches the command line: it goes to pg_dump through
PGPASSWORD in its environment.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from actions.base import ActionContext, ActionError, Outcome, Plan
from actions.pg_common import db_config, display_target, fetch, host_context, scope
from cockpit.checklists.backup import find_pg_restore, find_pg_tool, tool_version, verify_dump
from cockpit.sources.postgres.queries import COCKPIT_MARK

PROGRESS_SECONDS = 0.5
SERVER_SQL = (
    f"SELECT {COCKPIT_MARK} current_setting('server_version_num')::int,"
    " pg_database_size(current_database())"
)


def _conninfo(ctx: ActionContext, database: str) -> tuple[list[str], dict[str, str]]:
    """pg_dump's connection flags and the environment carrying the password."""
    from psycopg.conninfo import conninfo_to_dict

    info = conninfo_to_dict(db_config(ctx).url)
    flags: list[str] = []
    for flag, key in (("--host", "host"), ("--port", "port"), ("--username", "user")):
        if info.get(key):
            flags.append(f"{flag}={info[key]}")
    flags.append(f"--dbname={database}")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    if info.get("password"):
        env["PGPASSWORD"] = str(info["password"])
    if info.get("sslmode"):
        env["PGSSLMODE"] = str(info["sslmode"])
    return flags, env


def sha256_of(path: Path) -> str:
    """The file's sha256, hex (read in 1 MB chunks)."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


class BackupDatabaseAction:
    """pg_dump -Fc, verified, audited with path, size and sha256."""

    id = "backup_database"
    key = "B"
    description = "Back up the database (pg_dump -Fc, verified)"
    label = "backup"
    mutating = True
    footer = False  # the 80-column footer is full; in help and the palette
    source = "database"

    async def plan(self, ctx: ActionContext, selection: Mapping[str, Any] | None) -> Plan:
        """Where the dump goes, with which pg_dump, and how big the database is."""
        database, _ = scope(ctx)
        backup = ctx.cfg.backup
        if not backup.directory:
            raise ActionError("set [backup] directory: where the dumps go")
        directory = Path(backup.directory).expanduser()
        if not directory.is_dir():
            raise ActionError(f"[backup] directory {directory} does not exist")
        pg_dump = backup.pg_dump or await asyncio.to_thread(find_pg_tool, "pg_dump")
        if not pg_dump:
            raise ActionError(
                "no pg_dump found: install the PostgreSQL client or set [backup] pg_dump"
            )
        dump_version = await asyncio.to_thread(tool_version, pg_dump)
        conn = await ctx.clients.pg_read()
        try:
            server_num, size = (await fetch(conn, SERVER_SQL))[0]
        finally:
            await conn.close()
        if not dump_version:
            raise ActionError(f"{pg_dump} does not run (pg_dump --version failed)")
        if dump_version[0] < server_num // 10000:
            raise ActionError(
                f"{pg_dump} is version {'.'.join(map(str, dump_version))}, older than the "
                f"server ({server_num // 10000}): it cannot dump it; set [backup] pg_dump "
                "to a newer one"
            )
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        suffix = backup.pattern.rsplit("*", 1)[-1] if "*" in backup.pattern else ".dump"
        path = directory / f"{database}-{stamp}{suffix}"
        flags, _ = _conninfo(ctx, database)
        command = " ".join([pg_dump, "--format=custom", *flags, f"--file={path}"])
        where = host_context(ctx)
        return Plan(
            action=self.id,
            title=f"Back up {database}",
            target=display_target(ctx),
            effect=(
                f"pg_dump -Fc of {database} ({size / 1024 / 1024:,.1f} MB on disk) into {path}",
                f"with {pg_dump} (version {'.'.join(map(str, dump_version))})",
                "then verified: pg_restore --list and a full read of every data block",
                "the database is only read (one repeatable-read transaction)",
            ),
            command=command,
            danger="low",
            source=self.source,
            before={"database_bytes": size},
            expected_after={"verified": True},
            params={"pg_dump": pg_dump, "path": str(path), "database": database},
            timeout_seconds=6 * 3600.0,
            **where,
        )

    async def execute(self, ctx: ActionContext, plan: Plan) -> Outcome:
        """Dump, report bytes written while it runs, verify, hash."""
        path = Path(str(plan.params["path"]))
        flags, env = _conninfo(ctx, str(plan.params["database"]))
        proc = await asyncio.create_subprocess_exec(
            str(plan.params["pg_dump"]),
            "--format=custom",
            *flags,
            f"--file={path}",
            "--no-password",
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
            env=env,
        )
        waiter = asyncio.ensure_future(proc.communicate())
        try:
            while not waiter.done():
                await asyncio.wait({waiter}, timeout=PROGRESS_SECONDS)
                if ctx.progress is not None and path.exists():
                    ctx.progress(f"pg_dump: {path.stat().st_size:,} bytes written")
            _, stderr = waiter.result()
        except asyncio.CancelledError:
            proc.kill()
            raise
        if proc.returncode != 0:
            error = (
                " ".join(stderr.decode(errors="replace").split())[:300] or f"exit {proc.returncode}"
            )
            path.unlink(missing_ok=True)
            return Outcome("failed", f"pg_dump failed: {error}", error=error)
        size = path.stat().st_size
        pg_restore = await asyncio.to_thread(find_pg_restore)
        if pg_restore is None:
            check_state, evidence = "unknown", "no pg_restore found to verify it"
        else:
            check = await asyncio.to_thread(verify_dump, path, pg_restore)
            check_state, evidence = check.state, check.evidence
        digest = await asyncio.to_thread(sha256_of, path)
        after = {
            "path": str(path),
            "size": size,
            "sha256": digest,
            "verified": check_state == "pass",
            "verification": evidence,
        }
        if check_state != "pass":
            return Outcome(
                "failed",
                f"dump written ({size:,} bytes) but not verified: {evidence}",
                after=after,
                error=evidence,
            )
        return Outcome(
            "ok",
            f"{path} written ({size:,} bytes, sha256 {digest[:12]}…) and verified: {evidence}",
            after=after,
        )
