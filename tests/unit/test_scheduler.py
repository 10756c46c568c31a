"""The scheduler polls each source on its own loop: no overlap, timeouts become failures,
failures back off, refresh_now wakes a loop early, stop closes everything."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from cockpit.config import RefreshConfig
from cockpit.models import CertificatesSnapshot, SourceFailure
from cockpit.scheduler import PollPolicy, Scheduler, policies_from_config

SNAP = CertificatesSnapshot(datetime(2025, 1, 1, tzinfo=UTC), ())


class CountingSource:
    """Returns a snapshot after an optional gate; records how many collects run at once."""

    def __init__(self, name: str, gate: asyncio.Event | None = None, fail: bool = False) -> None:
        self.name = name
        self.gate = gate
        self.fail = fail
        self.calls = 0
        self.running = 0
        self.max_running = 0
        self.closed = False

    async def collect(self):
        self.calls += 1
        self.running += 1
        self.max_running = max(self.max_running, self.running)
        try:
            if self.gate is not None:
                await self.gate.wait()
            if self.fail:
                raise ConnectionRefusedError(111, "Connection refused")
            return SNAP
        finally:
            self.running -= 1

    async def aclose(self) -> None:
        self.closed = True


async def until(condition, timeout: float = 3.0) -> None:
    """Poll a condition with a deadline."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        assert loop.time() < deadline, "condition not met in time"
        await asyncio.sleep(0.005)


def test_backoff_doubles_per_failure_and_is_capped() -> None:
    policy = PollPolicy(interval=2.0, timeout=1.0, max_backoff=30.0)
    assert [policy.delay_after(n) for n in range(6)] == [2.0, 4.0, 8.0, 16.0, 30.0, 30.0]


def test_certificates_keep_their_slow_cadence() -> None:
    policies = policies_from_config(
        RefreshConfig(interval_seconds=2, certificates_seconds=300), ["database", "certificates"]
    )
    assert policies["database"].interval == 2 and policies["certificates"].interval == 300
    assert policies["certificates"].delay_after(3) == 300


async def test_results_are_delivered_per_source_and_stop_closes_sources() -> None:
    got: list[tuple[str, object]] = []
    sources = {"a": CountingSource("a"), "b": CountingSource("b")}
    sched = Scheduler(
        sources, lambda n, r: got.append((n, r)), {n: PollPolicy(0.01, 1.0) for n in sources}
    )
    sched.start()
    await until(lambda: {n for n, _ in got} == {"a", "b"} and len(got) >= 6)
    await sched.stop()
    assert all(r is SNAP for _, r in got)
    assert all(s.closed for s in sources.values())


async def test_polls_of_one_source_never_overlap_even_when_refresh_is_spammed() -> None:
    gate = asyncio.Event()
    src = CountingSource("slow", gate)
    got: list[object] = []
    sched = Scheduler({"slow": src}, lambda n, r: got.append(r), {"slow": PollPolicy(0.001, 60.0)})
    # (the timeout is long so that only the skip-if-busy rule, never a timed-out poll on a
    # loaded machine, decides whether a second collect may start)
    sched.start()
    await until(lambda: src.calls == 1)
    for _ in range(50):
        sched.refresh_now("slow")
        await asyncio.sleep(0)
    assert sched.busy("slow") and src.calls == 1  # skip-if-busy: no second collect started
    gate.set()
    await until(lambda: len(got) >= 3)
    await sched.stop()
    assert src.max_running == 1


async def test_a_collect_slower_than_the_timeout_is_a_failure_and_backs_off() -> None:
    src = CountingSource("hung", asyncio.Event())  # never released
    got: list[SourceFailure] = []
    sched = Scheduler(
        {"hung": src},
        lambda n, r: got.append(r),
        {"hung": PollPolicy(0.01, 0.05, max_backoff=10.0)},
    )
    sched.start()
    await until(lambda: len(got) >= 2)
    await sched.stop()
    assert isinstance(got[0], SourceFailure) and "timed out" in got[0].reason
    assert sched.consecutive_failures("hung") >= 2
    assert src.max_running == 1


async def test_exceptions_become_failures_and_a_good_poll_resets_the_backoff() -> None:
    src = CountingSource("db", fail=True)
    got: list[object] = []
    sched = Scheduler({"db": src}, lambda n, r: got.append(r), {"db": PollPolicy(0.01, 1.0)})
    sched.start()
    await until(lambda: len(got) >= 2)
    assert isinstance(got[-1], SourceFailure) and got[-1].reason == "connection refused"
    assert sched.consecutive_failures("db") >= 2
    src.fail = False
    sched.refresh_now("db")  # skip the backoff wait
    await until(lambda: got[-1] is SNAP)
    assert sched.consecutive_failures("db") == 0
    await sched.stop()


async def test_refresh_now_wakes_an_idle_loop_at_once() -> None:
    src = CountingSource("api")
    got: list[object] = []
    sched = Scheduler({"api": src}, lambda n, r: got.append(r), {"api": PollPolicy(3600, 1.0)})
    sched.start()
    await until(lambda: len(got) == 1)
    assert sched.refresh_now("api") is True
    await until(lambda: len(got) == 2, timeout=1.0)  # not an hour later
    assert sched.refresh_now("not-configured") is False
    await sched.stop()


async def test_a_broken_consumer_does_not_stop_polling() -> None:
    src = CountingSource("cache")
    calls: list[int] = []

    def deliver(name: str, result: object) -> None:
        calls.append(1)
        raise RuntimeError("consumer bug")

    sched = Scheduler({"cache": src}, deliver, {"cache": PollPolicy(0.01, 1.0)})
    sched.start()
    await until(lambda: len(calls) >= 3)
    await sched.stop()


@pytest.mark.parametrize("close_sources", [True, False])
async def test_stop_is_prompt_with_a_hung_collect(close_sources: bool) -> None:
    src = CountingSource("kube", asyncio.Event())
    sched = Scheduler({"kube": src}, lambda n, r: None, {"kube": PollPolicy(1.0, 60.0)})
    sched.start()
    await until(lambda: src.calls == 1)
    await asyncio.wait_for(sched.stop(close_sources=close_sources), 2.0)
    assert src.closed is close_sources


async def test_a_refused_source_is_retried_at_the_interval_however_long_it_was_down() -> None:
    src = CountingSource("db", fail=True)  # refuses at once
    got: list[object] = []
    policy = PollPolicy(0.01, 1.0, max_backoff=0.02)
    sched = Scheduler({"db": src}, lambda n, r: got.append(r), {"db": policy})
    sched.start()
    await until(lambda: len(got) >= 5)
    assert sched.next_delay("db") == 0.01  # no backoff for a failure that costs nothing
    sched.assume_failures("db", 10_000, expensive=False)  # as after a very long outage
    assert sched.next_delay("db") == 0.01
    await sched.stop()


async def test_a_timed_out_source_backs_off_but_only_to_the_cap() -> None:
    src = CountingSource("hung", asyncio.Event())  # never answers
    got: list[SourceFailure] = []
    sched = Scheduler(
        {"hung": src},
        lambda n, r: got.append(r),
        {"hung": PollPolicy(0.01, 0.05, max_backoff=0.03)},
    )
    sched.start()
    await until(lambda: len(got) >= 3)
    assert sched.next_delay("hung") == 0.03  # doubled from 0.01, capped
    sched.assume_failures("hung", 10_000)
    assert sched.next_delay("hung") == 0.03
    await sched.stop()
