"""Running EXPLAIN: the statement text checked, the right EXPLAIN for the server and for a
statement with `$1` parameters, the plan parsed with the sizes of the tables it reads.

Plain EXPLAIN runs in a read-only session with the short statement_timeout; EXPLAIN ANALYZE is
an action (actions/explain_analyze.py) that calls `explain_analyze` inside BEGIN … ROLLBACK.
Every EXPLAIN is sent as a prepared statement (psycopg `prepare=True`): PostgreSQL refuses
several commands in one prepared statement, so a query text carrying `; DROP TABLE …` cannot
smuggle a second statement in.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from cockpit.config import DatabaseConfig
from cockpit.sources.postgres.explain import (
    ExplainedPlan,
    PlanError,
    parse_plan,
    plans_of,
    relations,
)
from cockpit.sources.postgres.queries import COCKPIT_MARK

EXPLAIN_APPLICATION_NAME = "predictiq-cockpit-explain"
TABLE_ROWS_SQL = (
    f"SELECT {COCKPIT_MARK} relname, reltuples::float8 FROM pg_class"
    " WHERE relkind IN ('r', 'p', 'm') AND relname = ANY(%s)"
)


def _strip(query: str) -> str:
    """The query without string literals, quoted identifiers and comments (for the checks)."""
    text = re.sub(r"/\*.*?\*/", " ", query, flags=re.S)
    text = re.sub(r"--[^\n]*", " ", text)
    text = re.sub(r"'(?:[^']|'')*'", "''", text)
    text = re.sub(r"\$(\w*)\$.*?\$\1\$", "''", text, flags=re.S)
    return re.sub(r'"(?:[^"]|"")*"', '""', text)


def first_word(query: str) -> str:
    """The statement's first keyword, upper case ('SELECT', 'WITH', 'DELETE'), '' if none."""
    match = re.match(r"[\s(]*([A-Za-z]+)", _strip(query))
    return match.group(1).upper() if match else ""


def parameter_count(query: str) -> int:
    """The highest $n placeholder in the statement (pg_stat_statements writes constants so)."""
    numbers = [int(n) for n in re.findall(r"\$(\d+)", _strip(query))]
    return max(numbers, default=0)


def is_single_select(query: str) -> bool:
    """One SELECT, or WITH … SELECT without a data-modifying CTE; nothing after a `;`."""
    text = _strip(query).strip().rstrip(";").strip()
    if ";" in text:
        return False
    word = first_word(text)
    if word == "SELECT" or word == "VALUES" or word == "TABLE":
        return not re.search(r"\bINTO\b", text, re.I)  # SELECT … INTO creates a table
    if word == "WITH":
        return not re.search(r"\b(INSERT|UPDATE|DELETE|MERGE)\b", text, re.I)
    return False


def statement_text(query: str) -> str:
    """The statement to explain: surrounding blanks and one trailing `;` dropped."""
    text = query.strip()
    return text[:-1].rstrip() if text.endswith(";") else text


def single_statement(query: str) -> str:
    """`statement_text`, refused (PlanError) when empty or when it holds several statements."""
    text = statement_text(query)
    if not text:
        raise PlanError("no statement to explain")
    if ";" in _strip(text):
        raise PlanError("the text holds several statements: explain them one at a time")
    return text


@dataclass(frozen=True)
class Explained:
    """A parsed plan and how it was obtained (for the screen's title line)."""

    plan: ExplainedPlan
    how: str  # "EXPLAIN", "EXPLAIN (GENERIC_PLAN)", "generic plan of a prepared statement", ...
    query: str


async def connect_read_only(cfg: DatabaseConfig) -> Any:
    """A short-lived read-only session with the short statement_timeout (the caller closes it)."""
    import psycopg
    from psycopg.conninfo import conninfo_to_dict

    existing = conninfo_to_dict(cfg.url).get("options") or ""
    return await psycopg.AsyncConnection.connect(
        cfg.url,
        application_name=EXPLAIN_APPLICATION_NAME,
        autocommit=True,
        connect_timeout=max(2, math.ceil(cfg.connect_timeout_seconds)),
        options=(
            f"{existing} -c statement_timeout={int(cfg.statement_timeout_ms)}"
            " -c default_transaction_read_only=on"
        ).strip(),
    )


async def _table_rows(conn: Any, plan: ExplainedPlan) -> dict[str, float]:
    names = [r.split(".")[-1] for r in relations(plan)]
    if not names:
        return {}
    cur = await conn.execute(TABLE_ROWS_SQL, [names])
    return {str(name): float(rows) for name, rows in await cur.fetchall()}


async def _explain(conn: Any, sql: str, *, prepare: bool = True) -> ExplainedPlan:
    cur = await conn.execute(sql, prepare=prepare)
    document = plans_of(list(await cur.fetchall()))
    plan = parse_plan(document)
    rows = await _table_rows(conn, plan)
    return parse_plan(document, rows) if rows else plan


async def explain(conn: Any, query: str) -> Explained:
    """EXPLAIN (FORMAT JSON) of `query`, without running it. A statement with `$n` parameters
    gets its generic plan: GENERIC_PLAN on PostgreSQL 16+, below that a prepared statement
    under plan_cache_mode = force_generic_plan, executed by EXPLAIN with NULL parameters
    (the generic plan does not look at their values)."""
    text = single_statement(query)
    params = parameter_count(text)
    if params == 0:
        return Explained(
            await _explain(conn, f"EXPLAIN {COCKPIT_MARK} (FORMAT JSON) {text}"), "EXPLAIN", text
        )
    if conn.info.server_version >= 160000:
        # not prepared: the statement's own $n would become the prepared EXPLAIN's parameters
        return Explained(
            await _explain(
                conn, f"EXPLAIN {COCKPIT_MARK} (GENERIC_PLAN, FORMAT JSON) {text}", prepare=False
            ),
            "EXPLAIN (GENERIC_PLAN)",
            text,
        )
    name = "predictiq_cockpit_explain"
    await conn.execute("SET plan_cache_mode = force_generic_plan")
    try:
        await conn.execute(f"PREPARE {name} AS {text}", prepare=False)
        try:
            nulls = ", ".join("NULL" for _ in range(params))
            plan = await _explain(
                conn, f"EXPLAIN {COCKPIT_MARK} (FORMAT JSON) EXECUTE {name}({nulls})"
            )
        finally:
            await conn.execute(f"DEALLOCATE {name}")
    finally:
        await conn.execute("RESET plan_cache_mode")
    return Explained(plan, "generic plan (PREPARE, plan_cache_mode = force_generic_plan)", text)


async def explain_analyze(conn: Any, query: str, timeout_ms: int) -> Explained:
    """EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON): runs the statement for real, inside BEGIN …
    ROLLBACK with statement_timeout = `timeout_ms`, so whatever it changes is undone. `conn`
    must be in autocommit (the transaction here is the only one)."""
    text = single_statement(query)
    if parameter_count(text):
        raise PlanError(
            "the statement has $n parameters: EXPLAIN ANALYZE needs real values "
            "(explain it without ANALYZE for its generic plan)"
        )
    await conn.execute("BEGIN")
    try:
        await conn.execute(f"SET LOCAL statement_timeout = {int(timeout_ms)}")
        plan = await _explain(
            conn, f"EXPLAIN {COCKPIT_MARK} (ANALYZE, BUFFERS, FORMAT JSON) {text}"
        )
    finally:
        await conn.execute("ROLLBACK")
    return Explained(plan, "EXPLAIN (ANALYZE, BUFFERS), rolled back", text)
