"""Start-up with a big local audit trail (issue 16): the first frame with a 1,000,000-entry log
against the same figure with an empty log, and what an append costs with the checkpoint.

    .venv/bin/python -m bench.bench_audit_startup                 # 1,000,000 entries
    .venv/bin/python -m bench.bench_audit_startup --entries 200000 --fallback

The log is generated straight to disk (a valid chain: `cockpit audit verify` passes it), rotated
at 64 MB like `[audit] rotate_mb`, over a year: ten incidents a day of seven entries each
(detected, acknowledged, noted, re-graded, an action's intent and result, resolved), the rest
actions outside incidents (intent and result), and three incidents still open at the end. The
checkpoint is then built once (timed: the cost of a start without one). First frame = real
`cockpit --config <file>` in an 80×24 pty until the banner's `LIVE`, median of 5 launches, for
the empty log and the big one; `--fallback` also launches with the checkpoint deleted (the whole
log is read before the first frame). Prints numbers; nothing asserts.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.labkit import REPO, VENV_BIN
from bench.ptyrun import PtyProcess
from cockpit.audit import checkpoint as checkpoints
from cockpit.audit.log import GENESIS, AuditLog, entry_hash
from cockpit.audit.series import rotated_name
from cockpit.config import Config

ROTATE = 64 * 1024 * 1024
BANNER = b"LIVE"
OPERATOR = {"login": "alice", "uid": 1000, "loginuid": 1000, "host": "jump1"}


def _incident_entries(number: int, at: datetime, resolve: bool) -> list[dict[str, Any]]:
    day = at.strftime("%Y%m%d")
    iid = f"INC-{day}-{number:04d}"
    t = at.isoformat()
    base: list[dict[str, Any]] = [
        {
            "event": "incident.detected",
            "incident_id": iid,
            "rule": "connection_exhaustion",
            "target": f"connection_exhaustion:{number}",
            "severity": "P2",
            "title": "Database connections at 92% of max_connections",
            "evidence": {"total": 92, "max_connections": 100, "idle_over_threshold": 31},
            "at": t,
            "deadline": (at + timedelta(minutes=30)).isoformat(),
        },
        {"event": "incident.ack", "incident_id": iid, "acknowledged_by": "alice", "at": t},
        {"event": "incident.note", "incident_id": iid, "text": "pool leak in the API", "at": t},
        {"event": "incident.severity", "incident_id": iid, "auto": False, "before": "P2"}
        | {"after": "P1", "by": "alice", "at": t},
        {"event": "intent", "action": "kill_idle", "target": "database predictiq"}
        | {"incident_id": iid, "params": {"pids": [21667, 21668, 21669]}, "pid": 1, "host": "x"},
        {"event": "result", "action": "kill_idle", "target": "database predictiq"}
        | {"incident_id": iid, "outcome": "ok", "message": "terminated 3", "intent_seq": -1},
    ]
    if resolve:
        base.append({"event": "incident.resolved", "incident_id": iid, "by": "alice", "at": t})
    return base


def _filler(i: int) -> list[dict[str, Any]]:
    """An action outside any incident (a scale, a cache warm): its intent and its result."""
    action, target = ("scale", "deployment/predictiq-api") if i % 2 else ("warm_cache", "api")
    return [
        {"event": "intent", "action": action, "target": target, "params": {"replicas": 3}}
        | {"pid": 1, "host": "x"},
        {"event": "result", "action": action, "target": target, "outcome": "ok"}
        | {"message": "done", "intent_seq": -1},
    ]


def generate(path: Path, entries: int, days: int = 365) -> float:
    """Write a chained, rotated log of `entries` entries over `days` days, ten incidents a day
    and the rest actions outside incidents; seconds taken."""
    started = time.perf_counter()
    now = datetime.now(UTC)
    first = now - timedelta(days=days)
    incidents = days * 10
    block = max(entries // incidents, 9)  # one incident (7 entries) then actions, per block
    block -= (block - 7) % 2  # whole intent/result pairs
    prev, seq, number, files, size, day = GENESIS, 0, 0, 1, 0, ""
    out = open(path, "wb")  # closed, and replaced on rotation, below
    try:
        k = 0
        while seq < entries:
            at = first + (now - timedelta(hours=1) - first) * min(seq / entries, 1.0)
            number = number + 1 if at.strftime("%Y%m%d") == day else 1
            day = at.strftime("%Y%m%d")
            still_open = seq + 3 * block >= entries  # the last three incidents stay open
            bodies = _incident_entries(number, at, resolve=not still_open)
            while len(bodies) < block:
                bodies += _filler(len(bodies))
            for body in bodies[:block]:
                if seq >= entries:
                    break
                seq += 1
                if body["event"] == "result":
                    body["intent_seq"] = seq - 1
                entry = {
                    "seq": seq,
                    "time": at.isoformat().replace("+00:00", "Z"),
                    "event": body.pop("event"),
                    "operator": OPERATOR,
                    "session": "bench0000001",
                    **body,
                    "prev": prev,
                }
                entry["hash"] = prev = entry_hash(entry)
                line = (json.dumps(entry, separators=(",", ":")) + "\n").encode()
                if size and size + len(line) > ROTATE:
                    out.close()
                    os.rename(path, rotated_name(path, files))
                    files += 1
                    out, size = open(path, "wb"), 0
                out.write(line)
                size += len(line)
            k += 1
    finally:
        out.close()
    path.with_name(path.name + ".head").write_text(json.dumps({"seq": seq, "hash": prev}))
    return time.perf_counter() - started


def first_frame(config: Path, state: Path, launches: int, timeout: float) -> list[float | None]:
    """Seconds from exec to the banner's LIVE, per launch."""
    env = dict(os.environ)
    env.update({"TERM": "xterm-256color", "PYTHONPATH": str(REPO), "XDG_STATE_HOME": str(state)})
    for name in ("COLUMNS", "LINES", "TEXTUAL"):
        env.pop(name, None)
    out: list[float | None] = []
    for _ in range(launches):
        with PtyProcess([str(VENV_BIN / "cockpit"), "--config", str(config)], env) as proc:
            seen = proc.wait_for(BANNER, timeout)
            out.append(seen - proc.started if seen else None)
    return out


def write_config(directory: Path, log: Path) -> Path:
    config = directory / "cockpit.toml"
    config.write_text(
        f'[audit]\npath = "{log}"\n\n[logging]\npath = "{directory / "cockpit.log"}"\n'
    )
    return config


def append_cost(log: Path, n: int) -> dict[str, float]:
    """record() on the big log (fsync + head + checkpoint), and the checkpoint write alone."""
    audit = AuditLog.for_config(Config(), log)
    audit.restore(datetime.now(UTC) - timedelta(hours=24))
    times: list[float] = []
    for i in range(n):
        t = time.perf_counter()
        audit.record("incident.note", incident_id="INC-20990101-0001", text=f"bench {i}")
        times.append(time.perf_counter() - t)
    cp = checkpoints.load(log)
    writes: list[float] = []
    for _ in range(n):
        t = time.perf_counter()
        checkpoints.write(log, cp)
        writes.append(time.perf_counter() - t)
    times.sort()
    return {
        "record_mean_ms": statistics.mean(times) * 1000,
        "record_p99_ms": times[int(len(times) * 0.99) - 1] * 1000,
        "checkpoint_write_mean_ms": statistics.mean(writes) * 1000,
        "checkpoint_bytes": float(checkpoints.checkpoint_path(log).stat().st_size),
    }


def median(values: list[float | None]) -> float | None:
    got = [v for v in values if v is not None]
    return statistics.median(got) if got else None


def main() -> int:
    parser = argparse.ArgumentParser(description="first frame with a big local audit log")
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--launches", type=int, default=5)
    parser.add_argument("--fallback", action="store_true", help="also launch without checkpoint")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="cockpit-bench-audit-") as tmp:
        root = Path(tmp)
        empty_dir, big_dir = root / "empty", root / "big"
        empty_dir.mkdir()
        big_dir.mkdir()
        empty_log, big_log = empty_dir / "audit.jsonl", big_dir / "audit.jsonl"
        gen_s = generate(big_log, args.entries)
        size = sum(p.stat().st_size for p in big_dir.glob("audit.jsonl*"))
        print(f"generated {args.entries:,} entries ({size / 1e6:.0f} MB) in {gen_s:.1f} s")
        t = time.perf_counter()
        restored = AuditLog(big_log).restore(datetime.now(UTC) - timedelta(hours=24))
        rebuild_s = time.perf_counter() - t
        print(
            f"checkpoint built from the whole log: {rebuild_s:.2f} s "
            f"({restored.read:,} entries read, {len(restored.book.open)} open incidents)"
        )
        empty = first_frame(write_config(empty_dir, empty_log), root / "s1", args.launches, 30)
        big = first_frame(write_config(big_dir, big_log), root / "s2", args.launches, 30)
        print(f"first frame, empty log:        median {median(empty)} s  {empty}")
        print(f"first frame, {args.entries:,} entries: median {median(big)} s  {big}")
        if args.fallback:
            checkpoints.checkpoint_path(big_log).unlink()
            slow = first_frame(write_config(big_dir, big_log), root / "s3", 1, 600)
            print(f"first frame, no checkpoint (whole log read): {slow}")
        costs = append_cost(big_log, 200)
        print(
            "append on the big log: record() mean {record_mean_ms:.2f} ms, p99 "
            "{record_p99_ms:.2f} ms (fsync included); checkpoint write alone "
            "{checkpoint_write_mean_ms:.3f} ms, {checkpoint_bytes:.0f} bytes".format(**costs)
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
