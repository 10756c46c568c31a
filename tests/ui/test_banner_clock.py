"""The banner's clock: UTC always; the local time beside it only when the host is not on UTC."""

from __future__ import annotations

from datetime import UTC, timedelta, timezone

from textual.widgets import Static

from tests.ui.fixtures import NOW, fixed_sources, frozen_clock, make_config, wait_until
from widgets.app import CockpitApp


async def clock_text(tz) -> str:
    app = CockpitApp(make_config(), sources=fixed_sources(), clock=frozen_clock, local_tz=tz)
    async with app.run_test(size=(120, 30)) as pilot:
        await wait_until(pilot, lambda: bool(str(app.query_one("#banner-clock", Static).content)))
        return str(app.query_one("#banner-clock", Static).content)


async def test_utc_host_shows_one_clock() -> None:
    assert await clock_text(UTC) == f"{NOW:%H:%M:%S} UTC"


async def test_other_zone_shows_utc_and_local() -> None:
    berlin = timezone(timedelta(hours=1), "CET")
    local = NOW.astimezone(berlin)
    assert await clock_text(berlin) == f"{NOW:%H:%M:%S}Z {local:%H:%M} CET"
