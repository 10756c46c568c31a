"""`cockpit snapshot`: collect every configured source once and print a table or JSON.

For scripts, cron and a flaky SSH link. Sources whose figures are rates (cache, api) are sampled a
second time `--interval` seconds later, so their rates are real rather than since-start averages.
Exit 0 when every configured source answered, 1 when any failed (the JSON still holds the
others, and a source that could not even be built counts as failed), 2 for a bad config or bad
arguments. The JSON shape is documented in README and its keys are stable: `database`, `cache`,
`certificates`, `api`, `pods`, then `incidents`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Mapping
from typing import Any

from cockpit.config import Config
from cockpit.models import (
    ApiStatus,
    CertificatesSnapshot,
    CertState,
    Snapshot,
    SourceFailure,
    to_jsonable,
)
from cockpit.sources.base import Source, guarded
from cockpit.sources.registry import BUILD_STEP, NOT_CONFIGURED, build_sources
from cockpit.state import CockpitState

RATE_SOURCES = ("cache", "api")  # need two samples for rates over an interval
JSON_KEYS = {
    "database": "database",
    "cache": "cache",
    "certificates": "certificates",
    "api": "api",
    "kubernetes": "pods",
}  # source name -> top-level JSON key
CLOSE_TIMEOUT = 3.0

Results = dict[str, Snapshot | SourceFailure]


async def _collect(sources: dict[str, Source], timeout: float) -> Results:
    names = list(sources)
    # the sources bound themselves; this outer guard is the belt to their braces
    done = await asyncio.gather(
        *(guarded(n, "collect", sources[n].collect(), timeout + 1.0) for n in names)
    )
    return dict(zip(names, done, strict=True))


async def _close(sources: dict[str, Source]) -> None:
    async def close_one(source: Source) -> None:
        try:
            await asyncio.wait_for(source.aclose(), CLOSE_TIMEOUT)
        except Exception as exc:  # closing must not hide the results
            print(f"cockpit: warning: closing {source.name}: {exc}", file=sys.stderr)

    await asyncio.gather(*(close_one(s) for s in sources.values()))


async def take_snapshot(
    cfg: Config, interval: float = 1.0, sources: dict[str, Source] | None = None
) -> Results:
    """Collect every source concurrently; re-sample the rate sources after `interval` seconds.
    A source that could not be built is a SourceFailure in the results, beside the others'
    data. Closes the sources it built (and those passed in) before returning."""
    failures: dict[str, str] = {}
    if sources is None:
        sources, failures = build_sources(cfg)
    timeout = cfg.refresh.timeout_seconds
    try:
        results = await _collect(sources, timeout)
        results.update(
            {name: SourceFailure(name, BUILD_STEP, reason) for name, reason in failures.items()}
        )
        again = {
            n: s
            for n, s in sources.items()
            if n in RATE_SOURCES and not isinstance(results[n], SourceFailure)
        }
        if again and interval > 0:
            await asyncio.sleep(interval)  # the sampling interval the rates are computed over
            results.update(await _collect(again, timeout))
        return results
    finally:
        await _close(sources)


def section(result: Snapshot | SourceFailure | None) -> dict[str, Any]:
    """One source's JSON object: `ok`, `error`, `collected_at`, then the snapshot's fields."""
    if result is None:
        return {"ok": False, "error": NOT_CONFIGURED, "collected_at": None}
    if isinstance(result, SourceFailure):
        return {
            "ok": False,
            "error": result.describe(),
            "collected_at": None,
            "failed_step": result.what,
            "failed_at": to_jsonable(result.at),
        }
    body = to_jsonable(result)
    body.pop("trend_history", None)  # [prometheus] back-fill for the screen's trends, not a figure
    return {"ok": True, "error": None, "collected_at": body.pop("collected_at", None), **body}


def incidents_section(cfg: Config, results: Results) -> list[Mapping[str, Any]]:
    """The incidents the runbook rules find in this one-shot state (no hysteresis)."""
    from cockpit.incidents.engine import incidents_json

    state = CockpitState(cfg.refresh.history_minutes, cfg.refresh.interval_seconds)
    for name, result in results.items():
        state.update(name, result)
    try:
        return incidents_json(cfg, state)
    except Exception as exc:  # a rule bug must not cost the operator the snapshot
        print(f"cockpit: warning: incident evaluation failed: {exc}", file=sys.stderr)
        return []


def build_document(cfg: Config, results: Results) -> dict[str, Any]:
    """The whole JSON document, keys in their documented order."""
    doc: dict[str, Any] = {}
    for name in ("database", "cache", "certificates", "api"):
        doc[JSON_KEYS[name]] = section(results.get(name))
    doc["pods"] = section(results.get("kubernetes"))
    doc["incidents"] = incidents_section(cfg, results)
    return doc


def failed_checks(results: Results) -> list[str]:
    """Every configured check that could not be made: a source that failed, a certificate in
    state `error` (nothing could be read), an API whose /health gave no 2xx (or no JSON)."""
    failed: list[str] = []
    for name, result in results.items():
        if isinstance(result, SourceFailure):
            failed.append(f"{name}: {result.describe()}")
        elif isinstance(result, CertificatesSnapshot):
            failed += [
                f"certificate {c.host}:{c.port}: {c.error or 'no certificate read'}"
                for c in result.certificates
                if c.status == CertState.ERROR
            ]
        elif isinstance(result, ApiStatus) and not result.health_ok:
            code = result.health_status_code
            failed.append(
                f"api: /health {'HTTP ' + str(code) if code is not None else 'no answer'}"
            )
    return failed


def exit_code(results: Results) -> int:
    """0 when every configured check was made, 1 when any could not be (`failed_checks`)."""
    return 1 if failed_checks(results) else 0


def main(args: argparse.Namespace) -> int:
    """`cockpit snapshot [--json] [--interval S]`; ConfigError is turned into exit 2 by the cli."""
    from cockpit.cli import load

    interval = getattr(args, "interval", 1.0)
    if interval is None or not 0 <= interval <= 300:
        print("cockpit: error: --interval must be between 0 and 300 seconds", file=sys.stderr)
        return 2
    cfg = load(args)
    results = asyncio.run(take_snapshot(cfg, interval))
    doc = build_document(cfg, results)
    if getattr(args, "json", False):
        print(json.dumps(doc, indent=2))
    else:
        from cockpit.snapshot.table import print_tables

        print_tables(doc)
    for failed in failed_checks(results):
        print(f"cockpit: check failed: {failed}", file=sys.stderr)
    return exit_code(results)
