"""A team store for tests: a database of its own on the harness's PostgreSQL, migrated, with a live
role and a read-only role named per store (so parallel workers never collide); the database and
both roles are dropped at the end."""

from __future__ import annotations

import dataclasses
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

import psycopg
from psycopg import sql

from cockpit.audit.log import AuditLog
from cockpit.config import TeamConfig
from cockpit.team.schema import grant_statements, migrate
from cockpit.team.sync import TeamSync
from tests.conftest import PgHandle


def with_db_and_user(url: str, dbname: str, user: str | None = None, password: str = "") -> str:
    """`url` pointing at `dbname`, as `user` (with `password`) when given."""
    parts = urlsplit(url)
    netloc = parts.netloc.rpartition("@")[2]
    if user is None:
        netloc = parts.netloc
    else:
        netloc = f"{quote(user)}:{quote(password)}@{netloc}"
    return urlunsplit(parts._replace(netloc=netloc, path=f"/{dbname}"))


class TeamStore:
    """`owner_url` (the admin: migrations), `live_url` and `wall_url` (the two roles)."""

    def __init__(self, admin_url: str) -> None:
        tag = secrets.token_hex(4)
        self.admin_url = admin_url
        self.dbname = f"cockpit_team_{tag}"
        self.live_role, self.wall_role = f"ct_live_{tag}", f"ct_wall_{tag}"
        self.password = secrets.token_hex(8)
        self.owner_url = with_db_and_user(admin_url, self.dbname)
        self.live_url = with_db_and_user(admin_url, self.dbname, self.live_role, self.password)
        self.wall_url = with_db_and_user(admin_url, self.dbname, self.wall_role, self.password)

    def create(self) -> TeamStore:
        with psycopg.connect(self.admin_url, connect_timeout=5, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(self.dbname)))
            for role in (self.live_role, self.wall_role):
                conn.execute(
                    sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                        sql.Identifier(role), sql.Literal(self.password)
                    )
                )
        with psycopg.connect(self.owner_url, connect_timeout=5, autocommit=True) as conn:
            migrate(conn)
            for statement in grant_statements(self.live_role, self.wall_role):
                conn.execute(statement)
        return self

    def drop(self) -> None:
        with psycopg.connect(self.admin_url, connect_timeout=5, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                    sql.Identifier(self.dbname)
                )
            )
            for role in (self.live_role, self.wall_role):
                conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))

    def query(self, text: str, params: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
        """Rows of one query, as the owner."""
        with psycopg.connect(self.owner_url, connect_timeout=5, autocommit=True) as conn:
            cur = conn.execute(text.encode(), params)
            return cur.fetchall() if cur.description else []


@contextmanager
def team_store(pg: PgHandle) -> Iterator[TeamStore]:
    """A created store on `pg`'s server, dropped (with its roles) afterwards."""
    store = TeamStore(pg.admin_url).create()
    try:
        yield store
    finally:
        store.drop()


def team_config(url: str, **overrides: object) -> TeamConfig:
    """A TeamConfig on `url` with short timeouts and a fast heartbeat for tests."""
    base = TeamConfig(
        url=url, connect_timeout_seconds=2.0, statement_timeout_ms=2000, heartbeat_seconds=1.0
    )
    return dataclasses.replace(base, **overrides)


@contextmanager
def cockpit_sync(
    url: str, log: Path, *, read_only: bool = False, operator: str = "alice"
) -> Iterator[TeamSync]:
    """A started TeamSync on `log` (an AuditLog of its own), stopped afterwards."""
    sync = TeamSync(
        team_config(url), AuditLog(log), read_only=read_only, context="lab", operator=operator
    )
    sync.start()
    try:
        yield sync
    finally:
        sync.stop()
