"""Explain analyze: EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) of a query, which runs it for real.

Behind a confirmation that says so, inside BEGIN … ROLLBACK with statement_timeout =
[database] explain_timeout_ms, refused in read-only mode (the executor) and for anything but a
single SELECT / WITH … SELECT unless the operator types the query's first word (DELETE,
UPDATE, ...): its changes are rolled back, but it does its work and takes its locks while it
runs. A SELECT runs in a read-only session, anything else in the write-capable one.
Selection: {"query": text} (a row of the database pane or of the statements view).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from actions.base import ActionContext, ActionError, Outcome, Plan
from actions.pg_common import db_config, display_target, host_context, psql
from cockpit.sources.postgres.explain import PlanError, first_seq_scan, render_lines
from cockpit.sources.postgres.plans import (
    explain_analyze,
    first_word,
    is_single_select,
    parameter_count,
    single_statement,
)

MAX_AUDITED_LINES = 200


class ExplainAnalyzeAction:
    """Run the selected query under EXPLAIN ANALYZE and roll it back."""

    id = "explain_analyze"
    key = "E"
    description = "Explain analyze the selected query (runs it, then rolls back)"
    label = "analyze"
    mutating = True
    footer = False  # the 80-column footer is full; in help and the palette
    source = "database"
    scope = "database"

    async def plan(self, ctx: ActionContext, selection: Mapping[str, Any] | None) -> Plan:
        """Check the statement; a non-SELECT needs its first word typed."""
        db = db_config(ctx)
        try:
            query = single_statement(str((selection or {}).get("query") or ""))
        except PlanError as exc:
            raise ActionError(str(exc)) from None
        if parameter_count(query):
            raise ActionError(
                "the statement has $n parameters (pg_stat_statements' normalised text): "
                "EXPLAIN ANALYZE needs real values; `e` shows its generic plan"
            )
        word = first_word(query)
        select = is_single_select(query)
        where = host_context(ctx)
        effect = [
            f"runs the statement for real inside BEGIN … ROLLBACK "
            f"(statement_timeout {db.explain_timeout_ms} ms)",
            f"query: {' '.join(query.split())[:300]}",
        ]
        if not select:
            effect.append(
                f"it is a {word or 'statement'}, not a SELECT: its changes are rolled back, "
                "but it does all its work and holds its locks while it runs; "
                f"type {word} to confirm"
            )
        typed = None if select and not where["production"] else (word or "EXPLAIN")
        return Plan(
            action=self.id,
            title=f"Explain analyze ({word or '?'})",
            target=display_target(ctx),
            effect=tuple(effect),
            command=psql(
                ctx,
                f"BEGIN; SET LOCAL statement_timeout = {db.explain_timeout_ms}; "
                f"EXPLAIN (ANALYZE, BUFFERS) {query}; ROLLBACK",
            ),
            danger="medium" if select else "high",
            source=self.source,
            requires_typed_name=typed,
            params={"query": query, "select": select, "timeout_ms": db.explain_timeout_ms},
            timeout_seconds=db.explain_timeout_ms / 1000.0 + 10.0,
            **where,
        )

    async def execute(self, ctx: ActionContext, plan: Plan) -> Outcome:
        """EXPLAIN ANALYZE inside a transaction that is always rolled back."""
        query = str(plan.params["query"])
        select = bool(plan.params["select"])
        conn = await (ctx.clients.pg_read() if select else ctx.clients.pg_action())
        try:
            explained = await explain_analyze(conn, query, int(plan.params["timeout_ms"]))
        except PlanError as exc:
            return Outcome("failed", f"not explained: {exc}", error=str(exc))
        finally:
            await conn.close()
        parsed = explained.plan
        lines = render_lines(parsed)
        hottest = parsed.nodes[parsed.hottest].node_type if parsed.hottest is not None else None
        message = (
            f"executed in {parsed.execution_ms or 0:,.1f} ms and rolled back; "
            f"{len(parsed.findings)} finding{'s' if len(parsed.findings) != 1 else ''}"
        )
        return Outcome(
            "ok",
            message,
            after={
                "execution_ms": parsed.execution_ms,
                "rolled_back": True,
                "hottest": hottest,
                "findings": [f.text for f in parsed.findings],
                "lines": lines[:MAX_AUDITED_LINES],
                "seq_scan": (
                    {"table": scan.relation, "columns": list(scan.columns)}
                    if (scan := first_seq_scan(parsed)) is not None
                    else None
                ),
            },
        )
