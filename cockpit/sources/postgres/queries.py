"""The SQL the PostgreSQL source and the database actions run, chosen by server_version_num
(PostgreSQL 12 to 18).

One statement per collection (`activity_summary_sql`: server facts, counts over every client
backend, full rows for a window, the lock sample when due); pg_stat_statements on its own
cadence (top by mean and by total in one statement); the database size on a slow one. Every
statement carries the COCKPIT_MARK comment (inside the statement, where pg_stat_statements
keeps it) so that the cockpit's own statements can be left out of the top lists and measured
by bench/bench_pg_load.py.
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
    reserved = (
        "current_setting('superuser_reserved_connections')::int"
        " + current_setting('reserved_connections')::int"
        if server_version_num >= 160000
        else "current_setting('superuser_reserved_connections')::int"
    )
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
HIDDEN_CLIENT_BACKEND = (
    "(backend_type IS NULL AND usesysid IS NOT NULL AND datid IS NOT NULL"
    f" AND query = '{INSUFFICIENT_PRIVILEGE}')"
)


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


def top_statements_sql(server_version_num: int, extension_version: str | None, limit: int) -> str:
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


def activity_summary_sql(
    server_version_num: int,
    *,
    window: int,
    slow_seconds: float,
    idle_seconds: float,
    with_locks: bool = False,
    over_cap: int = 500,
) -> str:
    """One statement, one row: the server facts, every count over all client backends, full
    rows (a JSON array) only for the sessions worth showing, and, when `with_locks`, the lock
    sample (see `lock_sample_sql`) from the same snapshot of the backends.

    The backends are read once, narrow, from pg_stat_get_activity(NULL) itself rather than the
    pg_stat_activity view (the view joins pg_authid and pg_database for every backend). The
    counts are one pass grouping on (state, role, application, client, idle over the threshold)
    together, summed per dimension by the source; roles are named for these few groups only.
    Full rows: the `window` first in the table's default order (running statements first,
    longest first, then the longest idle: the longest idle over `idle_seconds` among them), and
    the running ones over `slow_seconds` and the lock waiters (at most `over_cap`); each is read
    again by pid (pg_stat_get_activity keeps its snapshot for the transaction). At 1,000 idle
    connections this sends 25 rows instead of a thousand (bench/bench_pg_load.py).
    """
    window, over_cap = max(int(window), 1), max(int(over_cap), 1)
    slow, idle = float(slow_seconds), float(idle_seconds)
    facts = server_facts_sql(server_version_num).split(COCKPIT_MARK, 1)[1]
    running = "(state NOT LIKE 'idle%' AND state NOT IN ('', 'disabled'))"
    idle_over = f"(state LIKE 'idle%' AND state_change < now() - interval '1 second' * {idle})"
    started = f"CASE WHEN {running} THEN query_start WHEN state LIKE 'idle%' THEN state_change END"
    locks_cte = locks_col = ""
    if with_locks:
        locks_cte = """, w AS MATERIALIZED (
    SELECT pid, pg_blocking_pids(pid) AS blocked_by FROM a WHERE wait_event_type = 'Lock'
)"""
        locks_col = f""",
    (SELECT json_agg({_row_json("s", "coalesce(w.blocked_by, '{}')")})
     FROM (SELECT pid FROM w UNION SELECT unnest(blocked_by) FROM w) l
     CROSS JOIN LATERAL pg_stat_get_activity(l.pid) s LEFT JOIN w ON w.pid = s.pid
     LEFT JOIN pg_roles r ON r.oid = s.usesysid LEFT JOIN pg_database d ON d.oid = s.datid)
        AS locks"""
    return f"""WITH a AS MATERIALIZED (
    SELECT pid, usesysid, coalesce(application_name, '') AS application_name, client_addr,
           coalesce(state, '') AS state, query_start, state_change, wait_event_type
    FROM pg_stat_get_activity(NULL)
    WHERE (backend_type = 'client backend' OR {HIDDEN_CLIENT_BACKEND}) AND pid <> pg_backend_pid()
), picked AS MATERIALIZED (
    (SELECT pid FROM a ORDER BY {running} DESC, {started} NULLS LAST, pid LIMIT {window})
    UNION (SELECT pid FROM a
           WHERE ({running} AND query_start < now() - interval '1 second' * {slow})
              OR wait_event_type = 'Lock'
           LIMIT {over_cap})
){locks_cte}
SELECT {COCKPIT_MARK} {facts},
    (SELECT json_agg(json_build_array(g.state, r.rolname, g.application_name,
                                      host(g.client_addr), g.idle_over, g.n)) FROM (
        SELECT state, usesysid, application_name, client_addr, {idle_over} AS idle_over,
               count(*)::int AS n
        FROM a GROUP BY 1, 2, 3, 4, 5) g
     LEFT JOIN pg_roles r ON r.oid = g.usesysid) AS counts,
    (SELECT json_agg({_row_json("s")})
     FROM picked p CROSS JOIN LATERAL pg_stat_get_activity(p.pid) s
     LEFT JOIN pg_roles r ON r.oid = s.usesysid LEFT JOIN pg_database d ON d.oid = s.datid)
        AS rows{locks_col}"""


# The columns of a JSON row, in this order (json_build_array is cheaper than an object).
ROW_FIELDS = (
    "pid",
    "usename",
    "application_name",
    "client_addr",
    "datname",
    "state",
    "query",
    "backend_start",
    "query_start",
    "state_change",
    "query_seconds",
    "state_seconds",
    "wait_event_type",
    "wait_event",
    "blocked_by",
)


def _row_json(s: str, blocked_by: str = "NULL::int[]") -> str:
    return f"""json_build_array({s}.pid, coalesce(r.rolname::text, ''),
        coalesce({s}.application_name, ''), coalesce(host({s}.client_addr), ''),
        coalesce(d.datname::text, ''), coalesce({s}.state, ''),
        left(coalesce({s}.query, ''), {QUERY_TEXT_CAP}),
        extract(epoch FROM {s}.backend_start)::float8, extract(epoch FROM {s}.query_start)::float8,
        extract(epoch FROM {s}.state_change)::float8,
        extract(epoch FROM now() - {s}.query_start)::float8,
        extract(epoch FROM now() - {s}.state_change)::float8,
        {s}.wait_event_type, {s}.wait_event, {blocked_by})"""


def lock_sample_sql() -> str:
    """Every session in a lock chain: the waiters (wait_event_type 'Lock', with
    pg_blocking_pids()) and every pid they wait for, one row each. pg_blocking_pids() takes the
    lock manager's locks, so this runs on its own cadence ([database] locks_seconds)."""
    return f"""WITH w AS MATERIALIZED (
    SELECT pid, pg_blocking_pids(pid) AS blocked_by FROM pg_stat_activity
    WHERE wait_event_type = 'Lock' AND pid <> pg_backend_pid()
)
SELECT {COCKPIT_MARK} a.pid, coalesce(a.usename, '') AS usename,
       coalesce(a.application_name, '') AS application_name,
       coalesce(host(a.client_addr), '') AS client_addr, coalesce(a.datname, '') AS datname,
       coalesce(a.state, '') AS state, left(coalesce(a.query, ''), {QUERY_TEXT_CAP}) AS query,
       extract(epoch FROM a.backend_start)::float8 AS backend_start,
       extract(epoch FROM a.query_start)::float8 AS query_start,
       extract(epoch FROM a.state_change)::float8 AS state_change,
       extract(epoch FROM now() - a.query_start)::float8 AS query_seconds,
       extract(epoch FROM now() - a.state_change)::float8 AS state_seconds,
       a.wait_event_type, a.wait_event, coalesce(w.blocked_by, '{{}}') AS blocked_by
FROM pg_stat_activity a LEFT JOIN w ON w.pid = a.pid
WHERE a.pid IN (SELECT pid FROM w UNION SELECT unnest(blocked_by) FROM w)"""


def statements_sql(server_version_num: int, extension_version: str | None, limit: int) -> str:
    """Top `limit` statements of this database by mean and by total time, each row with every
    statement's total time in the database (for the share), in one statement."""
    total, _ = statements_columns(server_version_num, extension_version)
    base = top_statements_sql(server_version_num, extension_version, limit)
    return base.replace(
        "SELECT " + COCKPIT_MARK + " * FROM (",
        f"SELECT {COCKPIT_MARK} *, (SELECT sum({total})::float8 FROM pg_stat_statements"
        " WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())"
        " AND query NOT LIKE '%predictiq-cockpit%') AS all_total_ms FROM (",
        1,
    )


# -- indexes (actions/create_index.py) ---------------------------------------------------------

TABLE_FACTS_SQL = f"""SELECT {COCKPIT_MARK} n.nspname, c.relname, pg_relation_size(c.oid)::bigint,
       greatest(c.reltuples, 0)::float8,
       array(SELECT attname::text FROM pg_attribute
             WHERE attrelid = c.oid AND attnum > 0 AND NOT attisdropped ORDER BY attnum)
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.oid = to_regclass(%(table)s) AND c.relkind IN ('r', 'p', 'm')"""

INVALID_INDEXES_SQL = f"""SELECT {COCKPIT_MARK} n.nspname, i.relname, t.relname,
       pg_relation_size(i.oid)::bigint
FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid
JOIN pg_namespace n ON n.oid = i.relnamespace
WHERE NOT x.indisvalid AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND (%(table)s::text IS NULL OR x.indrelid = to_regclass(%(table)s))
ORDER BY n.nspname, i.relname"""

INDEX_STATE_SQL = f"""SELECT {COCKPIT_MARK} x.indisvalid FROM pg_index x
WHERE x.indexrelid = to_regclass(%(index)s)"""

INDEX_PROGRESS_SQL = f"""SELECT {COCKPIT_MARK} phase, blocks_total, blocks_done, tuples_total,
       tuples_done, lockers_total, lockers_done
FROM pg_stat_progress_create_index WHERE pid = %(pid)s"""

OPEN_TRANSACTIONS_SQL = f"""SELECT {COCKPIT_MARK} pid,
       extract(epoch FROM now() - xact_start)::float8 AS seconds, left(query, 120)
FROM pg_stat_activity
WHERE datname = current_database() AND xact_start IS NOT NULL AND pid <> pg_backend_pid()
  AND backend_type = 'client backend' AND now() - xact_start > interval '1 second'
ORDER BY xact_start"""
