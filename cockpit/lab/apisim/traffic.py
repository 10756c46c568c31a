"""Background traffic for the API simulator: real HTTP reads of markets, paced by the clock.

Most reads go to a few hot markets, so once the cache is filled the Redis hit rate settles well
above 90 %; a flush (cache-miss-storm) visibly drops it. The rate can be raised on the fly past
the simulator's rate limit (rate-limit-storm).
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

import httpx

HOT_MARKETS = 10
HOT_SHARE = 0.90  # of reads that go to the hot markets
LIST_SHARE = 0.02  # of reads that fetch the list of active markets
REQUEST_TIMEOUT_SECONDS = 2.0
# When a worker falls this far behind its schedule (slow server), it resets the schedule instead
# of firing a burst to catch up.
MAX_LAG_SECONDS = 1.0


@dataclass(frozen=True)
class TrafficStats:
    """What the generator has sent so far."""

    requests: int
    transport_failures: int
    rps: float


class TrafficGenerator:
    """`workers` threads, each with a keep-alive client, sharing a target rate of `rps`."""

    def __init__(
        self,
        base_url: str,
        market_ids: Sequence[int],
        rps: float,
        *,
        workers: int = 4,
        seed: int | None = None,
    ) -> None:
        if not market_ids:
            raise ValueError("traffic needs at least one market id to read")
        self._base_url = base_url
        self._market_ids = list(market_ids)
        self._hot_ids = self._market_ids[:HOT_MARKETS]
        self._workers = max(1, workers)
        self._seed = seed
        self._rps = float(rps)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._requests = 0
        self._failures = 0

    @property
    def rps(self) -> float:
        """The target request rate across all workers."""
        return self._rps

    def set_rps(self, rps: float) -> None:
        """Change the target rate; workers pick it up on their next request. 0 pauses."""
        self._rps = max(0.0, float(rps))

    def stats(self) -> TrafficStats:
        """Counts so far."""
        with self._lock:
            return TrafficStats(self._requests, self._failures, self._rps)

    def start(self) -> None:
        """Start the worker threads."""
        self._stop.clear()
        for index in range(self._workers):
            thread = threading.Thread(
                target=self._run, args=(index,), name=f"apisim-traffic-{index}", daemon=True
            )
            self._threads.append(thread)
            thread.start()

    def stop(self, timeout: float = REQUEST_TIMEOUT_SECONDS + 1.0) -> None:
        """Stop and join the workers (bounded by one request timeout)."""
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout)
        self._threads.clear()

    def _next_path(self, rng: random.Random) -> str:
        draw = rng.random()
        if draw < LIST_SHARE:
            return "/api/markets?status=active"
        if draw < LIST_SHARE + HOT_SHARE:
            return f"/api/markets/{rng.choice(self._hot_ids)}"
        return f"/api/markets/{rng.choice(self._market_ids)}"

    def _run(self, index: int) -> None:
        rng = random.Random(None if self._seed is None else self._seed + index)
        with httpx.Client(
            base_url=self._base_url,
            timeout=httpx.Timeout(REQUEST_TIMEOUT_SECONDS),
            limits=httpx.Limits(max_connections=1, max_keepalive_connections=1),
        ) as client:
            next_due = time.monotonic()
            while not self._stop.is_set():
                if self._rps <= 0:
                    self._stop.wait(0.2)  # paused: re-check the rate a few times a second
                    next_due = time.monotonic()
                    continue
                next_due += self._workers / self._rps
                delay = next_due - time.monotonic()
                if delay > 0:
                    if self._stop.wait(delay):
                        break
                elif delay < -MAX_LAG_SECONDS:
                    next_due = time.monotonic()
                self._send(client, self._next_path(rng))

    def _send(self, client: httpx.Client, path: str) -> None:
        try:
            client.get(path)
        except httpx.HTTPError:
            with self._lock:
                self._failures += 1
        else:
            with self._lock:
                self._requests += 1
