"""Warm cache against the PredictIQ API simulator over real HTTP, on real PostgreSQL and Redis:
the keys appear in Redis, the token never reaches the audit trail, a bad token is a failure."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from actions import executor
from actions.base import ActionError
from actions.registry import ACTIONS
from cockpit.audit.log import read_entries
from cockpit.lab.apisim.sim import ApiSimulator
from cockpit.lab.schema import SEED_ACTIVE_MARKETS, install_schema
from tests.integration.actions_helpers import make_config, make_context

TOKEN = "warm-token-s3cr3t"


@pytest.fixture
def api(pg, redis_server) -> Iterator[ApiSimulator]:
    with pg.connect() as conn:
        install_schema(conn)
    sim = ApiSimulator(pg.url, redis_server.url, admin_token=TOKEN).start()
    client = redis_server.client()
    client.flushdb()
    try:
        yield sim
    finally:
        sim.stop()
        client.flushdb()


def _ctx(api: ApiSimulator, tmp_path: Path, token: str = TOKEN, read_only: bool = False):
    cfg = make_config(read_only=read_only, api={"base_url": api.url, "token": token})
    return make_context(cfg, tmp_path / "audit.jsonl")


async def test_warm_cache_fills_redis_and_is_audited_without_the_token(
    api, redis_server, tmp_path: Path
) -> None:
    client = redis_server.client()
    assert client.dbsize() == 0
    ctx = _ctx(api, tmp_path)
    plan = await ACTIONS["warm_cache"].plan(ctx, None)
    assert plan.target == f"POST {api.url}/api/admin/cache/warm"
    assert (
        plan.command
        == f"curl -fsS -X POST -H 'Authorization: Bearer ***' {api.url}/api/admin/cache/warm"
    )
    outcome = await executor.execute(ctx, ACTIONS["warm_cache"], plan)
    assert outcome.ok, outcome.message
    assert outcome.after["status"] == 200 and f'"warmed":{SEED_ACTIVE_MARKETS}' in outcome.message
    assert client.exists("markets:active") == 1
    assert len(client.keys("market:*")) == SEED_ACTIVE_MARKETS
    assert [e["event"] for e in read_entries(tmp_path / "audit.jsonl")] == ["intent", "result"]
    assert TOKEN not in (tmp_path / "audit.jsonl").read_text()


async def test_a_wrong_token_fails_with_the_status(api, redis_server, tmp_path: Path) -> None:
    ctx = _ctx(api, tmp_path, token="wrong")
    outcome = await executor.execute(
        ctx, ACTIONS["warm_cache"], await ACTIONS["warm_cache"].plan(ctx, None)
    )
    assert outcome.status == "failed" and outcome.after["status"] in (401, 403)
    assert redis_server.client().dbsize() == 0
    assert read_entries(tmp_path / "audit.jsonl")[-1]["outcome"] == "failed"


async def test_no_token_no_plan_and_read_only_no_request(api, redis_server, tmp_path: Path) -> None:
    with pytest.raises(ActionError, match="api.token"):
        await ACTIONS["warm_cache"].plan(_ctx(api, tmp_path, token=""), None)
    ctx = _ctx(api, tmp_path, read_only=True)
    outcome = await executor.execute(
        ctx, ACTIONS["warm_cache"], await ACTIONS["warm_cache"].plan(ctx, None)
    )
    assert outcome.status == "denied"
    with pytest.raises(PermissionError):
        ctx.clients.http()
    assert redis_server.client().dbsize() == 0
    # the server's own request counter: no POST to the warm route ever arrived
    metrics = httpx.get(f"{api.url}/metrics", timeout=5).text
    assert not [
        line
        for line in metrics.splitlines()
        if line.startswith("http_requests_total") and "/api/admin/cache/warm" in line
    ]
