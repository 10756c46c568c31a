"""In-process measurements of CockpitApp (run as a child process so its RSS is its own):

    python -m bench.probe memory CONFIG     RSS with the lab's data and 30 min of trend history
    python -m bench.probe keys CONFIG N     key-to-frame latency, healthy sources
    python -m bench.probe keys-hung CONFIG N   the same with every source hung

Prints one JSON object. The lab's secrets come from the environment (see labkit.cockpit_env).
"""

from __future__ import annotations

import asyncio
import gc
import json
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import widgets.app
from cockpit.config import load_config
from cockpit.models import SourceFailure, utcnow
from cockpit.state import TRENDS, CockpitState
from widgets.app import CockpitApp

SOURCES = ("kubernetes", "database", "cache", "certificates", "api")


class HungSource:
    """A backend that never answers: collect() waits until the source is closed."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._closed = asyncio.Event()

    async def collect(self) -> SourceFailure:
        await self._closed.wait()
        raise RuntimeError("closed")

    async def aclose(self) -> None:
        self._closed.set()


class FrameRecordingApp(CockpitApp):
    """CockpitApp that notes, for every frame the compositor produced, when and which pane was
    active (headless, frames are composed but not written: the cost up to the write is kept)."""

    CSS_PATH = str(Path(widgets.app.__file__).with_name("cockpit.tcss"))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.frames: list[tuple[float, int]] = []

    def _display(self, screen: Any, renderable: Any) -> None:
        if renderable is not None:
            self.frames.append((time.perf_counter(), self.active))
        super()._display(screen, renderable)


def rss_mb() -> float:
    """This process's resident set size."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


async def until(predicate: Any, timeout: float) -> bool:
    """Poll `predicate` on the loop until true or `timeout` passes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        await asyncio.sleep(0.02)
    return bool(predicate())


def fill_history(state: CockpitState, samples: int, interval: float) -> int:
    """Put `samples` points, `interval` s apart and ending now, into every trend.

    Written straight into the ring buffers: replaying snapshots would leave out trends whose
    value is None in the idle lab (no hit rate without traffic), and it is the buffers' memory
    that is being measured.
    """
    now = utcnow()
    history = state._history  # the bench fills what 30 minutes would leave
    for name in TRENDS:
        buffer = history[name]
        for i in range(samples):
            buffer.append((now - timedelta(seconds=interval * (samples - i)), 50.0 + i % 7))
    return len(TRENDS)


async def memory(config: str) -> dict[str, Any]:
    """RSS after every pane filled, then after 900 samples per trend (30 min at 2 s)."""
    cfg = load_config(config)
    state = CockpitState(history_minutes=30, interval_seconds=cfg.refresh.interval_seconds)
    app = CockpitApp(cfg, state=state, freeze_heap=True)  # as run_app does
    async with app.run_test(size=(80, 24)) as pilot:
        ok = await until(lambda: all(state.latest(s) is not None for s in SOURCES), 60)
        db = state.database
        kube = state.kube
        after_fill = rss_mb()
        filled = fill_history(state, 900, cfg.refresh.interval_seconds)
        samples = {s: state.samples.get(s, 0) for s in SOURCES}
        # a few more refreshes so panes redraw with the full trends
        await until(lambda: state.samples.get("database", 0) >= samples["database"] + 3, 30)
        await pilot.pause()
        gc.collect()
        return {
            "filled": ok,
            "rss_after_fill_mb": after_fill,
            "rss_mb": rss_mb(),
            "pods": len(kube.pods) if kube else None,
            "db_connections": db.total if db else None,
            "trend_lengths": {
                name: len(state.trend(name))
                for name in (
                    "db.connections",
                    "cache.hit_rate",
                    "api.request_rate",
                    "kube.cpu_percent",
                )
            },
            "trends_filled_sources": filled,
        }


async def keys(config: str, presses: int, hung: bool) -> dict[str, Any]:
    """Seconds from each pane key press to the first frame showing that pane active."""
    cfg = load_config(config)
    sources = {name: HungSource(name) for name in SOURCES} if hung else None
    app = FrameRecordingApp(cfg, sources=sources, freeze_heap=True)  # as run_app does
    latencies: list[float] = []
    async with app.run_test(size=(80, 24)) as pilot:
        if hung:
            await until(lambda: all(app.scheduler.busy(s) for s in SOURCES), 10)
        else:
            await until(lambda: all(app.state.latest(s) is not None for s in SOURCES), 120)
            await asyncio.sleep(4)  # steady state: the first fill's drawing is done
        await pilot.pause()
        for i in range(presses):
            number = (i % 6) + 1
            if app.active == number - 1:
                number = number % 6 + 1
            t0 = time.perf_counter()
            await pilot.press(str(number))
            if not await until(
                lambda n=number, t0=t0: any(t >= t0 and a == n - 1 for t, a in app.frames[-5:]), 5
            ):
                latencies.append(float("inf"))
                continue
            latencies.append(next(t for t, a in app.frames if t >= t0 and a == number - 1) - t0)
        # hung sources time out (5 s) and back off: they must never have delivered data
        still_hung = all(app.state.latest(s) is None for s in SOURCES) if hung else None
    latencies.sort()

    def pct(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(round(p * (len(latencies) - 1))))]

    return {
        "presses": len(latencies),
        "p50_ms": 1000 * pct(0.5),
        "p99_ms": 1000 * pct(0.99),
        "max_ms": 1000 * latencies[-1],
        "no_source_ever_answered": still_hung,
    }


def main(argv: list[str]) -> int:
    """Entry point; see the module doc."""
    mode, config = argv[0], argv[1]
    if mode == "memory":
        result = asyncio.run(memory(config))
    elif mode in ("keys", "keys-hung"):
        result = asyncio.run(keys(config, int(argv[2]), hung=mode == "keys-hung"))
    else:
        raise SystemExit(f"unknown mode {mode}")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
