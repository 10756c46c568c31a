"""The database pane at 80 columns: the query shows without scrolling, and running queries come
before idle sessions."""

from __future__ import annotations

from datetime import UTC

from textual.widgets import DataTable

from tests.ui.fixtures import fixed_sources, frozen_clock, make_config, wait_until
from widgets.app import CockpitApp


async def test_running_queries_first_and_the_query_column_on_screen() -> None:
    app = CockpitApp(make_config(), sources=fixed_sources(), clock=frozen_clock, local_tz=UTC)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: len(app.state.samples) == len(app.sources))
        await pilot.press("2")
        pane = app.panes_by_source["database"]
        table = pane.query_one(DataTable)
        await wait_until(pilot, lambda: table.row_count > 0)
        db = app.state.database
        states = {str(c.pid): c.state for c in db.connections}
        keys = [table.coordinate_to_cell_key((i, 0)).row_key.value for i in range(table.row_count)]
        running = [k for k in keys if not states[k].startswith("idle")]
        assert keys[: len(running)] == running and running, keys  # every running query first
        seconds = {str(c.pid): c.query_seconds for c in db.connections}
        assert [seconds[k] for k in running] == sorted((seconds[k] for k in running), reverse=True)
        query_x = sum(col.get_render_width(table) for col in list(table.columns.values())[:3])
        assert query_x < 40  # PID, State, For, then the query starts within the first half
