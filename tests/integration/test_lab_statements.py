"""The lab's slow-query drill, seen as the operator sees it: pg_stat_statements exists in the
application database the cockpit watches, the drill's report statement tops the list by mean,
its plan shows the sequential scan, and the index the cockpit proposes fixes the plan."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from actions import executor
from actions.base import ActionContext
from actions.clients import Clients
from actions.registry import get
from cockpit.audit.log import AuditLog
from cockpit.lab.lab import Lab
from cockpit.lab.schema import REPORT_TABLE
from cockpit.models import DbActivity
from cockpit.sources.postgres.explain import first_seq_scan
from cockpit.sources.postgres.plans import connect_read_only, explain
from cockpit.sources.postgres.source import NOT_INSTALLED, PostgresSource
from cockpit.state import CockpitState
from tests.integration.lab_helpers import lab_config, started_lab

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    with started_lab(tmp_path_factory.mktemp("statements")) as running:
        yield running


async def test_the_slow_query_drills_statement_tops_the_list_and_an_index_fixes_its_plan(
    lab: Lab, tmp_path: Path
) -> None:
    cfg = lab_config(lab)
    assert cfg.database is not None
    source = PostgresSource(cfg.database, cfg.thresholds, clock=lambda: 0.0)
    first = await source.collect()
    assert isinstance(first, DbActivity), first
    assert first.statements_note != NOT_INSTALLED  # created in the watched database
    lab.drills.inject("slow-query")
    try:
        report = None
        for _ in range(200):
            source.sample_statements_now()
            snap = await source.collect()
            assert isinstance(snap, DbActivity), snap
            report = next(
                (s for s in snap.top_by_mean[:3] if "nightly market report" in s.query), None
            )
            if report is not None and report.calls >= 2:
                break
            await asyncio.sleep(0.1)
        assert report is not None, "the report statement never reached the top 3 by mean"
        assert "$1" in report.query  # normalised: explained as a generic plan
        conn = await connect_read_only(cfg.database)
        try:
            before = await explain(conn, report.query)
        finally:
            await conn.close()
        finding = first_seq_scan(before.plan)
        assert finding is not None and finding.relation == REPORT_TABLE
        assert finding.columns == ("market_id",)
        ctx = ActionContext(
            cfg=cfg,
            state=CockpitState(),
            audit=AuditLog(tmp_path / "audit.jsonl", "t"),
            clients=Clients(cfg),
        )
        action = get("create_index")
        plan = await action.plan(ctx, {"query": report.query})
        # the drill's pg_sleep(600) is a transaction the build would wait for: the plan says so
        assert any(line.startswith("WAIT: ") for line in plan.effect)
        sleeper = next(c for c in snap.longest_queries if "pg_sleep" in c.query)
        cancel = get("cancel_query")
        assert (
            await executor.execute(ctx, cancel, await cancel.plan(ctx, {"pid": sleeper.pid}))
        ).ok
        plan = await action.plan(ctx, {"query": report.query})
        outcome = await executor.execute(ctx, action, plan)
        assert outcome.ok, outcome
        conn = await connect_read_only(cfg.database)
        try:
            after = await explain(conn, report.query)
        finally:
            await conn.close()
        assert first_seq_scan(after.plan) is None
    finally:
        lab.drills.clear("slow-query")
        await source.aclose()
        with psycopg.connect(lab.monitor_url, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f"DROP INDEX IF EXISTS {REPORT_TABLE}_market_id_idx")
