"""The cockpit's own keys open the checklists (`c`), the quick reference (`g`), the declare dialog
(`D`, live mode only) and, in the demo, the lab menu (`L`)."""

from __future__ import annotations

from datetime import UTC

from tests.ui.fixtures import fixed_sources, frozen_clock, make_config, wait_until
from widgets.app import CockpitApp
from widgets.screens.checklists import ChecklistScreen
from widgets.screens.quickref import QuickRefScreen


def make_app(read_only: bool = False, lab: object = None) -> CockpitApp:
    return CockpitApp(make_config(read_only=read_only), sources=fixed_sources(), clock=frozen_clock,
                      local_tz=UTC, lab=lab)


async def test_c_opens_the_checklists_and_g_the_quick_reference() -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: len(app.state.samples) == len(app.sources))
        await pilot.press("c")
        await wait_until(pilot, lambda: isinstance(app.screen, ChecklistScreen))
        await pilot.press("escape", "escape")
        await wait_until(pilot, lambda: not isinstance(app.screen, ChecklistScreen))
        await pilot.press("g")
        await wait_until(pilot, lambda: isinstance(app.screen, QuickRefScreen))


async def test_d_declares_in_live_mode_only() -> None:
    for read_only, opens in ((False, True), (True, False)):
        app = make_app(read_only=read_only)
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_until(pilot, lambda app=app: len(app.state.samples) == len(app.sources))
            base = len(app.screen_stack)
            await pilot.press("D")
            await pilot.pause()
            assert (len(app.screen_stack) > base) is opens, read_only


async def test_l_is_bound_only_in_the_demo() -> None:
    assert "L" not in {k.key for k in make_app().keys}
    assert "L" in {k.key for k in make_app(lab=object()).keys}
