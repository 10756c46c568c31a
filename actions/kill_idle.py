"""Kill idle connections: pg_terminate_backend for client backends of the configured database and
role that have been `idle` longer than thresholds.idle_connection_seconds.

Only state 'idle' is targeted, not 'idle in transaction': terminating those rolls back open work,
which is a different decision than freeing slots held by a leaking pool (the runbook's intent).
The plan lists the exact pids; the execution terminates only those pids that STILL meet every
condition, in the same statement, so a connection that became active in between is skipped.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from actions.base import ActionContext, Outcome, Plan
from actions.pg_common import (
    SAFE_BACKEND,
    column_bool,
    column_float,
    column_int,
    column_text,
    display_target,
    fetch,
    host_context,
    psql,
    scope,
)
from cockpit.durations import duration

CONDITIONS = (
    SAFE_BACKEND + " AND state = 'idle' AND datname = %(db)s AND usename = %(user)s"
    " AND now() - state_change > make_interval(secs => %(secs)s)"
)

PLAN_SQL = (
    "SELECT pid, usename, application_name, coalesce(client_addr::text, ''),"
    " extract(epoch FROM now() - state_change)::float8 FROM pg_stat_activity"
    f" WHERE {CONDITIONS} ORDER BY state_change"
)

USAGE_SQL = (
    "SELECT count(*) FILTER (WHERE backend_type = 'client backend'),"
    " current_setting('max_connections')::int FROM pg_stat_activity"
)

EXECUTE_SQL = (
    "SELECT pid, pg_terminate_backend(pid) FROM pg_stat_activity"
    f" WHERE pid = ANY(%(pids)s) AND {CONDITIONS}"
)

MAX_LISTED = 20  # the confirmation lists this many; the audit keeps every pid


class KillIdleAction:
    """Terminate idle connections over the threshold, exactly those the plan listed."""

    id = "kill_idle"
    key = "k"
    description = "Kill idle database connections"
    mutating = True
    source = "database"

    async def plan(self, ctx: ActionContext, selection: Mapping[str, Any] | None) -> Plan:
        """Query pg_stat_activity now (read-only session) for the exact pids."""
        database, user = scope(ctx)
        secs = float(ctx.cfg.thresholds.idle_connection_seconds)
        args = {"db": database, "user": user, "secs": secs}
        conn = await ctx.clients.pg_read()
        try:
            rows = await fetch(conn, PLAN_SQL, args)
            usage = (await fetch(conn, USAGE_SQL))[0]
        finally:
            await conn.close()
        used, max_conn = column_int(usage, 0), max(column_int(usage, 1), 1)
        victims: list[dict[str, Any]] = [
            {
                "pid": column_int(r, 0),
                "user": column_text(r, 1),
                "application": column_text(r, 2),
                "client": column_text(r, 3),
                "idle_seconds": round(column_float(r, 4), 1),
            }
            for r in rows
        ]
        n = len(victims)
        effect = [
            f"terminate {n} idle connection{'s' if n != 1 else ''} (idle > {duration(secs)}, "
            f"user {user}, database {database})",
            f"connections {used}/{max_conn} ({100 * used / max_conn:.0f}%) → "
            f"{used - n}/{max_conn} ({100 * (used - n) / max_conn:.0f}%) expected",
        ]
        effect += [
            (
                f"  pid {v['pid']}  {v['user']}  {v['application'] or '-'}  "
                f"idle {duration(v['idle_seconds'])}"
            )
            for v in victims[:MAX_LISTED]
        ]
        if n > MAX_LISTED:
            effect.append(f"  … and {n - MAX_LISTED} more")
        if n == 0:
            effect.append("nothing to do: no connection is idle over the threshold right now")
        where = host_context(ctx)
        sql = EXECUTE_SQL.replace(
            "%(pids)s", "ARRAY[" + ",".join(str(v["pid"]) for v in victims) + "]"
        )
        sql = (
            sql.replace("%(db)s", f"'{database}'")
            .replace("%(user)s", f"'{user}'")
            .replace("%(secs)s", f"{secs:g}")
        )
        return Plan(
            action=self.id,
            title=f"Kill {n} idle connections on {database}",
            target=display_target(ctx),
            effect=tuple(effect),
            command=psql(ctx, sql),
            danger="high" if n > 50 else "medium",
            source=self.source,
            requires_typed_name=database if where["production"] else None,
            before={"connections": used, "max_connections": max_conn, "idle_over_threshold": n},
            expected_after={"connections": used - n},
            params={
                "pids": [v["pid"] for v in victims],
                "database": database,
                "user": user,
                "idle_seconds": secs,
                "victims": victims,
            },
            nothing_to_do=n == 0,
            **where,
        )

    async def execute(self, ctx: ActionContext, plan: Plan) -> Outcome:
        """Terminate the planned pids that still qualify; report what actually happened."""
        pids = [int(p) for p in plan.params["pids"]]
        if not pids:
            return Outcome(
                "ok",
                "nothing to do: no idle connection over the threshold",
                after={"terminated": 0},
            )
        args = {
            "pids": pids,
            "db": plan.params["database"],
            "user": plan.params["user"],
            "secs": float(plan.params["idle_seconds"]),
        }
        conn = await ctx.clients.pg_action()
        try:
            rows = await fetch(conn, EXECUTE_SQL, args)
        finally:
            await conn.close()
        signalled = [(column_int(r, 0), column_bool(r, 1)) for r in rows]
        terminated = sorted(pid for pid, ok in signalled if ok)
        skipped = sorted(
            set(pids) - {pid for pid, _ in signalled}
        )  # gone, or active again: not an error
        failed = sorted(
            pid for pid, ok in signalled if not ok
        )  # vanished between the check and the signal
        if not rows and pids:
            message = f"terminated 0 of {len(pids)}: all had ended or become active meanwhile"
        else:
            message = f"terminated {len(terminated)} of {len(pids)} idle connections"
            if skipped or failed:
                message += f" ({len(skipped) + len(failed)} already gone or active again: skipped)"
        return Outcome(
            "ok",
            message,
            after={"terminated": terminated, "skipped": skipped + failed, "count": len(terminated)},
        )
