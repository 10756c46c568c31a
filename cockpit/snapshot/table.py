"""The table form of `cockpit snapshot`: rendered with rich from the same document as --json, so
the two can never disagree."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rich.console import Console
from rich.table import Table


def _num(value: Any, fmt: str = "{:.1f}", none: str = "-") -> str:
    return none if value is None else fmt.format(value)


def _database(d: dict[str, Any]) -> str:
    states = ", ".join(f"{k} {v}" for k, v in sorted(d.get("by_state", {}).items()))
    used = 100.0 * (d["total"] + 1) / d["max_connections"] if d.get("max_connections") else None
    parts = [
        f"{d['total']} connections ({states or 'none'})",
        f"{_num(used)}% of max_connections {d.get('max_connections')}",
        f"{d.get('idle_over_threshold_count') or len(d.get('idle_over_threshold', []))}"
        " idle over threshold",
    ]
    longest: list[dict[str, Any]] = d.get("longest_queries") or []
    if longest:
        q = longest[0]
        parts.append(f"longest: pid {q['pid']} {_num(q.get('query_seconds'))}s")
    return "; ".join(parts)


def _cache(d: dict[str, Any]) -> str:
    rate = d.get("hit_rate_interval")
    mem = f"{d['used_memory'] / 2**20:.1f} MiB" + (
        f" of {d['maxmemory'] / 2**20:.0f} MiB" if d.get("maxmemory") else ""
    )
    text = (
        f"hit rate {_num(None if rate is None else 100 * rate)}% over "
        f"{_num(d.get('interval_seconds'))}s; {_num(d.get('ops_per_sec'))} ops/s; {mem}; "
        f"{d.get('connected_clients')} clients"
    )
    return text + ("; RESTARTED" if d.get("restarted") else "")


def _api(d: dict[str, Any]) -> str:
    health = (
        f"health {d.get('health_status_code') or d.get('health_error')}"
        f" in {_num(d.get('health_latency_ms'), '{:.0f}')} ms ({d.get('health_summary')})"
    )
    if not d.get("metrics_ok"):
        return f"{health}; metrics: {d.get('metrics_error')}"
    ratio = d.get("error_ratio")
    lat: dict[str, Any] = d.get("latency_ms") or {}
    return (
        f"{health}; {_num(d.get('request_rate'))} req/s, "
        f"5xx {_num(None if ratio is None else 100 * ratio)}%, "
        f"429 {_num(d.get('rate_429'))}/s, p95 {_num(lat.get('p95'), '{:.0f}')} ms"
        + ("; COUNTERS RESET" if d.get("counters_reset") else "")
    )


def _certificates(d: dict[str, Any]) -> str:
    certs: list[dict[str, Any]] = d.get("certificates") or []
    worst = [c for c in certs if c["status"] != "ok"]
    return f"{len(certs)} endpoints, {len(certs) - len(worst)} ok" + (
        "; " + ", ".join(f"{c['server_name']}:{c['port']} {c['status']}" for c in worst)
        if worst
        else ""
    )


def _pods(d: dict[str, Any]) -> str:
    pods: list[dict[str, Any]] = d.get("pods") or []
    ready = sum(1 for p in pods if p.get("total") and p.get("ready") == p.get("total"))
    dep: dict[str, Any] = d.get("deployment") or {}
    rollout = f"; rollout {dep['rollout']}" if dep.get("rollout") else ""
    return f"{ready}/{len(pods)} pods ready in {d.get('namespace')} ({d.get('context')}){rollout}"


SUMMARIES: dict[str, Callable[[dict[str, Any]], str]] = {
    "database": _database,
    "cache": _cache,
    "certificates": _certificates,
    "api": _api,
    "pods": _pods,
}


def print_tables(doc: dict[str, Any], console: Console | None = None) -> None:
    """The overview table, then certificates and incidents when there are any."""
    console = console or Console(highlight=False)
    overview = Table(title="PredictIQ snapshot", expand=False)
    for column in ("source", "status", "collected", "summary"):
        overview.add_column(column, overflow="fold")
    for key, fn in SUMMARIES.items():
        if key not in doc:
            continue
        d = doc[key]
        status = (
            "[green]ok[/]"
            if d["ok"]
            else ("[dim]off[/]" if d["error"] == "not configured" else "[red]FAILED[/]")
        )
        summary = fn(d) if d["ok"] else str(d["error"])
        overview.add_row(key, status, (d["collected_at"] or "-")[11:19], summary)
    console.print(overview)
    certs: dict[str, Any] = doc.get("certificates") or {}
    if certs.get("ok") and certs.get("certificates"):
        table = Table(title="certificates")
        for column in ("endpoint", "name", "status", "days left", "not after", "issuer / why"):
            table.add_column(column, overflow="fold")
        for c in certs["certificates"]:
            why = c.get("error") or c.get("verify_error") or c.get("issuer", "")
            table.add_row(
                f"{c['host']}:{c['port']}",
                c["server_name"],
                c["status"],
                _num(c.get("days_left")),
                (c.get("not_after") or "-")[:10],
                why,
            )
        console.print(table)
    incidents: list[dict[str, Any]] = doc.get("incidents") or []
    if incidents:
        table = Table(title="incidents")
        for column in ("severity", "title"):
            table.add_column(column, overflow="fold")
        for inc in incidents:
            table.add_row(str(inc.get("severity", "")), str(inc.get("title", inc)))
        console.print(table)
