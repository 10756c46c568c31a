"""The SQL the PostgreSQL source runs, chosen by server_version_num (PostgreSQL 12 to 18).

Three round trips per collection: server facts (one row), client backends (one row each; every
breakdown is computed in Python from these), and pg_stat_statements (top by mean and by total in
one statement); a fourth, the database size, on a slow cadence. Every statement carries the COCKPIT_MARK comment (inside the
statement, where pg_stat_statements keeps it) so that the cockpit's
own statements can be left out of pg_stat_statements' top lists.
"""

from __future__ import annotations

COCKPIT_MARK = "/* predictiq-cockpit */"

# Longest text kept per query / statement: PostgreSQL's default track_activity_query_size is
# 1 kB, but it can be raised to 1 MB; the UI truncates further.
QUERY_TEXT_CAP = 4096


def server_facts_sql(server_version_num: int) -> str:
    """One row: version, uptime, connection limits and the pg_stat_statements extension's
    version (NULL when the extension is not installed in this database)."""
    # reserved_connections (for pg_use_reserved_connections) appeared in PostgreSQL 16
    reserved = ("current_setting('superuser_reserved_connections')::int"
                " + current_setting('reserved_connections')::int"
                if server_version_num >= 160000
                else "current_setting('superuser_reserved_connections')::int")
    return f"""SELECT {COCKPIT_MARK}
       current_setting('server_version') AS server_version,
       current_setting('server_version_num')::int AS server_version_num,
       extract(epoch FROM now() - pg_postmaster_start_time())::float8 AS uptime_seconds,
       current_setting('max_connections')::int AS max_connections,
       {reserved} AS reserved_connections,
       current_database() AS database,
       (SELECT extversion FROM pg_extension WHERE extname = 'pg_stat_statements')
           AS pg_stat_statements_version"""


def database_size_sql() -> str:
    """The current database's size in bytes (walks its files: run it on a slow cadence)."""
    return f"SELECT {COCKPIT_MARK} pg_database_size(current_database()) AS size"


# A role without pg_read_all_stats sees other roles' backends with every column NULL but pid,
# usesysid/usename, datid/datname and application_name, and this as their query. backend_type
# is NULL too, so a hidden client backend is told from a background process by having a user
# and a database (autovacuum and the launchers have no user; a background worker that connects
# as a role to a database, such as a parallel worker, is counted with the hidden backends).
INSUFFICIENT_PRIVILEGE = "<insufficient privilege>"
HIDDEN_STATE = "hidden (role lacks pg_read_all_stats)"  # what such a backend's state reads
HIDDEN_CLIENT_BACKEND = ("(backend_type IS NULL AND usesysid IS NOT NULL AND datid IS NOT NULL"
                         f" AND query = '{INSUFFICIENT_PRIVILEGE}')")


def activity_sql(server_version_num: int) -> str:
    """Every client backend but the cockpit's own, one row each (those of other roles whose
    columns the cockpit's role may not read included, with `hidden` true).

    pg_blocking_pids() takes the lock manager's locks, so it is only called for sessions that
    wait on a heavyweight lock (wait_event_type 'Lock'). pg_stat_activity has no duration
    column: durations are computed against now() here, on the server's clock.
    """
    del server_version_num  # the columns used exist unchanged from PostgreSQL 10 to 18
    return f"""SELECT {COCKPIT_MARK}
       pid,
       coalesce(usename, '') AS usename,
       coalesce(application_name, '') AS application_name,
       coalesce(host(client_addr), '') AS client_addr,
       coalesce(datname, '') AS datname,
       coalesce(state, '') AS state,
       left(coalesce(query, ''), {QUERY_TEXT_CAP}) AS query,
       backend_start,
       query_start,
       state_change,
       extract(epoch FROM now() - query_start)::float8 AS query_seconds,
       extract(epoch FROM now() - state_change)::float8 AS state_seconds,
       wait_event_type,
       wait_event,
       CASE WHEN wait_event_type = 'Lock' THEN pg_blocking_pids(pid) END AS blocked_by,
       (backend_type IS NULL AND query = '{INSUFFICIENT_PRIVILEGE}') AS hidden
FROM pg_stat_activity
WHERE (backend_type = 'client backend' OR {HIDDEN_CLIENT_BACKEND})
  AND pid <> pg_backend_pid()"""


def _version_tuple(version: str) -> tuple[int, ...]:
    parts: list[int] = []
    for piece in version.split("."):
        digits = "".join(ch for ch in piece if ch.isdigit())
        parts.append(int(digits) if digits else 0)
    return tuple(parts)


def statements_columns(server_version_num: int, extension_version: str | None) -> tuple[str, str]:
    """(total, mean) column names of pg_stat_statements.

    PostgreSQL 13 (extension 1.8) renamed total_time/mean_time to total_exec_time/mean_exec_time.
    A server upgraded to 13+ whose extension was never `ALTER EXTENSION ... UPDATE`d still has
    the old view, so the extension's own version decides when it is known.
    """
    new_names = server_version_num >= 130000
    if extension_version:
        new_names = new_names and _version_tuple(extension_version) >= (1, 8)
    return ("total_exec_time", "mean_exec_time") if new_names else ("total_time", "mean_time")


def top_statements_sql(server_version_num: int, extension_version: str | None,
                       limit: int) -> str:
    """Top `limit` statements of this database by mean and by total time, in one statement.

    Rows carry `kind` 'mean' or 'total'. The cockpit's own statements are left out.
    """
    total, mean = statements_columns(server_version_num, extension_version)
    limit = max(int(limit), 1)

    def part(kind: str, order: str) -> str:
        return f"""(SELECT '{kind}'::text AS kind, queryid,
        left(query, {QUERY_TEXT_CAP}) AS query, calls, {total}::float8 AS total_ms,
        {mean}::float8 AS mean_ms, rows
    FROM pg_stat_statements
    WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
      AND query NOT LIKE '%predictiq-cockpit%'
    ORDER BY {order} DESC
    LIMIT {limit})"""

    return f"""SELECT {COCKPIT_MARK} * FROM (
{part("mean", mean)}
UNION ALL
{part("total", total)}
) AS top_statements"""
