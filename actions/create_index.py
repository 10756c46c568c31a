"""Create index concurrently, from a sequential-scan finding; drop an invalid index it left.

`create_index` (selection {"table", "columns"} from the explain screen, or {"query"}: the query
is explained first and its sequential-scan finding proposes the columns) shows the table's size
and an estimated build time, sets lock_timeout ([database] lock_timeout_ms: CREATE INDEX
CONCURRENTLY waits for every older transaction), reports progress from
pg_stat_progress_create_index while it builds (`ctx.progress` lines start with "[ 42%]"),
and stops on `ctx.cancel` with pg_cancel_backend of the builder. A build that fails or is
cancelled leaves an INVALID index (pg_index.indisvalid = false): the outcome names it, and
`drop_invalid_index` removes it with DROP INDEX CONCURRENTLY.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping, Sequence
from typing import Any, LiteralString

from psycopg import sql

from actions.base import ActionContext, ActionError, Outcome, Plan
from actions.pg_common import db_config, display_target, fetch, host_context, psql
from cockpit.durations import duration
from cockpit.sources.postgres import queries as pg_queries
from cockpit.sources.postgres.explain import PlanError, first_seq_scan
from cockpit.sources.postgres.plans import explain

BUILD_MB_PER_SECOND = 30.0  # a cautious single-worker rate for the estimate
POLL_SECONDS = 0.05


def quote_ident(name: str) -> str:
    """An identifier quoted for SQL ("Weird Col" -> "\"Weird Col\"")."""
    return '"' + name.replace('"', '""') + '"'


LOCK_TIMEOUT_SQL: LiteralString = "SELECT set_config('lock_timeout', %s, false)"


def create_index_sql(index: str, table: str, columns: Sequence[str]) -> sql.Composed:
    """CREATE INDEX CONCURRENTLY of schema-qualified `index` on schema-qualified `table`,
    every name quoted by psycopg."""
    index_schema, _, index_name_ = index.partition(".")
    schema, _, relname = table.partition(".")
    del index_schema  # an index lives in its table's schema
    return sql.SQL("CREATE /* predictiq-cockpit */ INDEX CONCURRENTLY {} ON {}.{} ({})").format(
        sql.Identifier(index_name_),
        sql.Identifier(schema),
        sql.Identifier(relname),
        sql.SQL(", ").join(sql.Identifier(c) for c in columns),
    )


def index_name(table: str, columns: Sequence[str]) -> str:
    """<table>_<col>_<col>_idx, cut to PostgreSQL's 63 bytes."""
    raw = "_".join([table, *columns, "idx"])
    return re.sub(r"[^A-Za-z0-9_]", "_", raw).lower()[:63]


def progress_line(row: Sequence[Any]) -> str:
    """'[ 42%] building index: scanning table · blocks 420/1000 · tuples 0/0'."""
    phase, blocks_total, blocks_done, tuples_total, tuples_done, lockers_total, lockers_done = row
    fraction = 0.0
    if str(phase).startswith("waiting"):  # the counters still hold the previous phase's blocks
        fraction = lockers_done / lockers_total if lockers_total else 0.0
    elif "tuples" in str(phase) and tuples_total:
        fraction = tuples_done / tuples_total
    elif blocks_total:
        fraction = blocks_done / blocks_total
    elif tuples_total:
        fraction = tuples_done / tuples_total
    parts = [f"[{100 * fraction:3.0f}%] {phase}"]
    if lockers_total:
        parts.append(f"waiting for {lockers_total - lockers_done} of {lockers_total} transactions")
    parts += [f"blocks {blocks_done}/{blocks_total}", f"tuples {tuples_done}/{tuples_total}"]
    return " · ".join(parts)


async def _seq_scan_of(ctx: ActionContext, query: str) -> tuple[str, list[str]]:
    conn = await ctx.clients.pg_read()
    try:
        explained = await explain(conn, query)
    except PlanError as exc:
        raise ActionError(f"cannot explain the query: {exc}") from None
    finally:
        await conn.close()
    finding = first_seq_scan(explained.plan)
    if finding is None or finding.relation is None:
        raise ActionError(
            "the plan has no sequential scan filtering a large table: no index to propose"
        )
    return finding.relation, list(finding.columns)


class CreateIndexAction:
    """CREATE INDEX CONCURRENTLY on the filter's columns of a sequential scan."""

    id = "create_index"
    key = "I"
    description = "Create index concurrently for the selected query's sequential scan"
    label = "index"
    mutating = True
    footer = False  # the 80-column footer is full; in help and the palette
    source = "database"
    scope = "database"

    async def plan(self, ctx: ActionContext, selection: Mapping[str, Any] | None) -> Plan:
        """The table's size, the index, its estimated build time, and invalid leftovers."""
        db = db_config(ctx)
        sel = selection or {}
        table, columns = str(sel.get("table") or ""), [str(c) for c in sel.get("columns") or ()]
        if not table or not columns:
            if not sel.get("query"):
                raise ActionError(
                    "select a query (database pane or statements) or explain one first"
                )
            table, columns = await _seq_scan_of(ctx, str(sel["query"]))
        conn = await ctx.clients.pg_read()
        try:
            facts = await fetch(conn, pg_queries.TABLE_FACTS_SQL, {"table": table})
            invalid = (
                await fetch(conn, pg_queries.INVALID_INDEXES_SQL, {"table": table}) if facts else []
            )
            open_now = await fetch(conn, pg_queries.OPEN_TRANSACTIONS_SQL)
        finally:
            await conn.close()
        if not facts:
            raise ActionError(f"no table {table} in this database")
        schema, relname, size, tuples, attributes = facts[0]
        missing = [c for c in columns if c not in attributes]
        if missing:
            raise ActionError(f"{relname} has no column {', '.join(missing)}")
        name = index_name(str(relname), columns)
        if any(row[1] == name for row in invalid):
            raise ActionError(
                f"an invalid index {name} is left from a failed build: drop it first "
                "(Drop invalid index)"
            )
        qualified = f"{quote_ident(schema)}.{quote_ident(relname)}"
        sql = (
            f"CREATE INDEX CONCURRENTLY {quote_ident(name)} ON {qualified} "
            f"({', '.join(quote_ident(c) for c in columns)})"
        )
        estimate = size / (BUILD_MB_PER_SECOND * 1024 * 1024)
        effect = [
            f"create index {name} on {schema}.{relname} ({', '.join(columns)}), concurrently: "
            "writes go on while it builds",
            f"table {size / 1024 / 1024:,.1f} MB, {tuples:,.0f} rows: "
            f"build ≈ {max(estimate, 1):,.0f} s "
            f"(at ~{BUILD_MB_PER_SECOND:g} MB/s)",
            f"lock_timeout {db.lock_timeout_ms} ms: it waits for every older transaction first",
            (
                "a failed or cancelled build leaves an INVALID index, "
                "offered for DROP INDEX CONCURRENTLY"
            ),
        ]
        effect += [f"already invalid on this table: {row[1]}" for row in invalid]
        if open_now:
            pid, seconds, query = open_now[0]
            effect.append(
                f"WAIT: {len(open_now)} transaction{'s' if len(open_now) != 1 else ''} open now "
                f"(oldest pid {pid}, {duration(seconds)}: {' '.join(str(query).split())[:60]}); "
                f"the build waits for them and fails after lock_timeout: end them first"
            )
        where = host_context(ctx)
        return Plan(
            action=self.id,
            title=f"Create index {name}",
            target=f"{display_target(ctx)} {schema}.{relname}",
            effect=tuple(effect),
            command=psql(ctx, f"SET lock_timeout = {db.lock_timeout_ms}; {sql}"),
            danger="medium",
            source=self.source,
            requires_typed_name=relname if where["production"] else None,
            before={
                "table_bytes": size,
                "table_rows": tuples,
                "invalid_indexes": [r[1] for r in invalid],
                "open_transactions": [r[0] for r in open_now],
            },
            expected_after={"index": name, "valid": True},
            params={
                "sql": sql,
                "index": f"{schema}.{name}",
                "table": f"{schema}.{relname}",
                "columns": columns,
                "lock_timeout_ms": db.lock_timeout_ms,
            },
            timeout_seconds=min(max(120.0, 20 * estimate), 6 * 3600.0),
            **where,
        )

    async def execute(self, ctx: ActionContext, plan: Plan) -> Outcome:
        """Build, following progress; cancel on request; report an invalid leftover."""
        builder = await ctx.clients.pg_action()
        monitor = await ctx.clients.pg_read()
        index = str(plan.params["index"])
        cancelled = False
        seen: list[str] = []
        try:
            await builder.execute("SET statement_timeout = 0")  # the executor's timeout bounds it
            await builder.execute(LOCK_TIMEOUT_SQL, [str(int(plan.params["lock_timeout_ms"]))])
            pid = builder.info.backend_pid
            build = asyncio.ensure_future(
                builder.execute(
                    create_index_sql(
                        str(plan.params["index"]),
                        str(plan.params["table"]),
                        [str(c) for c in plan.params["columns"]],
                    )
                )
            )
            try:
                while not build.done():
                    await asyncio.wait({build}, timeout=POLL_SECONDS)
                    if ctx.cancel is not None and ctx.cancel.is_set() and not cancelled:
                        cancelled = True
                        await monitor.execute("SELECT pg_cancel_backend(%s)", [pid])
                    rows = await fetch(monitor, pg_queries.INDEX_PROGRESS_SQL, {"pid": pid})
                    if rows and (line := progress_line(rows[0])) not in seen[-1:]:
                        seen.append(line)
                        if ctx.progress is not None:
                            ctx.progress(line)
                error = build.exception()
            except asyncio.CancelledError:
                await monitor.execute("SELECT pg_cancel_backend(%s)", [pid])
                raise
            state = await fetch(monitor, pg_queries.INDEX_STATE_SQL, {"index": index})
        finally:
            await builder.close()
            await monitor.close()
        valid = bool(state and state[0][0])
        after = {"index": index, "valid": valid, "progress": seen[-20:]}
        if error is None and valid:
            return Outcome("ok", f"index {index} built and valid", after=after)
        why = "cancelled" if cancelled else f"failed: {' '.join(str(error).split())}"
        if state and not valid:
            after["invalid_index"] = index
            return Outcome(
                "failed",
                f"build {why}; it left the INVALID index {index}: drop it with "
                "DROP INDEX CONCURRENTLY (Drop invalid index)",
                after=after,
                error=why,
            )
        return Outcome("failed", f"build {why}; no index left", after=after, error=why)


class DropInvalidIndexAction:
    """DROP INDEX CONCURRENTLY of an index a failed build left INVALID."""

    id = "drop_invalid_index"
    key = "D"
    description = "Drop an invalid index left by a failed build"
    mutating = True
    source = "database"
    scope = "explain"  # offered from the explain screen only (see actions.registry.SCREEN_ACTIONS)

    async def plan(self, ctx: ActionContext, selection: Mapping[str, Any] | None) -> Plan:
        """The named invalid index ({"index"}), or the first of the table ({"table"}) or
        database."""
        db = db_config(ctx)
        sel = selection or {}
        conn = await ctx.clients.pg_read()
        try:
            rows = await fetch(conn, pg_queries.INVALID_INDEXES_SQL, {"table": sel.get("table")})
        finally:
            await conn.close()
        wanted = str(sel.get("index") or "")
        rows = [r for r in rows if not wanted or wanted in (r[1], f"{r[0]}.{r[1]}")]
        if not rows:
            raise ActionError(f"no invalid index{' ' + wanted if wanted else ''} in this database")
        schema, name, table, size = rows[0]
        sql = f"DROP INDEX CONCURRENTLY {quote_ident(schema)}.{quote_ident(name)}"
        where = host_context(ctx)
        return Plan(
            action=self.id,
            title=f"Drop invalid index {name}",
            target=f"{display_target(ctx)} {schema}.{name}",
            effect=(
                (
                    f"drop the INVALID index {schema}.{name} on {table} "
                    f"({size / 1024:,.0f} kB), concurrently"
                ),
                "it is not used by any query (invalid), but every write still maintains it",
            ),
            command=psql(ctx, f"SET lock_timeout = {db.lock_timeout_ms}; {sql}"),
            danger="medium",
            source=self.source,
            requires_typed_name=name if where["production"] else None,
            params={"sql": sql, "index": f"{schema}.{name}", "lock_timeout_ms": db.lock_timeout_ms},
            timeout_seconds=120.0,
            **where,
        )

    async def execute(self, ctx: ActionContext, plan: Plan) -> Outcome:
        """DROP INDEX CONCURRENTLY, then check it is gone."""
        conn = await ctx.clients.pg_action()
        try:
            await conn.execute("SET statement_timeout = 0")
            await conn.execute(LOCK_TIMEOUT_SQL, [str(int(plan.params["lock_timeout_ms"]))])
            schema, _, name = str(plan.params["index"]).partition(".")
            await conn.execute(
                sql.SQL("DROP INDEX CONCURRENTLY {}.{}").format(
                    sql.Identifier(schema), sql.Identifier(name)
                )
            )
            left = await fetch(conn, pg_queries.INDEX_STATE_SQL, {"index": plan.params["index"]})
        finally:
            await conn.close()
        if left:
            return Outcome("failed", f"{plan.params['index']} is still there", error="not dropped")
        return Outcome(
            "ok", f"dropped {plan.params['index']}", after={"dropped": plan.params["index"]}
        )
