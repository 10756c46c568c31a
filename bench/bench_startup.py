"""Start-up: first bytes and first frame of `cockpit` in an 80×24 pty, every pane filled, and the
import cost of what the first frame needs (with the heavy client libraries among it).
"""

from __future__ import annotations

import json
import re
import statistics
import subprocess
import time
from pathlib import Path
from typing import Any

from bench.figures import Figure
from bench.labkit import REPO, VENV_BIN, cockpit_env
from bench.ptyrun import PtyProcess, visible_text

BANNER = b"LIVE"  # the banner's mode box: on the first real frame
PANES = ("Pods", "Database", "Cache", "Certificates", "API")
MOVE = re.compile(rb"\x1b\[\d+;\d+H")
HEAVY = (
    "textual",
    "rich",
    "kubernetes",
    "psycopg",
    "redis",
    "httpx",
    "cryptography",
    "prometheus_client",
    "yaml",
    "urllib3",
    "certifi",
)

# What happens before the first frame, as run_app does it: the CLI, the app module and
# CockpitApp.__init__ (which decides from the config which panes have a source, importing no
# client). The sources are built after the first frame (in a thread): their imports are timed
# after the marker line and reported apart.
FIRST_FRAME_PATH = """
import sys
from cockpit.cli import build_parser, load
args = build_parser().parse_args(["--config", sys.argv[1]])
cfg = load(args)
from widgets.app import CockpitApp, _open_audit
CockpitApp(cfg, audit=_open_audit(cfg))
"""
MARK = "-- first frame --"
CLIENTS = ("kubernetes", "psycopg", "redis", "httpx")
AFTER_FIRST_FRAME = f"""
sys.stderr.write({MARK!r} + "\\n")
from cockpit.sources.registry import build_sources
build_sources(cfg)
"""


AUDIT_ENTRIES = 200_000  # a year of a busy team's operator steps and incidents


def big_audit_log(path: Path, entries: int = AUDIT_ENTRIES) -> Path:
    """A valid hash-chained audit log of `entries` entries (written without the per-entry
    fsync of AuditLog.record: this is setup), incidents opened and resolved long ago."""
    from cockpit.audit.log import GENESIS, entry_hash

    prev = GENESIS
    with open(path, "w", encoding="ascii") as fh:
        for seq in range(1, entries + 1):
            day = 20250101 + (seq // 2000) % 28
            entry: dict[str, Any] = {
                "seq": seq,
                "time": f"2025-01-{1 + (seq // 2000) % 28:02d}T10:00:00Z",
                "event": ("incident.opened", "incident.note", "incident.resolved")[seq % 3],
                "operator": {"user": "bench", "uid": 1000},
                "session": "bench",
                "incident_id": f"INC-{day}-{seq % 2000:04d}",
                "note": "bench entry " + "x" * 80,
                "prev": prev,
            }
            entry["hash"] = entry_hash(entry)
            prev = entry["hash"]
            fh.write(json.dumps(entry, ensure_ascii=True, separators=(",", ":")) + "\n")
    return path


def with_audit(lab: Any, audit: Path) -> Path:
    """A copy of the lab's config whose audit log is `audit`."""
    text = lab.config_path.read_text(encoding="utf-8")
    path = lab.dir / "config-big-audit.toml"
    path.write_text(
        re.sub(r'(\[audit\]\npath = )""', lambda m: m.group(1) + json.dumps(str(audit)), text),
        encoding="utf-8",
    )
    return path


def filled_panes(data: bytes) -> set[str]:
    """Panes whose one-line summary in this output says 'updated' (i.e. has data)."""
    lines = visible_text(MOVE.sub(b"\n", data)).splitlines()
    found = set()
    for line in lines:
        for pane in PANES:
            if re.search(rf"\d {pane}\b.*updated", line):
                found.add(pane)
    return found


def launch_once(
    lab: Any, timeout: float = 15.0, config: Path | None = None
) -> dict[str, float | None]:
    """One launch: seconds to the first byte, to the banner, and until every pane was filled."""
    argv = [str(VENV_BIN / "cockpit"), "--config", str(config or lab.config_path)]
    with PtyProcess(argv, cockpit_env(lab)) as proc:
        first = proc.first_output_at(timeout)
        banner = proc.wait_for(BANNER, timeout)
        filled_at = None
        deadline = time.perf_counter() + timeout
        seen: set[str] = set()
        index = 0
        while time.perf_counter() < deadline and filled_at is None:
            with proc.lock:
                fresh = proc.chunks[index:]
                index = len(proc.chunks)
            for at, data in fresh:
                seen |= filled_panes(data)
                if seen >= set(PANES):
                    filled_at = at
                    break
            time.sleep(0.005)
        start = proc.started
    return {
        "first_bytes_s": first - start if first else None,
        "first_frame_s": banner - start if banner else None,
        "all_filled_s": filled_at - start if filled_at else None,
    }


def _import_times(stderr: str) -> tuple[float, dict[str, float]]:
    """Total top-level import seconds and the heavy packages' cumulative seconds."""
    packages: dict[str, float] = {}
    total_us = 0
    for line in stderr.splitlines():
        m = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)", line)
        if not m:
            continue
        cumulative, depth, name = int(m.group(2)), len(m.group(3)), m.group(4)
        if depth == 1:
            total_us += cumulative
        root = name.split(".")[0]
        if root in HEAVY and name == root:
            packages[root] = max(packages.get(root, 0.0), cumulative / 1e6)
    return total_us / 1e6, dict(sorted(packages.items(), key=lambda kv: -kv[1]))


def import_profile(lab: Any) -> dict[str, Any]:
    """`python -X importtime` of the first-frame path, then of building the sources after it."""
    done = subprocess.run(
        [
            str(VENV_BIN / "python"),
            "-X",
            "importtime",
            "-c",
            FIRST_FRAME_PATH + AFTER_FIRST_FRAME,
            str(lab.config_path),
        ],
        capture_output=True,
        text=True,
        env=cockpit_env(lab),
        cwd=REPO,
        timeout=60,
    )
    before, _, after = done.stderr.partition(MARK + "\n")
    total, packages = _import_times(before)
    later, later_packages = _import_times(after)
    wall = subprocess.run(
        [
            str(VENV_BIN / "python"),
            "-c",
            "import time; t=time.perf_counter();"
            + FIRST_FRAME_PATH
            + "\nprint(time.perf_counter()-t)",
            str(lab.config_path),
        ],
        capture_output=True,
        text=True,
        env=cockpit_env(lab),
        cwd=REPO,
        timeout=60,
    )
    return {
        "imports_total_s": total,
        "first_frame_path_wall_s": float(wall.stdout.strip() or "nan"),
        "heavy_on_first_frame_path_s": packages,
        "imports_after_first_frame_s": later,
        "heavy_after_first_frame_s": later_packages,
    }


def run(lab: Any, quick: bool) -> list[Figure]:
    """Launch the cockpit a few times against the idle lab; report medians."""
    launches = [launch_once(lab) for _ in range(3 if quick else 5)]

    def median(key: str) -> float | None:
        values = [x[key] for x in launches if x[key] is not None]
        return statistics.median(values) if values else None

    imports = import_profile(lab)
    heavy = imports["heavy_on_first_frame_path_s"]
    audit = big_audit_log(lab.dir / "big-audit.jsonl")
    config = with_audit(lab, audit)
    big = [launch_once(lab, config=config) for _ in range(3)]
    big_frames = [x["first_frame_s"] for x in big if x["first_frame_s"] is not None]
    return [
        Figure(
            f"start-up: first frame with a {AUDIT_ENTRIES:,}-entry audit log "
            f"({audit.stat().st_size / 2**20:.0f} MB)",
            statistics.median(big_frames) if big_frames else None,
            "s",
            0.3,
            extra={"launches": big},
        ),
        Figure(
            "start-up: first bytes on the terminal",
            median("first_bytes_s"),
            "s",
            None,
            extra={"launches": launches},
        ),
        Figure(
            "start-up: first frame (banner drawn)",
            median("first_frame_s"),
            "s",
            0.3,
            extra={"launches": launches},
        ),
        Figure("start-up: every pane filled", median("all_filled_s"), "s", 1.5),
        Figure(
            "start-up: imports before the first frame",
            imports["imports_total_s"],
            "s",
            None,
            extra=imports,
        ),
        Figure(
            "start-up: client libraries imported before the first frame",
            float(sum(v for k, v in heavy.items() if k in CLIENTS)),
            "s",
            None,
            extra={"libraries": {k: v for k, v in heavy.items() if k in CLIENTS}},
        ),
        Figure(
            "start-up: imports after the first frame (building the sources, in a thread)",
            imports["imports_after_first_frame_s"],
            "s",
            None,
            extra={"libraries": imports["heavy_after_first_frame_s"]},
        ),
    ]
