"""The log view's per-line caches (drawn text, search text, matches) are keyed by the line's
sequence number, which a new stream's buffer numbers from 1 again: a new request (p, c, 1-5,
a) must not draw the old stream's lines in place of the new ones."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC

from cockpit.config import LogsConfig
from tests.ui.fixtures import fixed_sources, frozen_clock, make_config
from widgets.app import CockpitApp
from widgets.screens.logs import LogBody, LogTarget, LogView
from widgets.screens.logs_render import compile_search

T0 = 1_764_637_200_000_000_000


async def test_a_new_stream_draws_its_own_lines_not_the_cached_ones_of_the_last() -> None:
    cfg = replace(make_config(), kubernetes=None, logs=LogsConfig(tail_lines=10))
    app = CockpitApp(cfg, sources=fixed_sources(), clock=frozen_clock, local_tz=UTC)
    async with app.run_test(size=(80, 24)) as pilot:
        view = LogView(cfg, LogTarget("api-0", "app=api", "api"))
        app.push_screen(view)
        await pilot.pause()
        body = view.query_one(LogBody)
        view.buffer.add("api-0", [(T0, "current container line"), (T0 + 1, "loop detected")])
        view.search, view.search_text = compile_search("loop"), "loop"
        view.refresh_from_buffer()
        assert "current container line" in view.render_window(80, 20).plain
        assert view.matched == [1]
        view.action_toggle_previous()  # a new request: a new buffer, seqs from 1 again
        view.buffer.add("api-0", [(T0, "previous container line"), (T0 + 1, "out of memory")])
        view.refresh_from_buffer()
        shown = view.render_window(body.size.width, body.size.height).plain
        assert "previous container line" in shown and "out of memory" in shown
        assert "current container line" not in shown
        assert view.matched == []  # "loop" is not in the new stream
