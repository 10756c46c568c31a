"""EXPLAIN (FORMAT JSON) read for the operator: the plan as a tree of typed nodes, self times,
misestimates, and findings in plain language.

Our own parser (no plan library is established enough to depend on), written against the JSON
of PostgreSQL 12 to 18: keys that a version lacks ("Async Capable" before 14, "Planning" buffers
before 13, fractional "Actual Rows" from 18) are optional, and every value is read through a
typed helper so that a null, a string where a number was expected or a missing key never
raises. Times are milliseconds; "Actual Rows" and times are per loop, as PostgreSQL prints them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cockpit.sources.fields import as_items, as_list, as_mapping, is_array, is_object

LARGE_TABLE_ROWS = 10_000.0  # a sequential scan below this is not worth an index
MOSTLY_FILTERED = 0.9  # a scan that throws away this share of the rows it reads
MISESTIMATE_FACTOR = 10.0


def _num(obj: Mapping[str, Any], key: str) -> float | None:
    value = obj.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _text(obj: Mapping[str, Any], key: str) -> str | None:
    value = obj.get(key)
    return value if isinstance(value, str) and value else None


def _map(value: object) -> Mapping[str, Any]:
    return as_mapping(value)


def _maps(value: object) -> list[Mapping[str, Any]]:
    return list(as_items(value))


@dataclass(frozen=True)
class PlanNode:
    """One node of the plan. `actual_rows` is per loop; `total_ms` and `self_ms` cover every
    loop; `self_ms` excludes the children's time."""

    index: int  # position in pre-order, 0 for the root
    depth: int
    node_type: str  # "Seq Scan", "Hash Join", ... ("Parallel Seq Scan" when parallel aware)
    relation: str | None
    alias: str | None
    index_name: str | None
    plan_rows: float
    actual_rows: float | None
    loops: float | None
    total_ms: float | None
    self_ms: float | None
    shared_hit: float | None
    shared_read: float | None
    filter: str | None
    rows_removed_by_filter: float | None
    sort_method: str | None
    sort_space_type: str | None
    sort_space_kb: float | None
    hash_batches: float | None
    parent_relationship: str | None
    subplan_name: str | None
    children: tuple[int, ...] = ()

    @property
    def executed(self) -> bool:
        """ANALYZE ran this node at least once."""
        return bool(self.loops)

    @property
    def misestimate(self) -> float | None:
        """actual / estimated rows (> 1: under-estimated), both floored at 1; None without
        ANALYZE or for a node that never ran."""
        if self.actual_rows is None or not self.executed:
            return None
        return max(self.actual_rows, 1.0) / max(self.plan_rows, 1.0)

    @property
    def rows_read(self) -> float | None:
        """Rows returned plus rows removed by the filter, over every loop."""
        if self.actual_rows is None or self.rows_removed_by_filter is None or not self.loops:
            return None
        return (self.actual_rows + self.rows_removed_by_filter) * self.loops


@dataclass(frozen=True)
class Finding:
    """One plain-language observation, the node it is about, and what to do about it."""

    kind: str  # "seq_scan", "disk_sort", "hash_spill", "nested_loop_misestimate", "filter_waste"
    text: str
    node: int
    relation: str | None = None
    columns: tuple[str, ...] = ()  # the filter's columns (a seq_scan: the index to propose)


@dataclass(frozen=True)
class ExplainedPlan:
    """A parsed plan: nodes in pre-order, totals, the node with the most self time, findings."""

    nodes: tuple[PlanNode, ...]
    analyzed: bool
    planning_ms: float | None
    execution_ms: float | None
    hottest: int | None
    findings: tuple[Finding, ...] = field(default=())

    @property
    def root(self) -> PlanNode:
        """The top node."""
        return self.nodes[0]

    def scans_of(self, relation: str) -> list[PlanNode]:
        """The nodes reading `relation` (by name, with or without its schema)."""
        return [
            n
            for n in self.nodes
            if n.relation is not None and relation in (n.relation, n.relation.split(".")[-1])
        ]


class PlanError(ValueError):
    """Not an EXPLAIN (FORMAT JSON) document."""


def _first(document: object) -> object:
    """The one plan of EXPLAIN's JSON array (or the object itself)."""
    if is_array(document):
        items = as_list(document)
        return items[0] if items else None
    return document


def parse_plan(document: object, table_rows: Mapping[str, float] | None = None) -> ExplainedPlan:
    """Parse EXPLAIN (FORMAT JSON) output: the JSON text, or the value psycopg returns (a list
    holding one object). `table_rows` (relation -> pg_class.reltuples) lets a plan without
    ANALYZE say which scans read most of a large table."""
    if isinstance(document, str | bytes):
        try:
            document = json.loads(document)
        except ValueError as exc:
            raise PlanError(f"not JSON: {exc}") from None
    top = _map(_first(document))
    plan = _map(top.get("Plan"))
    if not plan:
        raise PlanError("no 'Plan' in the document: is this EXPLAIN (FORMAT JSON) output?")
    slots: list[PlanNode | None] = []
    _walk(plan, 0, slots)
    nodes = [n for n in slots if n is not None]  # every slot is filled when the walk returns
    analyzed = any(n.actual_rows is not None for n in nodes)
    executed = [n for n in nodes if n.self_ms is not None]
    hottest = max(executed, key=lambda n: n.self_ms or 0.0).index if executed else None
    parsed = ExplainedPlan(
        tuple(nodes), analyzed, _num(top, "Planning Time"), _num(top, "Execution Time"), hottest
    )
    return ExplainedPlan(
        parsed.nodes,
        analyzed,
        parsed.planning_ms,
        parsed.execution_ms,
        hottest,
        tuple(findings(parsed, table_rows or {})),
    )


def _blocks(raw: Mapping[str, Any], kind: str) -> float | None:
    """Shared plus local (temporary tables) blocks hit or read; None without BUFFERS."""
    shared, local = _num(raw, f"Shared {kind} Blocks"), _num(raw, f"Local {kind} Blocks")
    if shared is None and local is None:
        return None
    return (shared or 0.0) + (local or 0.0)


def _walk(raw: Mapping[str, Any], depth: int, out: list[PlanNode | None]) -> int:
    index = len(out)
    out.append(None)  # the node's slot (pre-order index), filled below once its children are
    children = [_walk(child, depth + 1, out) for child in _maps(raw.get("Plans"))]
    loops = _num(raw, "Actual Loops")
    per_loop = _num(raw, "Actual Total Time")
    total = per_loop * loops if per_loop is not None and loops is not None else None
    self_ms = None
    if total is not None:
        # init plans and sub plans run inside their parent's time too; parallel workers' loops
        # can make the children add up to more than the parent: clamp at zero
        child_ms = sum(n.total_ms or 0.0 for n in (out[c] for c in children) if n is not None)
        self_ms = max(total - child_ms, 0.0)
    node_type = _text(raw, "Node Type") or "?"
    if node_type == "ModifyTable":  # written "Delete on t" by psql, and so here
        node_type = _text(raw, "Operation") or node_type
    if raw.get("Parallel Aware") is True and not node_type.startswith("Parallel"):
        node_type = f"Parallel {node_type}"
    relation = _text(raw, "Relation Name")
    schema = _text(raw, "Schema")
    batches = _num(raw, "Hash Batches")
    for worker in _maps(raw.get("Workers")):  # a parallel sort spills in its workers
        if _text(worker, "Sort Space Type") == "Disk":
            raw = {
                **raw,
                "Sort Space Type": "Disk",
                "Sort Method": _text(worker, "Sort Method") or _text(raw, "Sort Method"),
            }
    out[index] = PlanNode(
        index=index,
        depth=depth,
        node_type=node_type,
        relation=f"{schema}.{relation}" if schema and relation else relation,
        alias=_text(raw, "Alias"),
        index_name=_text(raw, "Index Name"),
        plan_rows=_num(raw, "Plan Rows") or 0.0,
        actual_rows=_num(raw, "Actual Rows"),
        loops=loops,
        total_ms=total,
        self_ms=self_ms,
        shared_hit=_blocks(raw, "Hit"),
        shared_read=_blocks(raw, "Read"),
        filter=_text(raw, "Filter"),
        rows_removed_by_filter=_num(raw, "Rows Removed by Filter"),
        sort_method=_text(raw, "Sort Method"),
        sort_space_type=_text(raw, "Sort Space Type"),
        sort_space_kb=_num(raw, "Sort Space Used"),
        hash_batches=batches,
        parent_relationship=_text(raw, "Parent Relationship"),
        subplan_name=_text(raw, "Subplan Name"),
        children=tuple(children),
    )
    return index


_KEYWORDS = frozenset(
    {
        "and",
        "or",
        "not",
        "is",
        "null",
        "true",
        "false",
        "any",
        "all",
        "like",
        "ilike",
        "in",
        "between",
        "some",
        "array",
        "distinct",
        "from",
        "case",
        "when",
        "then",
        "else",
        "end",
        "collate",
        "similar",
        "to",
        "escape",
    }
)


def filter_columns(expression: str | None) -> tuple[str, ...]:
    """The column names a plan's Filter compares, those compared for equality first:
    '((t.amount > $1) AND (status = 'active'::text))' -> ('status', 'amount'). Literals, casts,
    functions and parameters are skipped."""
    if not expression:
        return ()
    text = re.sub(r"'(?:[^']|'')*'", " ", expression)  # string literals
    text = re.sub(
        r"::\s*(?:\"[^\"]+\"|[\w.]+)(?:\s+(?:with|without|varying|precision|time|zone)\b)*"
        r"(?:\([\d,\s]*\))?(?:\s*\[\])?",
        " ",
        text,
    )  # casts, 'timestamp with time zone' too
    found: list[tuple[int, str]] = []
    for match in re.finditer(
        r'(?<![\w$.])((?:"[^"]+"|[A-Za-z_]\w*)(?:\.(?:"[^"]+"|[A-Za-z_]\w*))*)(\s*\()?', text
    ):
        if match.group(2):
            continue  # a function call
        name = match.group(1).split(".")[-1].strip('"')
        if name.lower() not in _KEYWORDS and name not in (n for _, n in found):
            # equality first: the columns an index serves best lead it
            equality = re.match(r"\s*\)*\s*=(?!=)", text[match.end() :]) is not None
            found.append((0 if equality else 1, name))
    return tuple(name for _, name in sorted(found, key=lambda item: item[0]))


def _rows(value: float) -> str:
    return f"{value:,.0f}"


def findings(plan: ExplainedPlan, table_rows: Mapping[str, float]) -> list[Finding]:
    """Plain-language findings, the most useful first: a sequential scan filtering most of a
    large table, a sort or hash spilling to disk, a nested loop over a misestimated side, a
    filter that throws away far more rows than it keeps."""
    out: list[Finding] = []
    reported: set[int] = set()
    for n in plan.nodes:
        if not n.node_type.endswith("Seq Scan") or n.filter is None or n.relation is None:
            continue
        columns = filter_columns(n.filter)
        table = table_rows.get(n.relation, table_rows.get(n.relation.split(".")[-1]))
        read = n.rows_read
        if read is not None and n.actual_rows is not None and n.loops:
            kept = n.actual_rows * n.loops
            if read >= LARGE_TABLE_ROWS and read > 0 and 1 - kept / read >= MOSTLY_FILTERED:
                out.append(
                    Finding(
                        "seq_scan",
                        f"Sequential scan of {n.relation} reads {_rows(read)} rows to keep "
                        f"{_rows(kept)} ({100 * (1 - kept / read):.1f}% removed by the filter on "
                        f"{', '.join(columns) or n.filter}): an index on ({', '.join(columns)}) "
                        "would read only those",
                        n.index,
                        n.relation,
                        columns,
                    )
                )
                reported.add(n.index)
        elif (
            table is not None
            and table >= LARGE_TABLE_ROWS
            and n.plan_rows <= table * (1 - MOSTLY_FILTERED)
        ):
            out.append(
                Finding(
                    "seq_scan",
                    f"Sequential scan of {n.relation} ({_rows(table)} rows) expected to keep "
                    f"{_rows(n.plan_rows)} through the filter on "
                    f"{', '.join(columns) or n.filter}: an "
                    f"index on ({', '.join(columns)}) would read only those",
                    n.index,
                    n.relation,
                    columns,
                )
            )
            reported.add(n.index)
    for n in plan.nodes:
        if n.sort_space_type == "Disk" or (n.sort_method or "").startswith("external"):
            size = f" ({n.sort_space_kb:,.0f} kB)" if n.sort_space_kb is not None else ""
            out.append(
                Finding(
                    "disk_sort",
                    f"{n.node_type} spills to disk{size}, method "
                    f"{n.sort_method or '?'}: raise work_mem for this query, or an index "
                    "in the sort's order avoids the sort",
                    n.index,
                    n.relation,
                )
            )
        if n.hash_batches is not None and n.hash_batches > 1:
            out.append(
                Finding(
                    "hash_spill",
                    f"Hash spills to disk in {n.hash_batches:.0f} batches: "
                    "work_mem is too small for the hash table",
                    n.index,
                    n.relation,
                )
            )
    for n in plan.nodes:
        if n.node_type != "Nested Loop":
            continue
        for side in (plan.nodes[c] for c in n.children):
            factor = side.misestimate
            if factor is not None and (
                factor >= MISESTIMATE_FACTOR or factor <= 1 / MISESTIMATE_FACTOR
            ):
                which = "inner" if side.parent_relationship == "Inner" else "outer"
                out.append(
                    Finding(
                        "nested_loop_misestimate",
                        f"Nested loop over a misestimated {which} side: "
                        f"{side.node_type}{' on ' + side.relation if side.relation else ''} "
                        f"{_misestimate_text(factor)}; a hash or merge join may be better: "
                        "ANALYZE the "
                        "tables (or extended statistics)",
                        n.index,
                        side.relation,
                    )
                )
                break
    for n in plan.nodes:
        if n.index in reported or n.rows_removed_by_filter is None or n.actual_rows is None:
            continue
        removed = n.rows_removed_by_filter * (n.loops or 1)
        kept = n.actual_rows * (n.loops or 1)
        if removed >= 1000 and removed >= 10 * max(kept, 1):
            out.append(
                Finding(
                    "filter_waste",
                    f"{n.node_type}{' on ' + n.relation if n.relation else ''}"
                    f" removes {_rows(removed)} rows by filter to return {_rows(kept)}",
                    n.index,
                    n.relation,
                    filter_columns(n.filter),
                )
            )
    return out


def _misestimate_text(factor: float) -> str:
    if factor >= 1:
        return f"×{factor:,.0f} under-estimated"
    return f"×{1 / factor:,.0f} over-estimated"


def _ms(value: float) -> str:
    return f"{value:,.1f} ms" if value >= 0.1 or value == 0 else f"{value:.3f} ms"


def node_line(plan: ExplainedPlan, node: PlanNode) -> str:
    """One line for a node: type and relation, rows estimated vs actual with the misestimate,
    self time and its share, loops, buffers."""
    what = node.node_type
    if node.subplan_name:
        what = f"[{node.subplan_name}] {what}"
    if node.relation:
        what += f" on {node.relation}" + (
            f" {node.alias}" if node.alias and node.alias != node.relation.split(".")[-1] else ""
        )
    if node.index_name:
        what += f" using {node.index_name}"
    parts = [what]
    if node.actual_rows is None:
        parts.append(f"rows est {_rows(node.plan_rows)}")
    elif not node.executed:
        parts.append("never executed")
    else:
        rows = f"rows est {_rows(node.plan_rows)} → {_rows(node.actual_rows)}"
        factor = node.misestimate
        if factor is not None and (
            factor >= MISESTIMATE_FACTOR or factor <= 1 / MISESTIMATE_FACTOR
        ):
            rows += f" ({_misestimate_text(factor)})"
        parts.append(rows)
    if node.self_ms is not None and node.executed:
        total = plan.execution_ms or (plan.root.total_ms or 0.0)
        share = f" {100 * node.self_ms / total:.0f}%" if total else ""
        parts.append(f"self {_ms(node.self_ms)}{share}")
        if node.loops and node.loops > 1:
            parts.append(f"loops {node.loops:,.0f}")
    if node.shared_read is not None or node.shared_hit is not None:
        parts.append(f"read {node.shared_read or 0:,.0f} hit {node.shared_hit or 0:,.0f}")
    line = "  " * node.depth + " · ".join(parts)
    return line + ("  ◀ most time" if plan.hottest == node.index and plan.analyzed else "")


def render_lines(plan: ExplainedPlan) -> list[str]:
    """The findings first, then the tree one node per line, then the totals."""
    lines = [f"! {f.text}" for f in plan.findings] or [
        "no finding: nothing stands out in this plan"
    ]
    lines.append("")
    lines += [node_line(plan, n) for n in plan.nodes]
    totals: list[str] = []
    if plan.planning_ms is not None:
        totals.append(f"planning {_ms(plan.planning_ms)}")
    if plan.execution_ms is not None:
        totals.append(f"execution {_ms(plan.execution_ms)}")
    if totals:
        lines += ["", " · ".join(totals)]
    return lines


def relations(plan: ExplainedPlan) -> tuple[str, ...]:
    """Every relation the plan reads, once each."""
    return tuple(dict.fromkeys(n.relation for n in plan.nodes if n.relation))


def first_seq_scan(plan: ExplainedPlan) -> Finding | None:
    """The first sequential-scan finding with columns (what Create index proposes)."""
    return next((f for f in plan.findings if f.kind == "seq_scan" and f.columns), None)


def plans_of(rows: Sequence[object]) -> object:
    """The plan document from the rows of EXPLAIN (FORMAT JSON): one row, one column."""
    if not rows:
        raise PlanError("EXPLAIN returned no row")
    first = rows[0]
    if is_array(first):  # a tuple row
        return as_list(first)[0]
    if is_object(first):  # a dict row
        return next(iter(as_mapping(first).values()))
    return first
