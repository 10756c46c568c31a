"""The benchmark suite in one command (issue 10):

    .venv/bin/python bench/run.py [--quick] [--only startup,idle,platform,keys,churn,rules,...]

Starts the lab (throwaway PostgreSQL with max_connections 1100, Redis, API simulator, TLS, the
Kubernetes simulator), runs each benchmark against it, prints "figure | measured | target | ok"
and writes bench/results/latest.json. --quick shortens every window (< 2 minutes in all).
Numbers, not tests: nothing here asserts.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import bench_steady
from bench.figures import Figure, fmt
from bench.labkit import REPO, VENV_BIN, Churn, IdleSessions, cockpit_env, start_lab

RESULTS = Path(__file__).resolve().parent / "results"
ALL = ("startup", "idle", "platform", "keys", "churn", "rules", "load", "memory", "kubelist")


def machine() -> dict[str, Any]:
    """What the numbers were measured on."""
    model = ""
    with open("/proc/cpuinfo") as fh:
        for line in fh:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {
        "nproc": os.cpu_count(),
        "cpu": model,
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def probe(lab: Any, *args: str) -> dict[str, Any]:
    """Run bench/probe.py in a child process and return its JSON."""
    done = subprocess.run(
        [str(VENV_BIN / "python"), "-m", "bench.probe", *args],
        capture_output=True,
        text=True,
        env=cockpit_env(lab),
        cwd=REPO,
        timeout=300,
    )
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-2000:])
    return json.loads(done.stdout.strip().splitlines()[-1])


def keys(lab: Any, quick: bool) -> list[Figure]:
    """Key-to-frame latency with healthy and with hung backends."""
    presses = "40" if quick else "120"
    healthy = probe(lab, "keys", str(lab.config_path), presses)
    hung = probe(lab, "keys-hung", str(lab.config_path), presses)
    return [
        Figure("key latency p99, healthy backends", healthy["p99_ms"], "ms", 50.0, extra=healthy),
        Figure("key latency p99, every backend hung", hung["p99_ms"], "ms", 50.0, extra=hung),
    ]


def keys_at_scale(lab: Any, quick: bool) -> list[Figure]:
    """Key-to-frame latency with 20,000 pods churning at 50 events/s."""
    bench_steady.grow(lab)
    with Churn(lab.kube, rate=bench_steady.SCALE_RATE):
        seen = probe(lab, "keys", str(lab.config_path), "40" if quick else "120")
    return [
        Figure(
            "key latency p99, 20,000 pods churning at 50 events/s",
            seen["p99_ms"],
            "ms",
            50.0,
            extra=seen,
        )
    ]


def memory(lab: Any) -> list[Figure]:
    """RSS with 20,000 pods, ~1,000 connections and 30 minutes of trends (in-process,
    headless)."""
    seen = probe(lab, "memory", str(lab.config_path))
    return [
        Figure(
            "memory RSS: 20,000 pods, 1,000 conns, 30 min trends",
            seen["rss_mb"],
            "MB",
            200.0,
            extra=seen,
        )
    ]


def kube_list(quick: bool) -> list[Figure]:
    """bench/bench_kube_list.py (the Kubernetes-source helper's): initial list + parse of
    20,000 pods, raw and as the source's first collect (what the target is for)."""
    script = Path(__file__).resolve().parent / "bench_kube_list.py"
    if not script.exists():
        return [
            Figure(
                "Kubernetes initial list + parse, 20,000 pods",
                None,
                "ms",
                None,
                extra={"skipped": "bench/bench_kube_list.py not present"},
            )
        ]
    done = subprocess.run(
        [str(VENV_BIN / "python"), str(script), "20000"],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        timeout=300,
    )
    rows = {
        m.group(1).strip(): float(m.group(2))
        for m in re.finditer(r"^\s*(.*?)\s+([\d.]+) ms\b", done.stdout, re.M)
    }

    def row(name: str) -> float | None:
        return rows.get(name)

    loads, parse = row("of which json.loads (CPU)"), row("of which parse_pod x N (CPU)")
    return [
        Figure(
            "Kubernetes initial list + parse, 20,000 pods (json.loads + parse_pod, CPU)",
            loads + parse if loads is not None and parse is not None else None,
            "ms",
            2000.0,
            extra={"rows_ms": rows, "stderr": done.stderr[-500:]},
        ),
        Figure(
            "Kubernetes raw list + json.loads + parse_pod, 20,000 pods (wall, simulator inside)",
            row("raw list + json.loads + parse_pod"),
            "ms",
            None,
        ),
        Figure(
            "KubeSource first collect, 20,000 pods (wall: lists + snapshot)",
            next((v for k, v in rows.items() if k.startswith("KubeSource first")), None),
            "ms",
            None,
        ),
    ]


def run(selected: tuple[str, ...], quick: bool) -> list[Figure]:
    """Every selected benchmark, in an order that grows the lab only once."""
    from bench import bench_pg_load, bench_rules, bench_startup

    figures: list[Figure] = []

    def step(name: str, fn: Any, *args: Any) -> None:
        if name not in selected:
            return
        started = time.monotonic()
        print(f"-- {name} ...", file=sys.stderr, flush=True)
        try:
            figures.extend(fn(*args))
        except Exception as exc:  # one broken benchmark must not hide the rest
            figures.append(Figure(f"{name}: FAILED", None, "", None, extra={"error": repr(exc)}))
        print(f"   {name} took {time.monotonic() - started:.1f} s", file=sys.stderr, flush=True)

    if set(selected) - {"kubelist", "rules"}:
        lab = start_lab(max_connections=1100)
        try:
            step("startup", bench_startup.run, lab, quick)
            step("idle", bench_steady.run_idle, lab, quick)
            step("platform", bench_steady.run_platform, lab, quick)
            step("keys", keys, lab, quick)
            step("churn", bench_steady.run_churn, lab, quick)
            step("churn", keys_at_scale, lab, quick)
            if {"load", "memory"} & set(selected):
                bench_steady.grow(lab)
                with IdleSessions(lab.app_url, 1000):
                    step("load", bench_pg_load.run, lab, quick)
                    step("memory", memory, lab)
        finally:
            lab.stop()
            shutil.rmtree(lab.dir, ignore_errors=True)
    step("rules", bench_rules.run, quick)
    step("kubelist", kube_list, quick)
    return figures


def table(figures: list[Figure]) -> str:
    """The figure | measured | target | ok table (Markdown)."""
    lines = ["| figure | measured | target | ok |", "|---|---|---|---|"]
    for f in figures:
        sign = {"max": "≤ ", "min": "≥ ", "eq": "= "}[f.kind]
        target = sign + fmt(f.target, f.unit) if f.target is not None else "—"
        ok = {True: "yes", False: "**NO**", None: ""}[f.ok]
        lines.append(f"| {f.name} | {fmt(f.measured, f.unit)} | {target} | {ok} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="short windows (< 2 minutes)")
    parser.add_argument("--only", help=f"comma-separated subset of {','.join(ALL)}")
    args = parser.parse_args(argv)
    selected = tuple(args.only.split(",")) if args.only else ALL
    started = time.monotonic()
    figures = run(selected, args.quick)
    print(table(figures))
    RESULTS.mkdir(exist_ok=True)
    out = {
        "machine": machine(),
        "quick": args.quick,
        "seconds": time.monotonic() - started,
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "figures": [f.as_json() for f in figures],
    }
    (RESULTS / "latest.json").write_text(json.dumps(out, indent=2, default=str) + "\n")
    print(
        f"\n{out['machine']['nproc']} × {out['machine']['cpu']}, Python "
        f"{out['machine']['python']}; {out['seconds']:.0f} s; wrote {RESULTS / 'latest.json'}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
