"""Warm the cache: POST api.base_url + api.warm_path with the admin token (from the environment
through the config's ${VAR}); the result shows the status and a summary of the body."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from actions.base import ActionContext, ActionError, Outcome, Plan
from actions.pg_common import host_context

SUMMARY_CHARS = 200


def summarize_body(text: str) -> str:
    """A short, single-line summary of a response body (JSON compacted when it is JSON)."""
    try:
        text = json.dumps(json.loads(text), separators=(",", ":"), sort_keys=True)
    except ValueError:
        text = " ".join(text.split())
    return text if len(text) <= SUMMARY_CHARS else text[: SUMMARY_CHARS - 1] + "…"


class WarmCacheAction:
    """Ask the API to fill Redis from PostgreSQL."""

    id = "warm_cache"
    key = "w"
    description = "Warm the cache"
    mutating = True
    source = "cache"

    async def plan(self, ctx: ActionContext, selection: Mapping[str, Any] | None) -> Plan:
        """Name the endpoint and what it will do; refuse without a token."""
        api = ctx.cfg.api
        if api is None:
            raise ActionError("no [api] section in the config")
        if not api.token:
            raise ActionError(
                "api.token is empty: set it to ${PREDICTIQ_ADMIN_TOKEN} and export the token"
            )
        url = api.base_url.rstrip("/") + api.warm_path
        cache = ctx.state.cache
        before = {"keys": sum(cache.keyspace.values())} if cache else {}
        hit = (
            f", hit rate now {cache.hit_rate_interval:.0%}"
            if cache and cache.hit_rate_interval is not None
            else ""
        )
        return Plan(
            action=self.id,
            title="Warm the cache",
            target=f"POST {url}",
            effect=(
                f"POST {url}: the API loads hot data from PostgreSQL into Redis{hit}",
                "extra load on PostgreSQL while it runs",
            ),
            command=f"curl -fsS -X POST -H 'Authorization: Bearer ***' {url}",
            danger="low",
            source=self.source,
            before=before,
            expected_after={"keys": "more"},
            params={"url": url},
            **host_context(ctx),
        )

    async def execute(self, ctx: ActionContext, plan: Plan) -> Outcome:
        """POST with the bearer token; 2xx is ok, anything else failed with the status and body."""
        api = ctx.cfg.api
        assert api is not None
        async with ctx.clients.http() as client:
            resp = await client.post(
                api.warm_path, headers={"Authorization": f"Bearer {api.token}"}
            )
        summary = summarize_body(resp.text)
        after = {"status": resp.status_code, "body": summary}
        if 200 <= resp.status_code < 300:
            return Outcome("ok", f"HTTP {resp.status_code}: {summary}", after=after)
        return Outcome(
            "failed",
            f"HTTP {resp.status_code}: {summary}",
            after=after,
            error=f"HTTP {resp.status_code}",
        )
