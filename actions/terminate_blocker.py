"""Terminate the root blocker of a lock chain (from the blocking tree; selection {"pid": N}).

The plan takes a fresh lock sample (one pg_blocking_pids() pass over the waiting sessions), so
it shows how many sessions wait behind the pid now and how many terminating it would let go
on (a session that also waits for another blocker keeps waiting). Client backends only, never
the cockpit's own sessions, as for every signal.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, LiteralString, cast

from actions.base import ActionContext, ActionError, Outcome, Plan
from actions.pg_common import SAFE_BACKEND, display_target, fetch, host_context, psql
from cockpit.durations import duration
from cockpit.models import DbConnection
from cockpit.sources.postgres.locks import epoch_datetime, lock_tree
from cockpit.sources.postgres.queries import ROW_FIELDS, lock_sample_sql

# the sample's columns are the window rows' (queries.ROW_FIELDS), in that order
_COLUMNS = ROW_FIELDS


def _session(row: tuple[Any, ...]) -> DbConnection:
    r = dict(zip(_COLUMNS, row, strict=True))
    idle = str(r["state"]).startswith("idle")
    return DbConnection(
        pid=int(r["pid"]),
        user=str(r["usename"]),
        application=str(r["application_name"]),
        client_addr=str(r["client_addr"]),
        database=str(r["datname"]),
        state=str(r["state"]),
        query=str(r["query"]),
        backend_start=epoch_datetime(r["backend_start"]),
        query_start=epoch_datetime(r["query_start"]),
        state_change=epoch_datetime(r["state_change"]),
        query_seconds=None if idle else r["query_seconds"],
        idle_seconds=r["state_seconds"] if idle else None,
        wait_event_type=r["wait_event_type"],
        wait_event=r["wait_event"],
        blocked_by=tuple(int(p) for p in r["blocked_by"] or ()),
    )


async def lock_sessions(ctx: ActionContext) -> list[DbConnection]:
    """A fresh lock sample through a read-only session."""
    conn = await ctx.clients.pg_read()
    try:
        # cast: built from constants only (the mark, the text cap); no value is spliced in
        sample = cast(LiteralString, lock_sample_sql())
        return [_session(tuple(row)) for row in await fetch(conn, sample)]
    finally:
        await conn.close()


class TerminateBlockerAction:
    """pg_terminate_backend of a blocker, with the sessions it holds up."""

    id = "terminate_blocker"
    key = "X"
    description = "Terminate the root blocker"
    mutating = True
    source = "database"
    scope = "locks"  # offered from the blocking tree only (see actions.registry.SCREEN_ACTIONS)

    async def plan(self, ctx: ActionContext, selection: Mapping[str, Any] | None) -> Plan:
        """The pid's place in the live tree: waiting behind it, freed by terminating it."""
        try:
            pid = int((selection or {})["pid"])
        except (KeyError, TypeError, ValueError):
            raise ActionError("select a blocker in the blocking tree first") from None
        sessions = await lock_sessions(ctx)
        nodes = {n.pid: n for tree in lock_tree(sessions) for n in _walk(tree)}
        node = nodes.get(pid)
        if node is None or node.behind == 0:
            raise ActionError(f"pid {pid} blocks no session any more")
        c = node.session
        how_long = c.idle_seconds if c.state.startswith("idle") else c.query_seconds
        where = host_context(ctx)
        effect = (
            f"terminate pid {pid} ({c.user}@{c.database}, "
            f"{c.application or 'no application name'}, "
            f"{c.state} for {duration(how_long or 0)}); its open transaction is rolled back",
            f"{node.behind} session{'s' if node.behind != 1 else ''} wait behind it; "
            f"terminating it releases {node.frees}"
            + (
                f" ({node.behind - node.frees} also wait for another blocker)"
                if node.frees < node.behind
                else ""
            ),
            f"query: {' '.join(c.query.split())[:160]}",
        )
        return Plan(
            action=self.id,
            title=f"Terminate root blocker pid {pid}",
            target=f"{display_target(ctx)} pid {pid}",
            effect=effect,
            command=psql(ctx, f"SELECT pg_terminate_backend({pid})"),
            danger="high",
            source=self.source,
            requires_typed_name=str(pid) if where["production"] else None,
            before={
                "pid": pid,
                "state": c.state,
                "waiting_behind": node.behind,
                "frees": node.frees,
            },
            expected_after={"released": node.frees},
            params={"pid": pid},
            **where,
        )

    async def execute(self, ctx: ActionContext, plan: Plan) -> Outcome:
        """Signal the pid if it is still a client backend the cockpit may signal."""
        pid = int(plan.params["pid"])
        sql = (
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            f"WHERE pid = %(pid)s AND {SAFE_BACKEND}"
        )
        conn = await ctx.clients.pg_action()
        try:
            rows = await fetch(conn, sql, {"pid": pid})
        finally:
            await conn.close()
        if not rows or not rows[0][0]:
            return Outcome(
                "ok", f"pid {pid} had already ended", after={"pid": pid, "signalled": False}
            )
        return Outcome(
            "ok",
            f"pg_terminate_backend({pid}) sent; {plan.before.get('frees', 0)} "
            "session(s) should go on",
            after={"pid": pid, "signalled": True},
        )


def _walk(node: Any) -> list[Any]:
    out = [node]
    for child in node.waiters:
        out += _walk(child)
    return out
