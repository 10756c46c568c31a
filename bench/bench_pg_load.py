"""Load on PostgreSQL at 1,000 connections: server time of one cockpit refresh's statements
(pg_stat_statements total_exec_time of the statements marked `/* predictiq-cockpit */`), side by
side with one pg_activity refresh on the same server, plus Redis INFO calls per refresh of the
cache source. Both tools run their real code: the cockpit's PostgresSource/RedisSource and
pg_activity's `Data` class."""

from __future__ import annotations

import asyncio
import statistics
from typing import Any

import psycopg

from bench.figures import Figure
from bench.labkit import load_lab_config
from bench.steady_helpers import redis_info_calls

PGA_ROLE = "bench_pg_activity"
MARKED = "query LIKE '%' || 'predictiq' || '-cockpit */%'"  # not a literal: never matches itself


def _totals(admin_url: str, where: str) -> tuple[float, int]:
    with psycopg.connect(admin_url, connect_timeout=5, autocommit=True) as conn:
        row = conn.execute(
            f"SELECT coalesce(sum(total_exec_time), 0), coalesce(sum(calls), 0) "
            f"FROM pg_stat_statements WHERE {where}"
        ).fetchone()
    return float(row[0]), int(row[1])


def _by_statement(admin_url: str, where: str) -> dict[str, tuple[float, int]]:
    """(total ms, calls) per statement: what each part of a refresh costs."""
    with psycopg.connect(admin_url, connect_timeout=5, autocommit=True) as conn:
        rows = conn.execute(
            f"SELECT queryid, left(regexp_replace(query, '\\s+', ' ', 'g'), 70),"
            f" total_exec_time, calls FROM pg_stat_statements WHERE {where}"
        ).fetchall()
    return {f"{qid}: {text}": (float(ms), int(calls)) for qid, text, ms, calls in rows}


class _PgActivity:
    """pg_activity's own `Data` class, connected as a role of its own (its statements are told
    apart by userid); `refresh()` is one refresh of its UI loop (server information +
    activities), `light` as with --no-db-size --no-tempfiles --no-walreceiver."""

    def __init__(self, lab: Any, role: str, light: bool) -> None:
        from pgactivity.data import Data

        with psycopg.connect(lab.admin_url, connect_timeout=5, autocommit=True) as conn:
            if not conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone():
                conn.execute(f"CREATE ROLE {role} LOGIN SUPERUSER")
            oid = conn.execute("SELECT oid FROM pg_roles WHERE rolname = %s", (role,)).fetchone()[0]
        port = int(lab.admin_url.rsplit(":", 1)[1].split("/")[0])
        self.where = f"userid = {int(oid)}"
        self.light = light
        self.data = Data.pg_connect(
            host="127.0.0.1", port=port, user=role, database=lab.app_database
        )
        self.info = self._server_information(None)

    def _server_information(self, previous: Any) -> Any:
        return self.data.pg_get_server_information(
            previous, skip_db_size=self.light, skip_tempfile=self.light, skip_walreceiver=self.light
        )

    def refresh(self) -> None:
        self.info = self._server_information(self.info)
        self.data.pg_get_activities(1)

    def close(self) -> None:
        self.data.pg_conn.close()


def side_by_side(lab: Any, n: int) -> dict[str, dict[str, Any]]:
    """ms of server time per refresh of the cockpit's PostgresSource.collect() and of
    pg_activity (defaults and light), refreshes interleaved one by one so that the shared
    machine's load falls on all three alike. The ratio is the median over statement cycles
    (each the refreshes between two reads of pg_stat_statements) of the cycle's server time:
    a burst of load from elsewhere spoils one cycle, not the figure.

    pg_stat_statements and the lock sample have cadences of their own: the source's clock
    advances by one refresh interval per collect, and the refreshes cover whole statement
    cycles, so their share of the cost is counted as in a real run. The database size (every
    300 s) is measured at the warm-up collect, outside the window, as pg_activity's light
    profile skips its own.
    """
    from cockpit.sources.postgres.source import PostgresSource

    cfg = load_lab_config(lab)
    assert cfg.database is not None
    interval = cfg.refresh.interval_seconds
    per_cycle = max(round(cfg.database.statements_seconds / interval), 1)
    n = per_cycle * max(2, round(n / per_cycle))
    now = [0.0]
    full = _PgActivity(lab, PGA_ROLE, light=False)
    light = _PgActivity(lab, PGA_ROLE + "_light", light=True)

    async def go() -> dict[str, dict[str, Any]]:
        source = PostgresSource(cfg.database, cfg.thresholds, timeout=10, clock=lambda: now[0])
        try:
            first = await source.collect()  # connects and measures the size (slow cadence)
            wheres = {"cockpit": MARKED, "full": full.where, "light": light.where}
            before = {k: _totals(lab.admin_url, w) for k, w in wheres.items()}
            parts_before = _by_statement(lab.admin_url, MARKED)
            cycles: list[dict[str, float]] = []  # server ms of each tool over one statements cycle
            for _ in range(n // per_cycle):
                start = {k: _totals(lab.admin_url, w)[0] for k, w in wheres.items()}
                for _ in range(per_cycle):
                    now[0] += interval
                    await source.collect()
                    full.refresh()
                    light.refresh()
                cycles.append(
                    {k: _totals(lab.admin_url, w)[0] - start[k] for k, w in wheres.items()}
                )
            after = {k: _totals(lab.admin_url, w) for k, w in wheres.items()}
            parts: dict[str, Any] = {}
            for key, (ms, calls) in _by_statement(lab.admin_url, MARKED).items():
                old_ms, old_calls = parts_before.get(key, (0.0, 0))
                if calls > old_calls:
                    parts[key] = {
                        "ms_per_refresh": round((ms - old_ms) / n, 3),
                        "calls": calls - old_calls,
                    }
            out = {
                k: {
                    "ms_per_refresh": (after[k][0] - before[k][0]) / n,
                    "statements_per_refresh": (after[k][1] - before[k][1]) / n,
                }
                for k in wheres
            }
            ratios = sorted(c["cockpit"] / c["full"] for c in cycles if c["full"] > 0)
            light_ratios = sorted(c["cockpit"] / c["light"] for c in cycles if c["light"] > 0)
            out["ratio"] = {
                "median_of_cycles": statistics.median(ratios) if ratios else None,
                "median_vs_light": statistics.median(light_ratios) if light_ratios else None,
                "cycles": [round(r, 3) for r in ratios],
            }
            out["cockpit"].update(
                connections_seen=getattr(first, "total", 0),
                full_rows_per_refresh=len(getattr(first, "connections", ())),
                refreshes=n,
                refresh_interval_seconds=interval,
                by_statement=parts,
            )
            return out
        finally:
            await source.aclose()

    try:
        return asyncio.run(go())
    finally:
        full.close()
        light.close()


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
    n = 60 if quick else 150
    sides = side_by_side(lab, n)
    ours, full, light = sides["cockpit"], sides["full"], sides["light"]
    return [
        Figure(
            "PostgreSQL server time per refresh at 1,000 connections",
            ours["ms_per_refresh"],
            "ms",
            5.0,
            extra=ours,
        ),
        Figure(
            "pg_activity server time per refresh, same server (defaults)",
            full["ms_per_refresh"],
            "ms",
            None,
            extra=full,
        ),
        Figure(
            "pg_activity server time per refresh (--no-db-size --no-tempfiles --no-walreceiver)",
            light["ms_per_refresh"],
            "ms",
            None,
            extra=light,
        ),
        Figure(
            "cockpit / pg_activity server time ratio (defaults; median of statement cycles)",
            sides["ratio"]["median_of_cycles"],
            "x",
            0.5,
            extra={
                **sides["ratio"],
                "ratio_of_means": ours["ms_per_refresh"] / full["ms_per_refresh"]
                if full["ms_per_refresh"]
                else None,
            },
        ),
        Figure(
            "Redis INFO calls per refresh (cache source)",
            redis_per_refresh(lab, n),
            "/refresh",
            1.0,
        ),
    ]
