"""The first frame needs no client library: the sources are built after the screen is mounted
(in a thread), and the panes say "waiting for first data" until then."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC

from cockpit.config import ApiConfig, CacheConfig, Config, RefreshConfig
from tests.ui.fixtures import fixed_sources, frozen_clock, wait_until
from widgets.app import CockpitApp


def api_only_config(port: int) -> Config:
    """Only the API section, pointing at a port where nothing listens (fails fast, never hangs)."""
    return replace(
        Config(),
        api=ApiConfig(base_url=f"http://127.0.0.1:{port}"),
        refresh=RefreshConfig(interval_seconds=3600, timeout_seconds=2.0),
    )


async def test_sources_are_built_after_mount_not_in_init(closed_port: int) -> None:
    app = CockpitApp(api_only_config(closed_port), clock=frozen_clock, local_tz=UTC)
    assert app.sources == {} and not app.sources_ready  # nothing imported or built yet
    pane = app.panes_by_source["api"]
    assert pane.configured and pane.status_text == "waiting for first data"
    assert not app.panes_by_source["database"].configured
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: app.sources_ready, timeout=10.0)
        assert list(app.sources) == ["api"]
        assert app.scheduler.sources.keys() == {"api"}
        # the source really polls: the refused connection arrives as a failure on the pane
        await wait_until(pilot, lambda: app.state.failure("api") is not None, timeout=10.0)
        assert pane.status_text.startswith("stale since")


async def test_injected_sources_start_with_the_screen() -> None:
    sources = fixed_sources()
    app = CockpitApp(Config(), sources=sources, clock=frozen_clock, local_tz=UTC)
    assert app.sources_ready and set(app.scheduler.sources) == set(sources)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: all(s.calls for s in sources.values()))


async def test_a_real_run_freezes_the_start_up_heap_once_sources_are_built(
    closed_port: int,
) -> None:
    # run_app passes freeze_heap=True: a full collection no longer walks every module and widget
    # (~55 ms pauses that made key presses late). Tests' apps leave the heap alone.
    import gc

    assert gc.get_freeze_count() == 0
    plain = CockpitApp(api_only_config(closed_port), clock=frozen_clock, local_tz=UTC)
    async with plain.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: plain.sources_ready, timeout=10.0)
        assert gc.get_freeze_count() == 0
    app = CockpitApp(
        api_only_config(closed_port), clock=frozen_clock, local_tz=UTC, freeze_heap=True
    )
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_until(pilot, lambda: app.sources_ready, timeout=10.0)
            assert gc.get_freeze_count() > 0
            assert any(type(o).__name__ == "ApiSource" for o in app.sources.values())
    finally:
        gc.unfreeze()  # give this test process's objects back to the collector


async def test_a_result_arriving_while_the_screen_is_torn_down_is_dropped() -> None:
    sources = fixed_sources()
    app = CockpitApp(Config(), sources=sources, clock=frozen_clock, local_tz=UTC)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: len(app.state.samples) == 5)
        view = app.state.view("cache")
        pane = app.panes_by_source["cache"]
        pane._drawn = None  # so that the next view would redraw the body
    # quit: the pane's widgets are gone; a late result must not query them (NoMatches)
    pane.update_view(view, frozen_clock(), {})
    assert pane._drawn is None


async def test_a_source_that_cannot_be_built_says_why_in_its_pane_and_the_others_start(
    closed_port: int,
) -> None:
    # redis-py refuses an http:// URL when the source is built: that pane shows the reason as a
    # failure, and the API source (built beside it) polls as usual
    cfg = replace(api_only_config(closed_port), cache=CacheConfig(url="http://127.0.0.1:6379/0"))
    app = CockpitApp(cfg, clock=frozen_clock, local_tz=UTC)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: app.sources_ready, timeout=10.0)
        assert list(app.sources) == ["api"]
        await wait_until(pilot, lambda: app.state.failure("cache") is not None, timeout=10.0)
        failure = app.state.failure("cache")
        assert failure is not None and failure.what == "start" and "redis://" in failure.reason
        assert "redis://" in app.panes_by_source["cache"].status_text
        await wait_until(pilot, lambda: app.state.failure("api") is not None, timeout=10.0)
        assert app.panes_by_source["api"].status_text.startswith("stale since")
