"""Cancel or terminate one backend chosen in the database pane (selection: {"pid": N}).

`cancel_query` (key x) asks the backend to stop its current statement (pg_cancel_backend): the
session survives. `terminate_query` (key X) ends the session (pg_terminate_backend). Both keep
to client backends, never the cockpit's own sessions. The keys are offered from the database
pane's connection list only (registry scope "database"); `c` belongs to the checklists screen.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, LiteralString

from actions.base import ActionContext, ActionError, Outcome, Plan
from actions.pg_common import (
    SAFE_BACKEND,
    column_bool,
    column_float,
    column_text,
    display_target,
    fetch,
    host_context,
    psql,
)
from cockpit.durations import duration

LOOKUP_SQL = (
    "SELECT pid, usename, application_name, datname, state, left(query, 200),"
    " extract(epoch FROM now() - coalesce(query_start, backend_start))::float8"
    f" FROM pg_stat_activity WHERE pid = %(pid)s AND {SAFE_BACKEND}"
)


class _SignalBackend:
    """Shared plan/execute for the two signals."""

    id = ""
    key = ""
    description = ""
    function: LiteralString = ""  # spliced into the SQL: only ever one of the two names below
    verb = ""
    mutating = True
    source = "database"
    scope = "database"

    async def plan(self, ctx: ActionContext, selection: Mapping[str, Any] | None) -> Plan:
        """Look the pid up now; refuse one that is not a client backend or is the cockpit's."""
        try:
            pid = int((selection or {})["pid"])
        except (KeyError, TypeError, ValueError):
            raise ActionError("select a connection in the database pane first") from None
        conn = await ctx.clients.pg_read()
        try:
            rows = await fetch(conn, LOOKUP_SQL, {"pid": pid})
        finally:
            await conn.close()
        if not rows:
            raise ActionError(
                f"pid {pid} is gone, or is not a client backend the cockpit may signal"
            )
        row = rows[0]
        user, app, database, state = (column_text(row, i) for i in range(1, 5))
        query, seconds = column_text(row, 5), column_float(row, 6)
        where = host_context(ctx)
        effect = (
            f"{self.verb} pid {pid} ({user}@{database}, {app or 'no application name'}, "
            f"{state}, for {duration(seconds)})",
            f"query: {' '.join(query.split())[:160]}",
        )
        return Plan(
            action=self.id,
            title=f"{self.description}: pid {pid}",
            target=f"{display_target(ctx)} pid {pid}",
            effect=effect,
            command=psql(ctx, f"SELECT {self.function}({pid})"),
            danger="high" if self.function == "pg_terminate_backend" else "medium",
            source=self.source,
            requires_typed_name=str(pid) if where["production"] else None,
            before={"pid": pid, "state": state, "user": user, "application": app},
            expected_after={"pid": pid, "signalled": True},
            params={"pid": pid},
            **where,
        )

    async def execute(self, ctx: ActionContext, plan: Plan) -> Outcome:
        """Signal the pid if it is still a safe target; a pid already gone is not an error."""
        pid = int(plan.params["pid"])
        sql = (
            f"SELECT {self.function}(pid) FROM pg_stat_activity "
            f"WHERE pid = %(pid)s AND {SAFE_BACKEND}"
        )
        conn = await ctx.clients.pg_action()
        try:
            rows = await fetch(conn, sql, {"pid": pid})
        finally:
            await conn.close()
        if not rows or not column_bool(rows[0], 0):
            return Outcome(
                "ok",
                f"pid {pid} had already ended: nothing to {self.verb}",
                after={"pid": pid, "signalled": False},
            )
        return Outcome("ok", f"{self.function}({pid}) sent", after={"pid": pid, "signalled": True})


class CancelQueryAction(_SignalBackend):
    """pg_cancel_backend: stop the running statement, keep the session."""

    id = "cancel_query"
    key = "x"
    description = "Cancel the selected query"
    function = "pg_cancel_backend"
    verb = "cancel the query of"


class TerminateQueryAction(_SignalBackend):
    """pg_terminate_backend: end the selected session."""

    id = "terminate_query"
    key = "X"
    description = "Terminate the selected connection"
    function = "pg_terminate_backend"
    verb = "terminate"
