"""With every backend hung (collect() never returns), keys answer as fast as with healthy ones:
collection runs in tasks on the loop and never blocks it."""

from __future__ import annotations

import asyncio
import statistics
from datetime import UTC

from tests.ui.fixtures import HungSource, fixed_sources, frozen_clock, make_config, wait_until
from widgets.app import CockpitApp
from widgets.screens.help import HelpScreen

KEYS = ["2", "3", "4", "5", "6", "1"]


async def key_latencies(app: CockpitApp, pilot) -> list[float]:
    """Seconds from each key press until the screen shows its effect (pane active, repainted)."""
    loop = asyncio.get_running_loop()
    out = []
    for key in KEYS:
        start = loop.time()
        await pilot.press(key)
        await wait_until(
            pilot,
            lambda k=key: app.active_pane.number == int(k) and app.active_pane.has_class("-active"),
            timeout=5.0,
        )
        out.append(loop.time() - start)
    start = loop.time()
    await pilot.press("question_mark")
    await wait_until(pilot, lambda: isinstance(app.screen, HelpScreen), timeout=5.0)
    out.append(loop.time() - start)
    await pilot.press("escape")
    return out


async def test_keys_answer_within_the_healthy_budget_with_every_backend_hung() -> None:
    healthy = CockpitApp(make_config(), sources=fixed_sources(), clock=frozen_clock, local_tz=UTC)
    async with healthy.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: len(healthy.state.samples) == 5)
        healthy_times = await key_latencies(healthy, pilot)

    hung_sources = {
        name: HungSource(name)
        for name in ("kubernetes", "database", "cache", "certificates", "api")
    }
    hung = CockpitApp(make_config(), sources=hung_sources, clock=frozen_clock, local_tz=UTC)
    async with hung.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: all(s.started for s in hung_sources.values()))
        hung_times = await key_latencies(hung, pilot)
        # the backends really were hung the whole time, and the panes say so
        assert all(hung.scheduler.busy(name) for name in hung_sources)
        assert hung.state.samples == {}
        assert "waiting for first data" in hung.panes_by_source["database"].status_text

    budget = max(3 * statistics.median(healthy_times), statistics.median(healthy_times) + 0.1)
    assert statistics.median(hung_times) <= budget, (healthy_times, hung_times)
    assert max(hung_times) < 1.0, hung_times  # never a frozen screen
