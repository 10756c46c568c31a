"""The read-only monitor names the worst incident in its big line, for a screen across the room."""

from __future__ import annotations

from datetime import UTC

from textual.widgets import Static

from tests.ui.fixtures import fixed_sources, frozen_clock, make_config, wait_until
from widgets.app import CockpitApp


async def test_monitor_headline_names_the_worst_incident() -> None:
    app = CockpitApp(
        make_config(read_only=True), sources=fixed_sources(), clock=frozen_clock, local_tz=UTC
    )
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: bool(app.incidents))
        worst = min(app.incidents, key=lambda i: (i.severity, i.detected_at))
        text = str(app.query_one("#monitor-severity", Static).content)
        assert text.startswith(f"{worst.severity}  {worst.title}")
        assert f"(+{len(app.incidents) - 1} more)" in text or len(app.incidents) == 1
