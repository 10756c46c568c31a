"""The log view under load: 20 pods × 500 lines/s followed merged for 60 s (issue 15).

    .venv/bin/python bench/bench_logs.py [--pods 20] [--rate 500] [--seconds 60]

A child process runs the Kubernetes simulator and writes the lines (so its work does not share
the cockpit's interpreter); this process runs the cockpit (`CockpitApp.run_test(size=(80, 24))`,
fixed sources for the panes) with the log view on the whole deployment, `[logs] buffer_lines`
10,000. Printed, not asserted:

- key latency p99 while streaming: a view key pressed every 0.25 s (t, j, w, up, end, …), from
  the press to the first composed frame that shows its effect;
- RSS growth after the buffer is full (first full → end);
- lines shown = lines sent − lines counted as dropped, exactly, once the writer has stopped and
  every stream has caught up;
- lag of the newest shown line behind the newest sent, sampled every 0.1 s.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from datetime import UTC
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

NS, APP = "predictiq", "predictiq-api"
KEYS = (
    "t",
    "t",
    "j",
    "j",
    "w",
    "w",
    "up",
    "end",
    "slash",
    "escape",
    "f",
    "f",
)  # each changes the view
CHARACTERS = {"slash": "/", "escape": "\x1b", "up": None, "end": None}


def _writer(
    kubeconfig: str,
    pods: int,
    rate: int,
    seconds: float,
    sent: Any,
    newest: Any,
    elapsed: Any,
    ready: Any,
    go: Any,
    done: Any,
) -> None:
    """Child: a KubeSim with `pods` pods; after `go`, `rate` lines/s per pod for `seconds`.

    What is owed comes from the clock, not from the number of ticks: a tick that overruns (a
    busy machine, the simulator's own work) is made up by the next batch instead of lost, so
    the writer sends `rate × seconds` per pod unless it cannot keep up at all (then the
    achieved rate printed beside the asked one says so)."""
    from cockpit.lab.kubesim.sim import KubeSim

    with KubeSim(namespace=NS, deployment=APP, replicas=pods, delay=0.05, hpa=None) as sim:
        sim.write_kubeconfig(kubeconfig, context="bench")
        names = [p["metadata"]["name"] for p in sim.pods()]
        ready.set()
        go.wait()
        tick, n = 0.01, 0
        start = time.perf_counter()
        while (now := time.perf_counter() - start) < seconds:
            batch = int(rate * now) - n  # per pod, all that is due by now
            if batch > 0:
                for name in names:
                    text = "\n".join(
                        f'{{"level":"info","msg":"request {n + i}","pod":"{name}"}}'
                        for i in range(batch)
                    )
                    sim.logs.write(NS, name, text)
                n += batch
                sent.value += batch * len(names)
                newest.value = time.time_ns()
            next_at = start + (int((time.perf_counter() - start) / tick) + 1) * tick
            time.sleep(max(next_at - time.perf_counter(), 0))
        elapsed.value = time.perf_counter() - start
        done.set()
        # keep serving until the parent has read everything
        go.clear()
        while not go.wait(0.1):
            pass


def rss_mb() -> float:
    """This process's resident set size."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


async def measure(
    kubeconfig: str, args: argparse.Namespace, sent: Any, newest: Any, go: Any, done: Any
) -> dict[str, Any]:
    from textual import events

    from cockpit.config import KubernetesConfig, LogsConfig
    from cockpit.sources.kube.logs import LogTiming
    from tests.ui.fixtures import fixed_sources, frozen_clock, make_config
    from widgets.app import CockpitApp
    from widgets.screens.logs import LogTarget, LogView

    cfg = replace(
        make_config(),
        kubernetes=KubernetesConfig(
            kubeconfig=kubeconfig,
            context="bench",
            namespace=NS,
            deployment=APP,
            selector=f"app={APP}",
        ),
        logs=LogsConfig(tail_lines=0, buffer_lines=10_000, max_pods=args.pods),
    )

    class FrameRecordingApp(CockpitApp):
        """Notes when each frame was composed and what the log view looked like then."""

        CSS_PATH = str(ROOT / "widgets" / "cockpit.tcss")
        frames: list[tuple[float, Any]] = []

        def _display(self, screen: Any, renderable: Any) -> None:
            if renderable is not None and isinstance(self.screen, LogView):
                self.frames.append((time.perf_counter(), signature(self.screen)))
            super()._display(screen, renderable)

    def signature(view: LogView) -> Any:
        return (view.options, view.wrap, view.hide, view.following, view.typing is not None)

    app = FrameRecordingApp(
        cfg, sources=fixed_sources(), clock=frozen_clock, local_tz=UTC, freeze_heap=True
    )  # as run_app does
    out: dict[str, Any] = {}
    async with app.run_test(size=(80, 24)) as pilot:
        view = LogView(cfg, LogTarget(None, f"app={APP}", APP), timing=LogTiming())
        app.push_screen(view)
        while not (
            view.session
            and len(view.session.states()) == args.pods
            and all(s.state == "following" for s in view.session.states().values())
        ):
            await pilot.pause(0.05)
        go.set()
        cpu0, wall0 = time.process_time(), time.perf_counter()
        latencies: list[float] = []
        slowest: list[tuple[float, str]] = []
        rss_series: list[float] = []
        next_rss = 0.0
        lags: list[float] = []
        full_rss: float | None = None
        started = time.perf_counter()
        next_key = started + 1.0
        key_index = 0
        while not done.is_set():
            await asyncio.sleep(0.1)
            if view.lines and view.following:
                lags.append(max(newest.value - view.lines[-1].time_ns, 0) / 1e9)
            if full_rss is not None and time.perf_counter() >= next_rss:
                rss_series.append(rss_mb())
                next_rss += 10
            if full_rss is None and view.buffer.snapshot()[2] > 0:
                next_rss = time.perf_counter() + 10
                full_rss = rss_mb()
                out["buffer_full_after_s"] = time.perf_counter() - started
            if time.perf_counter() >= next_key:
                key = KEYS[key_index % len(KEYS)]
                before = signature(view)
                key_index += 1
                t0 = time.perf_counter()
                # as the terminal driver delivers a key (pilot.press would wait for an idle
                # app, which a view repainting ten times a second rarely is)
                app.post_message(
                    events.Key(key, CHARACTERS.get(key, key if len(key) == 1 else None))
                )
                while signature(view) == before and time.perf_counter() - t0 < 10:
                    await asyncio.sleep(0.002)
                expected = signature(view)
                seen_at = None
                while seen_at is None and time.perf_counter() - t0 < 10:
                    seen_at = next(
                        (t for t, sig in app.frames[-20:] if t >= t0 and sig == expected), None
                    )
                    if seen_at is None:
                        await asyncio.sleep(0.005)
                latencies.append((seen_at or time.perf_counter()) - t0)
                slowest.append((latencies[-1], key))
                del app.frames[:-50]
                next_key += 0.25
        end_rss = rss_mb()
        out["cpu_percent"] = 100 * (time.process_time() - cpu0) / (time.perf_counter() - wall0)
        if not view.following:
            await pilot.press("f")
        # every stream catches up: the buffer has received all that was sent
        deadline = time.perf_counter() + 30
        while view.buffer.snapshot()[3] < sent.value and time.perf_counter() < deadline:
            await pilot.pause(0.1)
        await pilot.pause(0.3)
        _, _, dropped, received = view.buffer.snapshot()
        out.update(
            sent=sent.value,
            received=received,
            dropped=dropped,
            shown=len(view.lines),
            exact=len(view.lines) == sent.value - dropped,
            key_p50_ms=1000 * statistics.median(latencies),
            key_p99_ms=1000 * sorted(latencies)[max(int(len(latencies) * 0.99) - 1, 0)],
            keys=len(latencies),
            rss_series=" ".join(f"{r:.1f}" for r in rss_series),
            slowest=", ".join(f"{k} {1000 * t:.0f} ms" for t, k in sorted(slowest)[-5:]),
            rss_at_full_mb=full_rss,
            rss_end_mb=end_rss,
            rss_growth_mb=(end_rss - full_rss) if full_rss is not None else None,
            lag_p50_s=statistics.median(lags) if lags else None,
            lag_p99_s=sorted(lags)[max(int(len(lags) * 0.99) - 1, 0)] if lags else None,
            lag_max_s=max(lags) if lags else None,
            states=sorted({s.state for s in view.session.states().values()})
            if view.session
            else [],
        )
        await pilot.press("escape")
    return out


def num(value: float | None, unit: str, digits: int = 1) -> str:
    """'12.3 MB', or 'n/a' (the buffer never filled, nothing was shown)."""
    return "n/a" if value is None else f"{value:.{digits}f} {unit}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pods", type=int, default=20)
    parser.add_argument("--rate", type=int, default=500, help="lines per second per pod")
    parser.add_argument("--seconds", type=float, default=60.0)
    args = parser.parse_args()
    ctx = mp.get_context("spawn")
    sent, newest, elapsed = ctx.Value("q", 0), ctx.Value("q", 0), ctx.Value("d", 0.0)
    ready, go, done = ctx.Event(), ctx.Event(), ctx.Event()
    load_before = os.getloadavg()[0]  # the machine may be shared: say how busy it was
    with tempfile.TemporaryDirectory() as tmp:
        kubeconfig = str(Path(tmp) / "kubeconfig")
        child = ctx.Process(
            target=_writer,
            args=(
                kubeconfig,
                args.pods,
                args.rate,
                args.seconds,
                sent,
                newest,
                elapsed,
                ready,
                go,
                done,
            ),
            daemon=True,
        )
        child.start()
        try:
            if not ready.wait(60):
                print("the simulator did not start", file=sys.stderr)
                return 1
            result = asyncio.run(measure(kubeconfig, args, sent, newest, go, done))
        finally:
            go.set()
            child.join(10)
            if child.is_alive():
                child.terminate()
    print(
        f"log view: {args.pods} pods × {args.rate} lines/s merged for {args.seconds:g} s, "
        "80×24, buffer 10,000 lines"
    )
    rows = [
        ("key latency p99 while streaming", f"{result['key_p99_ms']:.1f} ms", "≤ 50 ms"),
        ("key latency p50", f"{result['key_p50_ms']:.1f} ms", ""),
        ("keys pressed", str(result["keys"]), ""),
        ("slowest keys", result["slowest"], ""),
        ("cockpit CPU while streaming (of one core)", f"{result['cpu_percent']:.0f} %", ""),
        ("RSS when the buffer was first full", num(result["rss_at_full_mb"], "MB"), ""),
        ("RSS growth after the buffer was full", num(result["rss_growth_mb"], "MB"), "≤ 20 MB"),
        ("RSS every 10 s after that (MB)", result["rss_series"], ""),
        ("lines sent", f"{result['sent']:,}", f"{args.pods * args.rate * args.seconds:,.0f} asked"),
        (
            "writer rate achieved (lines/s)",
            f"{result['sent'] / max(elapsed.value, 1e-9):,.0f}",
            f"{args.pods * args.rate:,} asked",
        ),
        (
            "load average (1 min) before / at the end",
            f"{load_before:.1f} / {os.getloadavg()[0]:.1f}",
            f"{os.cpu_count()} cores",
        ),
        ("lines counted as dropped", f"{result['dropped']:,}", ""),
        ("lines shown", f"{result['shown']:,}", ""),
        ("shown = sent − dropped", "yes" if result["exact"] else "NO", "exactly"),
        ("lag of the newest shown line p50", num(result["lag_p50_s"], "s", 3), ""),
        ("lag p99", num(result["lag_p99_s"], "s", 3), "≤ 0.5 s"),
        ("lag max", num(result["lag_max_s"], "s", 3), ""),
        ("stream states at the end", ", ".join(result["states"]), ""),
    ]
    for name, value, target in rows:
        print(f"  {name:<40} {value:>14}  {target}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
