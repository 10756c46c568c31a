"""What the PostgreSQL actions share: which database and role they are limited to, the safety
conditions every signalled backend must meet, and the displayed (password-free) target."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, LiteralString

from actions.base import ActionContext, ActionError
from cockpit.config import DatabaseConfig, mask_dsn

if TYPE_CHECKING:
    from psycopg import AsyncConnection
    from psycopg.rows import TupleRow

# Every backend an action signals must satisfy this: a client backend (never autovacuum, WAL
# sender, ...), not our own session, and not one of the cockpit's sessions (monitoring, plans).
SAFE_BACKEND = (
    "backend_type = 'client backend' AND pid <> pg_backend_pid()"
    " AND application_name NOT LIKE 'predictiq-cockpit%%'"
)


def db_config(ctx: ActionContext) -> DatabaseConfig:
    """The [database] section, or ActionError."""
    if ctx.cfg.database is None:
        raise ActionError("no [database] section in the config")
    return ctx.cfg.database


def scope(ctx: ActionContext) -> tuple[str, str]:
    """(database, user) kill-idle is limited to: configured, else those of the URL."""
    from psycopg.conninfo import conninfo_to_dict

    db = db_config(ctx)
    info = conninfo_to_dict(db.url)
    database = db.app_database or str(info.get("dbname") or "")
    user = db.app_user or str(info.get("user") or "")
    if not database or not user:
        raise ActionError("set database.app_database and database.app_user (the URL names neither)")
    return database, user


def display_target(ctx: ActionContext) -> str:
    """postgresql://user@host:port/db with no password: what the confirmation names."""
    from psycopg.conninfo import conninfo_to_dict

    info = conninfo_to_dict(db_config(ctx).url)
    host = info.get("host") or "localhost"
    port = info.get("port") or "5432"
    return mask_dsn(f"postgresql://{info.get('user', '')}@{host}:{port}/{info.get('dbname', '')}")


def psql(ctx: ActionContext, sql: str) -> str:
    """The equivalent psql command (the password is never part of it)."""
    from psycopg.conninfo import conninfo_to_dict

    info = conninfo_to_dict(db_config(ctx).url)
    parts = ["psql"]
    for flag, key in (("-h", "host"), ("-p", "port"), ("-U", "user"), ("-d", "dbname")):
        if info.get(key):
            parts += [flag, str(info[key])]
    one_line = " ".join(sql.replace("%%", "%").split())
    return " ".join(parts) + f' -c "{one_line}"'


async def fetch(
    conn: AsyncConnection[TupleRow], sql: LiteralString, params: Mapping[str, object] | None = None
) -> list[TupleRow]:
    """Run one statement and return its rows (read each column with `column_*` below: a SQL
    NULL arrives as None)."""
    cur = await conn.execute(sql, params or {})
    return await cur.fetchall()


def column_int(row: TupleRow, i: int, default: int = 0) -> int:
    """Column `i` as an int; NULL or a non-number gives `default`."""
    value: object = row[i]
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def column_float(row: TupleRow, i: int, default: float = 0.0) -> float:
    """Column `i` as a float; NULL or a non-number gives `default`."""
    value: object = row[i]
    if isinstance(value, bool) or not isinstance(value, int | float):
        return default
    return float(value)


def column_text(row: TupleRow, i: int) -> str:
    """Column `i` as text; NULL gives ''."""
    value: object = row[i]
    return "" if value is None else str(value)


def column_bool(row: TupleRow, i: int) -> bool:
    """Column `i` as a boolean; NULL is False."""
    return row[i] is True


def host_context(ctx: ActionContext) -> dict[str, Any]:
    """Plan header for database actions: the kube context too when configured (production is the
    whole stack), so the operator sees where they are."""
    target = ctx.target
    return {
        "context": target.context if target else "",
        "cluster": target.cluster if target else "",
        "namespace": target.namespace if target else "",
        "production": ctx.is_production(),
    }
