"""Load on PostgreSQL at 1,000 connections: server time of one cockpit refresh's statements
(pg_stat_statements total_exec_time of the statements marked `/* predictiq-cockpit */`), side by
side with one pg_activity refresh on the same server, plus Redis INFO calls per refresh of the
cache source. Both tools run their real code: the cockpit's PostgresSource/RedisSource and
pg_activity's `Data` class."""

from __future__ import annotations

import asyncio
from typing import Any

import psycopg

from bench.figures import Figure
from bench.labkit import load_lab_config
from bench.steady_helpers import redis_info_calls

PGA_ROLE = "bench_pg_activity"
MARKED = "query LIKE '%' || 'predictiq' || '-cockpit */%'"  # not a literal: never matches itself


def _totals(admin_url: str, where: str) -> tuple[float, int]:
    with psycopg.connect(admin_url, connect_timeout=5, autocommit=True) as conn:
        row = conn.execute(f"SELECT coalesce(sum(total_exec_time), 0), coalesce(sum(calls), 0) "
                           f"FROM pg_stat_statements WHERE {where}").fetchone()
    return float(row[0]), int(row[1])


def cockpit_refreshes(lab: Any, n: int) -> dict[str, float]:
    """ms of server time and statements per PostgresSource.collect(), after one warm-up."""
    from cockpit.sources.postgres.source import PostgresSource

    cfg = load_lab_config(lab)
    # the lab creates pg_stat_statements in `postgres` only; without it in the watched database
    # the cockpit skips its top-statements query, and a refresh would look cheaper than it is
    with psycopg.connect(lab.monitor_url, connect_timeout=5, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")

    async def go() -> tuple[float, int, int]:
        source = PostgresSource(cfg.database, cfg.thresholds, timeout=10)
        try:
            first = await source.collect()  # connects and measures the size (slow cadence)
            t0, c0 = _totals(lab.admin_url, MARKED)
            for _ in range(n):
                await source.collect()
            t1, c1 = _totals(lab.admin_url, MARKED)
            return t1 - t0, c1 - c0, getattr(first, "total", 0)
        finally:
            await source.aclose()

    ms, calls, seen = asyncio.run(go())
    return {"ms_per_refresh": ms / n, "statements_per_refresh": calls / n,
            "connections_seen": seen}


def pg_activity_refreshes(lab: Any, n: int, light: bool) -> dict[str, float]:
    """ms of server time per pg_activity refresh (server information + activities), run as a
    role of its own so its statements can be told apart."""
    from pgactivity.data import Data

    with psycopg.connect(lab.admin_url, connect_timeout=5, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (PGA_ROLE,)).fetchone():
            conn.execute(f"CREATE ROLE {PGA_ROLE} LOGIN SUPERUSER")
        oid = conn.execute("SELECT oid FROM pg_roles WHERE rolname = %s", (PGA_ROLE,)).fetchone()[0]
    host, port = "127.0.0.1", int(lab.admin_url.rsplit(":", 1)[1].split("/")[0])
    data = Data.pg_connect(host=host, port=port, user=PGA_ROLE, database=lab.app_database)
    where = f"userid = {int(oid)}"
    try:
        info = data.pg_get_server_information(None, skip_db_size=light, skip_tempfile=light,
                                              skip_walreceiver=light)
        t0, c0 = _totals(lab.admin_url, where)
        for _ in range(n):
            info = data.pg_get_server_information(info, skip_db_size=light, skip_tempfile=light,
                                                  skip_walreceiver=light)
            data.pg_get_activities(1)
        t1, c1 = _totals(lab.admin_url, where)
    finally:
        data.pg_conn.close()
    return {"ms_per_refresh": (t1 - t0) / n, "statements_per_refresh": (c1 - c0) / n}


def redis_per_refresh(lab: Any, n: int) -> float:
    """INFO calls per RedisSource.collect()."""
    from cockpit.sources.redis import RedisSource

    cfg = load_lab_config(lab)

    async def go() -> int:
        source = RedisSource(cfg.cache, timeout=5)
        try:
            await source.collect()
            before = redis_info_calls(lab.redis_url)
            for _ in range(n):
                await source.collect()
            return redis_info_calls(lab.redis_url) - before - 1
        finally:
            await source.aclose()

    return asyncio.run(go()) / n


def run(lab: Any, quick: bool) -> list[Figure]:
    """Needs the lab's database to hold ~1,000 client connections already."""
    n = 10 if quick else 30
    ours = cockpit_refreshes(lab, n)
    full = pg_activity_refreshes(lab, n, light=False)
    light = pg_activity_refreshes(lab, n, light=True)
    return [
        Figure("PostgreSQL server time per refresh at 1,000 connections", ours["ms_per_refresh"],
               "ms", 5.0, extra={**ours, "refreshes": n}),
        Figure("pg_activity server time per refresh, same server (defaults)",
               full["ms_per_refresh"], "ms", None, extra=full),
        Figure("pg_activity server time per refresh (--no-db-size --no-tempfiles --no-walreceiver)",
               light["ms_per_refresh"], "ms", None, extra=light),
        Figure("cockpit / pg_activity server time ratio (defaults)",
               ours["ms_per_refresh"] / full["ms_per_refresh"] if full["ms_per_refresh"] else None,
               "x", None, extra={"vs_light": ours["ms_per_refresh"] / light["ms_per_refresh"]
                                 if light["ms_per_refresh"] else None}),
        Figure("Redis INFO calls per refresh (cache source)", redis_per_refresh(lab, n),
               "/refresh", 1.0),
    ]
