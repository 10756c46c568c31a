"""The EXPLAIN (FORMAT JSON) parser and its findings, on plans as PostgreSQL 12 to 18 write them.

pg15.json and pg18.json were captured from real servers (tests/unit/plans/); the 12, 13, 14,
16 and 17 shapes are derived from them by the documented differences between versions: no
"Async Capable" before 14, no "Planning" buffers before 13, "Actual Rows" fractional from 18
only, "Disabled" and "Index Searches" new in 18, "InitPlan 1 (returns $0)" named "InitPlan 1"
from 17.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from cockpit.sources.postgres.explain import (
    PlanError,
    filter_columns,
    first_seq_scan,
    parse_plan,
    render_lines,
)

PLANS = Path(__file__).parent / "plans"


def _edit(node: Any, fn: Any) -> Any:
    if isinstance(node, dict):
        node = fn({k: _edit(v, fn) for k, v in node.items()})
    elif isinstance(node, list):
        node = [_edit(v, fn) for v in node]
    return node


def _older(plan: Any, version: int) -> Any:
    """A PostgreSQL 15/18 plan as an older version writes it."""

    def fn(node: dict[str, Any]) -> dict[str, Any]:
        node = dict(node)
        if version < 18:
            node.pop("Disabled", None)
            node.pop("Index Searches", None)
            if isinstance(node.get("Actual Rows"), float):
                node["Actual Rows"] = round(node["Actual Rows"])
        if version < 17 and str(node.get("Subplan Name", "")).startswith("InitPlan"):
            node["Subplan Name"] = node["Subplan Name"].split(" (")[0] + " (returns $0)"
        if version < 14:
            node.pop("Async Capable", None)
        if version < 13:
            node.pop("Planning", None)
        return node

    return _edit(copy.deepcopy(plan), fn)


def plans_for(version: int) -> dict[str, Any]:
    base = json.loads((PLANS / ("pg18.json" if version >= 16 else "pg15.json")).read_text())
    return {name: _older(plan, version) for name, plan in base.items()}


VERSIONS = (12, 13, 14, 15, 16, 17, 18)


@pytest.mark.parametrize("version", VERSIONS)
def test_a_seq_scan_filtering_most_of_200000_rows_names_the_table_and_filter_columns(version):
    plan = parse_plan(plans_for(version)["seq_scan_analyze"])
    assert plan.analyzed and plan.execution_ms is not None
    finding = first_seq_scan(plan)
    assert finding is not None, plan.findings
    assert finding.relation == "orders"
    assert finding.columns == ("customer_id", "note")
    assert "200,000 rows" in finding.text
    scan = plan.nodes[finding.node]
    assert scan.rows_read == 200_000


@pytest.mark.parametrize("version", VERSIONS)
def test_a_sort_spilling_to_disk_is_found(version):
    plan = parse_plan(plans_for(version)["disk_sort"])
    kinds = [f.kind for f in plan.findings]
    assert "disk_sort" in kinds
    sort = plan.nodes[next(f.node for f in plan.findings if f.kind == "disk_sort")]
    assert sort.node_type == "Sort" and sort.sort_space_type == "Disk"
    assert plan.hottest == sort.index  # the sort, not its scan, takes the time
    assert first_seq_scan(plan) is None  # no filter: reading the whole table is the point


@pytest.mark.parametrize("version", VERSIONS)
def test_self_time_excludes_the_children_and_the_hottest_node_is_marked(version):
    plan = parse_plan(plans_for(version)["nested_loop"])
    root = plan.root
    assert root.node_type == "Nested Loop"
    children_total = sum(plan.nodes[c].total_ms or 0 for c in root.children)
    assert root.self_ms == pytest.approx(max((root.total_ms or 0) - children_total, 0))
    inner = plan.nodes[root.children[1]]
    assert inner.loops == 4999 and inner.parent_relationship == "Inner"
    lines = render_lines(plan)
    marked = [line for line in lines if line.endswith("◀ most time")]
    assert len(marked) == 1
    assert "loops 4,999" in "\n".join(lines)


@pytest.mark.parametrize("version", VERSIONS)
def test_an_init_plan_and_a_plain_explain_parse(version):
    plans = plans_for(version)
    init = parse_plan(plans["initplan"])
    names = [n.subplan_name for n in init.nodes if n.subplan_name]
    assert names and names[0].startswith("InitPlan 1")
    plain = parse_plan(plans["seq_scan_plain"])
    assert not plain.analyzed and plain.hottest is None
    assert plain.findings == ()  # no table size known: no claim about how much is filtered
    with_size = parse_plan(plans["seq_scan_plain"], {"orders": 200_000})
    finding = first_seq_scan(with_size)
    assert finding is not None and finding.columns == ("customer_id",)
    assert "est" in render_lines(with_size)[2]


def test_the_generic_plan_of_a_parameterised_statement_on_16_and_later():
    plan = parse_plan(plans_for(16)["generic_plan"], {"orders": 200_000})
    assert plan.root.filter == "(customer_id = $1)"
    assert first_seq_scan(plan) is not None and first_seq_scan(plan).columns == ("customer_id",)


def test_a_nested_loop_over_a_misestimated_side_as_postgresql_12_writes_it():
    doc = [
        {
            "Plan": {
                "Node Type": "Nested Loop",
                "Parallel Aware": False,
                "Join Type": "Inner",
                "Plan Rows": 1,
                "Actual Rows": 48000,
                "Actual Loops": 1,
                "Actual Total Time": 900.0,
                "Plans": [
                    {
                        "Node Type": "Seq Scan",
                        "Parent Relationship": "Outer",
                        "Relation Name": "bets",
                        "Alias": "b",
                        "Plan Rows": 3,
                        "Actual Rows": 4000,
                        "Actual Loops": 1,
                        "Actual Total Time": 40.0,
                        "Filter": "(amount > '100'::numeric)",
                        "Rows Removed by Filter": 500,
                    },
                    {
                        "Node Type": "Index Scan",
                        "Parent Relationship": "Inner",
                        "Relation Name": "markets",
                        "Index Name": "markets_pkey",
                        "Alias": "m",
                        "Plan Rows": 1,
                        "Actual Rows": 12,
                        "Actual Loops": 4000,
                        "Actual Total Time": 0.2,
                        "Index Cond": "(id = b.market_id)",
                    },
                ],
            },
            "Planning Time": 0.3,
            "Triggers": [],
            "Execution Time": 901.0,
        }
    ]
    plan = parse_plan(json.dumps(doc))
    finding = next(f for f in plan.findings if f.kind == "nested_loop_misestimate")
    assert "outer side" in finding.text and "×1,333 under-estimated" in finding.text
    assert plan.nodes[1].misestimate == pytest.approx(4000 / 3)
    assert plan.hottest == 2  # 4,000 loops × 0.2 ms


def test_rows_removed_by_filter_far_above_rows_returned_is_a_finding():
    doc = {
        "Plan": {
            "Node Type": "Index Scan",
            "Relation Name": "bets",
            "Index Name": "bets_market_id_idx",
            "Plan Rows": 10,
            "Actual Rows": 2,
            "Actual Loops": 10,
            "Actual Total Time": 1.0,
            "Filter": "(user_id = 7)",
            "Rows Removed by Filter": 900,
        }
    }
    plan = parse_plan(doc)
    assert [f.kind for f in plan.findings] == ["filter_waste"]
    assert plan.findings[0].columns == ("user_id",)


def test_nulls_and_strange_values_in_the_json_never_raise():
    doc = [
        {
            "Plan": {
                "Node Type": None,
                "Plan Rows": None,
                "Actual Rows": "many",
                "Actual Loops": None,
                "Plans": [None, {"Node Type": "Result"}],
                "Filter": None,
            }
        }
    ]
    plan = parse_plan(doc)
    assert plan.root.node_type == "?" and len(plan.nodes) == 2
    render_lines(plan)
    for bad in ("not json", "[]", '{"Query": 1}', "[1]"):
        with pytest.raises(PlanError):
            parse_plan(bad)


@pytest.mark.parametrize(
    ("expression", "columns"),
    [
        ("((status = 'active'::text) AND (t.amount > $1))", ("status", "amount")),
        ("(lower(email) = 'a AND b'::text)", ("email",)),
        ('("Weird Col" IS NULL)', ("Weird Col",)),
        (
            (
                "((placed_at >= '2024-01-01 00:00:00+00'::timestamp with time zone) "
                "OR (market_id = ANY ('{1,2}'::bigint[])))"
            ),
            ("market_id", "placed_at"),
        ),  # equality first
        ("(NOT done)", ("done",)),
    ],
)
def test_filter_columns(expression, columns):
    assert filter_columns(expression) == columns
