"""The real app with a real Redis behind the fault proxy (issue 20): under garbage and a hang the
cache pane says why within two refreshes, every pane key still answers, and the pane is fresh
again within two refreshes of the fault's end."""

from __future__ import annotations

from dataclasses import replace

from cockpit.config import CacheConfig, RefreshConfig
from cockpit.sources.redis import RedisSource
from tests.faultproxy import FaultProxy
from tests.ui.fixtures import fixed_sources, make_config, wait_until
from widgets.app import CockpitApp

INTERVAL, TIMEOUT = 0.5, 1.0
# two refreshes, plus the timeout a hang needs to be known, plus room for a loaded machine
BOUND = 2 * INTERVAL + TIMEOUT + 2.0


async def keys_answer(app: CockpitApp, pilot) -> None:
    for key in ("1", "2", "4", "5", "3"):
        await pilot.press(key)
        await wait_until(pilot, lambda k=key: app.active_pane.number == int(k), timeout=1.0)


async def test_cache_garbage_and_hang_are_shown_keys_answer_and_it_comes_back(
    restartable_redis,
) -> None:
    with FaultProxy("127.0.0.1", restartable_redis.port) as proxy:
        cfg = replace(
            make_config(), refresh=RefreshConfig(interval_seconds=INTERVAL, timeout_seconds=TIMEOUT)
        )
        sources = {
            **fixed_sources(),
            "cache": RedisSource(
                CacheConfig(url=f"redis://127.0.0.1:{proxy.port}/0", timeout_seconds=TIMEOUT),
                timeout=TIMEOUT,
            ),
        }
        app = CockpitApp(cfg, sources=sources)  # type: ignore[arg-type]
        async with app.run_test(size=(80, 24)) as pilot:
            pane = app.panes_by_source["cache"]
            await wait_until(pilot, lambda: pane.status_text.startswith("updated"), timeout=10)
            for mode, says in (("garbage", "not a Redis server"), ("hang", "timed out")):
                proxy.set_mode(mode)
                await wait_until(pilot, lambda s=says: s in pane.status_text, timeout=BOUND)
                assert len(pane.status_text) <= 80, pane.status_text  # the whole reason fits
                await keys_answer(app, pilot)
                proxy.pass_through()
                await wait_until(
                    pilot, lambda: pane.status_text.startswith("updated"), timeout=BOUND
                )
