"""The polling scheduler: one asyncio loop per source.

Each loop collects, hands the result to a callback, then waits for its interval (or an early
`refresh_now`). The next poll is scheduled only after the previous one finished, so polls of one
source never overlap (skip-if-busy, as Dolphie and k9s do): a slow backend delays its own pane and
nothing else. Failures back off exponentially, capped. No Textual here: the UI passes a callback
that posts a message; `cockpit snapshot` and the tests can drive it headless.

Backoff follows what a failure costs, not how long the outage has lasted (issue 20). A failure
that came back at once (connection refused, HTTP 401, a protocol error) costs nothing to retry:
the next poll comes after the plain interval, so a backend that returns is seen within two
refreshes however long it was away. A collection that ran into its timeout (a hung or very slow
backend) holds a socket for the whole timeout: those back off, doubling from the interval up to
`max_backoff` (twice the interval from the config), so even then recovery is at most two
refreshes after the hang ends. `consecutive_failures` can be set (`assume_failures`) to put a
loop in the state a long outage leaves behind, without waiting for one.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from cockpit.models import Snapshot, SourceFailure
from cockpit.sources.base import Source, guarded

Deliver = Callable[[str, Snapshot | SourceFailure], None]
EXPENSIVE_SHARE = 0.5  # a failure that took half the timeout or more is "expensive": back off


@dataclass(frozen=True)
class PollPolicy:
    """How one source is polled: interval, timeout of one collection, and the backoff cap
    for collections that time out (cheap failures are retried after the interval)."""

    interval: float
    timeout: float
    max_backoff: float = 60.0

    def delay_after(self, consecutive_failures: int, expensive: bool = True) -> float:
        """Seconds until the next poll. After a good poll, or a failure that came back at once
        (`expensive=False`), the interval; after expensive failures (timeouts) the interval
        doubled per consecutive failure, capped at `max_backoff`."""
        if consecutive_failures <= 0 or not expensive:
            return self.interval
        backoff = self.interval * (2 ** min(consecutive_failures, 16))
        return min(backoff, max(self.max_backoff, self.interval))

    def is_expensive(self, elapsed: float) -> bool:
        """Whether a failed collection that took `elapsed` seconds cost enough to back off: it
        ran into (most of) its timeout, as a hung or very slow backend makes it do. (A failure
        whose reason is "timed out ..." counts too, whatever its client's own timeout was.)"""
        return elapsed >= self.timeout * EXPENSIVE_SHARE


class Scheduler:
    """Runs one polling loop per source on the current event loop and reports each result.

    `deliver(source_name, result)` is called on the event loop after every collection, good or
    failed. A collection slower than its policy's timeout becomes a SourceFailure.
    """

    def __init__(
        self, sources: Mapping[str, Source], deliver: Deliver, policies: Mapping[str, PollPolicy]
    ) -> None:
        self.sources = dict(sources)
        self._deliver = deliver
        self._policies = dict(policies)
        self._wake: dict[str, asyncio.Event] = {}
        self._busy: dict[str, bool] = {name: False for name in self.sources}
        self._failures: dict[str, int] = {name: 0 for name in self.sources}
        self._expensive: dict[str, bool] = {name: False for name in self.sources}
        self._tasks: dict[str, asyncio.Task[None]] = {}

    def start(self) -> None:
        """Start every source's loop (idempotent). Must be called from inside the event loop."""
        for name in self.sources:
            if name in self._tasks and not self._tasks[name].done():
                continue
            self._wake[name] = asyncio.Event()
            self._tasks[name] = asyncio.create_task(self._run(name), name=f"poll:{name}")

    def busy(self, name: str) -> bool:
        """True while a collection of `name` is in flight."""
        return self._busy.get(name, False)

    def consecutive_failures(self, name: str) -> int:
        """How many collections in a row have failed (0 after a good one)."""
        return self._failures.get(name, 0)

    def assume_failures(self, name: str, count: int, expensive: bool = True) -> None:
        """Put `name`'s loop in the state `count` failures in a row leave (tests of long
        outages; the next poll's delay follows from it)."""
        self._failures[name] = count
        self._expensive[name] = expensive

    def next_delay(self, name: str) -> float:
        """The wait the loop of `name` takes (or would take) after its latest collection."""
        return self._policies[name].delay_after(
            self._failures.get(name, 0), self._expensive.get(name, False)
        )

    def refresh_now(self, name: str) -> bool:
        """Poll `name` as soon as possible: now if idle, right after the current poll if busy.

        Returns False for a source that is not configured.
        """
        wake = self._wake.get(name)
        if wake is None:
            return False
        wake.set()
        return True

    async def collect_once(self, name: str) -> Snapshot | SourceFailure:
        """One guarded collection of `name` (used by the loop; also handy headless)."""
        policy = self._policies[name]
        return await guarded(name, "collect", self.sources[name].collect(), policy.timeout)

    async def _run(self, name: str) -> None:
        policy = self._policies[name]
        wake = self._wake[name]
        while True:
            # Cleared before collecting: a refresh_now() arriving mid-poll triggers one more poll
            # right after, so the pane reflects what an action just changed.
            wake.clear()
            self._busy[name] = True
            began = time.monotonic()
            try:
                result = await self.collect_once(name)
            finally:
                self._busy[name] = False
            failed = isinstance(result, SourceFailure)
            self._failures[name] = self._failures[name] + 1 if failed else 0
            self._expensive[name] = isinstance(result, SourceFailure) and (
                policy.is_expensive(time.monotonic() - began)
                or result.reason.startswith("timed out")
            )
            try:
                self._deliver(name, result)
            except Exception:  # a broken consumer must not kill the poll loop
                pass
            try:
                await asyncio.wait_for(wake.wait(), self.next_delay(name))
            except TimeoutError:
                pass

    async def stop(self, close_sources: bool = True, timeout: float = 3.0) -> None:
        """Cancel every loop, then close the sources (each close bounded by `timeout`)."""
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()
        if close_sources:
            for source in self.sources.values():
                try:
                    await asyncio.wait_for(source.aclose(), timeout)
                except Exception:  # closing is best effort; never hang the exit
                    pass


def policies_from_config(
    refresh: object, names: list[str] | tuple[str, ...]
) -> dict[str, PollPolicy]:
    """Poll policies for `names` from a RefreshConfig: certificates on their own slow cadence;
    timeouts back off to twice the interval at most, so recovery stays within two refreshes."""
    interval = float(getattr(refresh, "interval_seconds", 2.0))
    timeout = float(getattr(refresh, "timeout_seconds", 5.0))
    certs = float(getattr(refresh, "certificates_seconds", 300.0))
    return {
        name: PollPolicy(
            interval=certs if name == "certificates" else interval,
            timeout=timeout,
            max_backoff=certs if name == "certificates" else 2 * interval,
        )
        for name in names
    }
