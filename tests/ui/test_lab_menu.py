"""The demo's lab menu, driven by keys against a real running lab."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest
from textual.app import App
from textual.widgets import OptionList

from cockpit.lab.drills import DRILLS
from cockpit.lab.lab import Lab
from tests.integration.lab_helpers import started_lab
from widgets.screens.lab_menu import LabMenu, open_lab_menu

pytestmark = pytest.mark.timeout(120)


class Host(App[None]):
    """The smallest app that carries a lab, as CockpitApp does in the demo."""

    def __init__(self, lab: Lab | None) -> None:
        super().__init__()
        self.lab = lab


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    with started_lab(tmp_path_factory.mktemp("labmenu")) as running:
        yield running


async def _until(pilot, condition, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await pilot.pause(0.05)


async def test_enter_injects_and_clears_a_drill(lab: Lab) -> None:
    app = Host(lab)
    async with app.run_test(size=(120, 40)) as pilot:
        open_lab_menu(app, app.lab.drills if app.lab is not None else None)
        await pilot.pause()
        assert isinstance(app.screen, LabMenu)
        options = app.screen.query_one(OptionList)
        assert options.option_count == len(DRILLS)
        options.focus()
        index = [d.name for d in DRILLS].index("api-down")
        options.highlighted = index
        await pilot.press("enter")
        await _until(pilot, lambda: lab.drills.active() == ["api-down"])
        assert httpx.get(f"{lab.api.url}/health", timeout=5).status_code == 503
        await _until(pilot, lambda: "ACTIVE" in str(options.get_option_at_index(index).prompt))
        await pilot.press("enter")
        await _until(pilot, lambda: lab.drills.active() == [])
        assert httpx.get(f"{lab.api.url}/health", timeout=5).status_code == 200
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, LabMenu)


async def test_without_a_lab_the_menu_explains_itself() -> None:
    app = Host(None)
    async with app.run_test() as pilot:
        open_lab_menu(app, app.lab.drills if app.lab is not None else None)
        await pilot.pause()
        assert not isinstance(app.screen, LabMenu)
        assert any("only in `cockpit demo`" in n.message for n in app._notifications)


async def test_at_80x24_every_drill_is_reachable_and_the_highlight_stays_on_screen(
    lab: Lab,
) -> None:
    app = Host(lab)
    async with app.run_test(size=(80, 24)) as pilot:
        open_lab_menu(app, lab.drills)
        await pilot.pause()
        options = app.screen.query_one(OptionList)
        options.focus()
        assert options.region.bottom <= 24  # the list ends inside the screen, not below it
        await pilot.press("end")
        await pilot.pause()
        assert options.highlighted == len(DRILLS) - 1
        assert options.scroll_y > 0  # scrolled down to the last drill
        last_line = options.scroll_y + options.scrollable_content_region.height
        assert last_line >= options.virtual_size.height  # the last one is in view


async def test_a_drill_shows_active_only_while_it_is_injected(lab: Lab) -> None:
    app = Host(lab)
    async with app.run_test(size=(80, 24)) as pilot:
        open_lab_menu(app, lab.drills)
        await pilot.pause()
        options = app.screen.query_one(OptionList)
        index = [d.name for d in DRILLS].index("api-down")

        def shown_active() -> bool:
            return "ACTIVE" in str(options.get_option_at_index(index).prompt)

        lab.drills.inject("api-down")  # from outside the menu (another terminal, `cockpit lab`)
        try:
            await _until(pilot, shown_active)
        finally:
            lab.drills.clear("api-down")
        await _until(pilot, lambda: not shown_active())
