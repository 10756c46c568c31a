"""Steady state of the real `cockpit` process in a pty at the default 2 s refresh: CPU with the
lab idle and with pods churning, and, over the idle window, the load it puts on what it watches
(Kubernetes list requests, Redis INFO calls) and the bytes it writes; then the same CPU and
bytes on the platform of issue 21 (five TLS endpoints, API and cache traffic on) in both
layouts, compact (80×24) and grid (120×40).
"""

from __future__ import annotations

import re
import time
from collections import Counter
from typing import Any

from bench.bench_startup import PANES, filled_panes
from bench.figures import Figure
from bench.labkit import VENV_BIN, Churn, cockpit_env, platform_traffic
from bench.ptyrun import PtyProcess, cpu_seconds, rss_bytes, visible_text
from bench.steady_helpers import redis_info_calls

LAYOUTS = ((80, 24), (120, 40))  # compact, grid
AT = re.compile(rb"\x1b\[(\d+);(\d+)H")


def filled_grid(data: bytes) -> set[tuple[int, int]]:
    """Where the grid's status lines say 'updated' in this output: (row, column) on screen.
    The grid hides the one-line summaries; each pane's status line is at its own place."""
    found = set()
    parts = AT.split(data)
    for i in range(1, len(parts) - 2, 3):
        row, col, text = int(parts[i]), int(parts[i + 1]), visible_text(parts[i + 2])
        for line_no, line in enumerate(text.split("\n")):
            for m in re.finditer(r"updated \d+s ago", line):
                found.add((row + line_no, (col if line_no == 0 else 1) + m.start()))
    return found


def start_filled(
    lab: Any,
    timeout: float = 30.0,
    settle: float = 4.0,
    size: tuple[int, int] = (80, 24),
    needle: str = "",
) -> PtyProcess:
    """A cockpit in a pty whose panes have all shown data (and whose screen has shown
    `needle`, e.g. '20000/20000 ready' once the initial list is in), `settle` s after that."""
    cols, rows = size
    proc = PtyProcess(
        [str(VENV_BIN / "cockpit"), "--config", str(lab.config_path)],
        cockpit_env(lab),
        cols=cols,
        rows=rows,
    )
    deadline = time.perf_counter() + timeout
    seen: set[str] = set()
    spots: set[tuple[int, int]] = set()
    index = 0
    text = ""
    while time.perf_counter() < deadline and not (
        (seen >= set(PANES) or len(spots) >= len(PANES)) and needle in text
    ):
        with proc.lock:
            fresh, index = proc.chunks[index:], len(proc.chunks)
        for _, data in fresh:
            seen |= filled_panes(data)
            spots |= filled_grid(data)
            if needle and needle not in text:
                text = (text + visible_text(data))[-4096:]
        time.sleep(0.05)
    time.sleep(settle)
    return proc


def observe(lab: Any, proc: PtyProcess, window: float) -> dict[str, Any]:
    """CPU, output, Kubernetes requests and Redis INFO calls over `window` seconds."""
    kube_before = lab.kube.request_counts
    info_before = redis_info_calls(lab.redis_url)
    cpu_before, t0 = cpu_seconds(proc.pid), time.perf_counter()
    time.sleep(window)
    cpu_after, t1 = cpu_seconds(proc.pid), time.perf_counter()
    info_after = redis_info_calls(lab.redis_url)
    kube_delta = lab.kube.request_counts - kube_before
    chunks = [(at, d) for at, d in proc.output_since(t0) if at <= t1]
    return {
        "window_s": t1 - t0,
        "cpu_percent": 100.0 * (cpu_after - cpu_before) / (t1 - t0),
        "rss_mb": rss_bytes(proc.pid) / 2**20,
        "kube_requests": {f"{verb} {res}": n for (verb, res), n in kube_delta.items()},
        # metrics.k8s.io has no watch: its polls are counted apart from lists of watchable kinds
        "kube_lists": sum(
            n
            for (verb, res), n in kube_delta.items()
            if verb == "list" and not res.endswith("metrics.k8s.io")
        ),
        "metrics_polls": sum(
            n
            for (verb, res), n in kube_delta.items()
            if verb == "list" and res.endswith("metrics.k8s.io")
        ),
        "redis_info_calls": info_after - info_before - 1,  # minus our own first INFO
        "bytes": sum(len(d) for _, d in chunks),
        "writes": len(chunks),
        "chunks": chunks,
    }


def what_changed(chunks: list[tuple[float, bytes]], limit: int = 12) -> list[str]:
    """The most common visible texts written (to see what is redrawn while nothing changes)."""
    texts = Counter(" ".join(visible_text(d).split())[:70] for _, d in chunks)
    return [f"{n}× {t}" for t, n in texts.most_common(limit)]


def run_idle(lab: Any, quick: bool) -> list[Figure]:
    """The lab idle (API traffic stopped, no churn)."""
    interval = 2.0
    window = 10.0 if quick else 30.0
    with start_filled(lab) as proc:
        seen = observe(lab, proc, window)
    refreshes = seen["window_s"] / interval
    return [
        Figure(
            "steady CPU, lab idle (2 s refresh)",
            seen["cpu_percent"],
            "%",
            3.0,
            extra={"window_s": seen["window_s"], "rss_mb": seen["rss_mb"]},
        ),
        Figure(
            "Kubernetes lists of watchable resources in steady state",
            seen["kube_lists"],
            "req",
            0,
            extra={"requests_in_window": seen["kube_requests"], "window_s": seen["window_s"]},
        ),
        Figure(
            "metrics.k8s.io polls (no watch exists; default every 10 s)",
            seen["metrics_polls"],
            "req",
            None,
            extra={"window_s": seen["window_s"]},
        ),
        Figure(
            "Redis INFO calls per refresh (pty run)",
            seen["redis_info_calls"] / refreshes,
            "/refresh",
            1.0,
            extra={"calls": seen["redis_info_calls"], "refreshes": refreshes},
        ),
        Figure(
            "terminal bytes per refresh, backends idle",
            seen["bytes"] / refreshes,
            "B",
            None,
            extra={
                "writes": seen["writes"],
                "bytes": seen["bytes"],
                "refreshes": refreshes,
                "most_written": what_changed(seen["chunks"]),
            },
        ),
    ]


def run_platform(lab: Any, quick: bool) -> list[Figure]:
    """The platform of issue 21: API traffic on (and so cache traffic), five TLS endpoints;
    CPU and terminal bytes per refresh in the compact and in the grid layout."""
    interval = 2.0
    window = 20.0 if quick else 60.0
    figures: list[Figure] = []
    platform_traffic(lab, True)
    try:
        for cols, rows in LAYOUTS:
            with start_filled(lab, size=(cols, rows)) as proc:
                seen = observe(lab, proc, window)
            refreshes = seen["window_s"] / interval
            where = f"{cols}×{rows}"
            figures += [
                Figure(
                    f"platform idle CPU, {where} (2 s refresh)",
                    seen["cpu_percent"],
                    "%",
                    2.0,
                    extra={"window_s": seen["window_s"], "rss_mb": seen["rss_mb"]},
                ),
                Figure(
                    f"platform terminal bytes per refresh, {where}",
                    seen["bytes"] / refreshes,
                    "B",
                    500.0,
                    extra={
                        "writes": seen["writes"],
                        "bytes": seen["bytes"],
                        "refreshes": refreshes,
                        "most_written": what_changed(seen["chunks"]),
                    },
                ),
            ]
    finally:
        platform_traffic(lab, False)
    return figures


SCALE_PODS = 20_000  # issue 21: four times wave 1's 5,000
SCALE_RATE = 50.0  # watch events per second (wave 1: 20)


def grow(lab: Any, pods: int = SCALE_PODS) -> None:
    """The lab's deployment with `pods` pods (added at once; ~15 s for 20,000)."""
    total = len(lab.kube.pods())
    if total < pods:
        lab.kube.add_pods(pods - total)


def run_churn(lab: Any, quick: bool) -> list[Figure]:
    """20,000 pods in the watched deployment, 50 watch events/s while measuring."""
    grow(lab)
    window = 10.0 if quick else 30.0
    ready = f"{SCALE_PODS}/{SCALE_PODS} ready"  # the Pods summary, once the list is in
    with start_filled(lab, timeout=180.0, needle=ready) as proc:
        idle = observe(lab, proc, window / 2)
        with Churn(lab.kube, rate=SCALE_RATE) as churn:
            seen = observe(lab, proc, window)
            events = lab.kube.resource_version - churn.started_rv
    rate = events / seen["window_s"]
    return [
        Figure(
            "steady CPU, 20,000 pods, no churn",
            idle["cpu_percent"],
            "%",
            None,
            extra={"rss_mb": idle["rss_mb"]},
        ),
        Figure(
            "steady CPU, 20,000 pods churning at 50 events/s",
            seen["cpu_percent"],
            "%",
            15.0,
            extra={
                "events_per_s": rate,
                "rss_mb": seen["rss_mb"],
                "kube_requests": seen["kube_requests"],
                "bytes_per_s": seen["bytes"] / seen["window_s"],
            },
        ),
        Figure(
            "watch events per second while churning (the load produced)",
            rate,
            "/s",
            SCALE_RATE * 0.95,
            kind="min",
        ),
        Figure(
            "RSS of the cockpit, 20,000 pods churning",
            seen["rss_mb"],
            "MB",
            200.0,
        ),
        Figure(
            "Kubernetes lists of watchable resources while churning",
            seen["kube_lists"],
            "req",
            0,
            extra={"requests_in_window": seen["kube_requests"]},
        ),
    ]
