"""`cockpit team init`: create or migrate the team store's schema and set up its two roles.

    cockpit team init --url postgresql://admin@db/cockpit            # schema; prints the GRANTs
    cockpit team init --url ... --create-roles DIR                   # + roles, grants, env files

Run it as the database's owner (an admin URL: `--url`, else $COCKPIT_TEAM_ADMIN_URL, else the
config's `[team] url`). It is idempotent: run twice, it changes nothing the second time. With
`--create-roles DIR` it also creates the live and read-only roles (when missing) with random
passwords, runs the GRANTs, and writes DIR/live.env and DIR/wall.env (mode 0600) holding
COCKPIT_TEAM_URL for each; the passwords are never printed.
Exit codes: 0 done, 2 bad input or the store refused.
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
from pathlib import Path
from typing import TextIO
from urllib.parse import quote, urlsplit, urlunsplit

import psycopg
from psycopg import sql

from cockpit.audit.cli import cmd_verify, resolve_path
from cockpit.audit.log import mask_text
from cockpit.config import ConfigError, find_config_path, load_config
from cockpit.team.schema import check_role_name, grant_statements, migrate
from cockpit.team.verify import verify_team

ADMIN_URL_ENV = "COCKPIT_TEAM_ADMIN_URL"
CONFIG_SNIPPET = """\
# the config of every cockpit of the team (wall screens add read_only = true):
[team]
url = "${COCKPIT_TEAM_URL}"
"""


def _admin_url(args: argparse.Namespace) -> str:
    if args.url:
        return str(args.url)
    if os.environ.get(ADMIN_URL_ENV):
        return os.environ[ADMIN_URL_ENV]
    cfg = load_config(find_config_path(args.config))
    if cfg.team is None:
        raise ConfigError(
            f"no team store: pass --url, set ${ADMIN_URL_ENV}, or add [team] url to the config",
            path=cfg.source_path,
        )
    return cfg.team.url


def _role_url(admin_url: str, role: str, password: str) -> str:
    parts = urlsplit(admin_url)
    if not parts.scheme.startswith("postgres"):
        raise ValueError("--create-roles needs a postgresql:// URL (to write the roles' URLs)")
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{quote(role)}:{quote(password)}@{host}"))


def _create_roles(
    conn: psycopg.Connection[tuple[object, ...]], admin_url: str, roles: list[str], out_dir: Path
) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for role, name in zip(roles, ("live", "wall"), strict=True):
        password = secrets.token_urlsafe(18)
        exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone()
        verb = "ALTER" if exists else "CREATE"
        conn.execute(
            sql.SQL(verb + " ROLE {} LOGIN PASSWORD {}").format(
                sql.Identifier(role), sql.Literal(password)
            )
        )
        path = out_dir / f"{name}.env"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(f"COCKPIT_TEAM_URL={_role_url(admin_url, role, password)}\n")
        written.append(path)
    return written


def cmd_init(args: argparse.Namespace, out: TextIO) -> int:
    """Migrate, then print (or, with --create-roles, run) the roles' set-up."""
    try:
        roles = [check_role_name(args.live_role), check_role_name(args.read_role)]
        admin_url = _admin_url(args)
    except ValueError as exc:
        print(f"cockpit: error: {exc}", file=sys.stderr)
        return 2
    shown = mask_text(admin_url)
    try:
        with psycopg.connect(admin_url, connect_timeout=5, autocommit=True) as conn:
            done = migrate(conn)
            grants = grant_statements(*roles)
            files: list[Path] = []
            if args.create_roles:
                files = _create_roles(conn, admin_url, roles, Path(args.create_roles))
                for statement in grants:
                    conn.execute(statement)
            rendered = [statement.as_string(conn) for statement in grants]
    except (psycopg.Error, OSError, ValueError) as exc:
        reason = mask_text(" ".join(str(exc).split()))
        print(f"cockpit: error: team store {shown}: {reason}", file=sys.stderr)
        return 2
    applied = ", ".join(done.applied) if done.applied else "nothing to do"
    print(f"team store {shown}: schema cockpit at version {done.after} ({applied})", file=out)
    if files:
        print(f"roles {roles[0]} (live) and {roles[1]} (read-only) ready, granted;", file=out)
        for path in files:
            print(f"  {path} (mode 0600): set -a; . {path}; set +a", file=out)
    else:
        print("-- create the roles once (choose the passwords), then grant:", file=out)
        print(f"CREATE ROLE {roles[0]} LOGIN PASSWORD '…';", file=out)
        print(f"CREATE ROLE {roles[1]} LOGIN PASSWORD '…';", file=out)
        for line in rendered:
            print(f"{line};", file=out)
    print(CONFIG_SNIPPET, end="", file=out)
    return 0


def _verify_team(path: Path, args: argparse.Namespace, out: TextIO) -> int:
    """The local log against the team store: exit 0 matching, 1 naming the first
    difference, 2 no team store configured or reachable."""
    cfg = load_config(find_config_path(getattr(args, "config", None)))
    if cfg.team is None:
        print(
            'cockpit: error: --team needs a [team] section (url = "${COCKPIT_TEAM_URL}") in '
            f"{cfg.source_path}",
            file=sys.stderr,
        )
        return 2
    try:
        verdict = verify_team(path, cfg.team)
    except psycopg.Error as exc:
        reason = mask_text(" ".join(str(exc).split()))
        print(f"cockpit: error: cannot read the team store: {reason}", file=sys.stderr)
        return 2
    if verdict.ok:
        print(f"{path}: team store OK, {verdict.reason}", file=out)
        return 0
    print(f"{path}: DIFFERS from the team store: {verdict.reason}", file=out)
    return 1


def verify_main(args: argparse.Namespace) -> int:
    """`cockpit audit verify --team`: the local chain first, then the team store's copy."""
    try:
        code = cmd_verify(args, sys.stdout)
        if code != 0:
            return code
        return _verify_team(resolve_path(args), args, sys.stdout)
    except ConfigError as exc:
        print(f"cockpit: error: {exc}", file=sys.stderr)
        return 2


def main(args: argparse.Namespace) -> int:
    """Dispatch `cockpit team <init>`."""
    try:
        return {"init": cmd_init}[args.team_command](args, sys.stdout)
    except ConfigError as exc:
        print(f"cockpit: error: {exc}", file=sys.stderr)
        return 2
