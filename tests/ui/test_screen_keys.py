"""The cockpit's own keys open the checklists (`c`), the quick reference (`g`), the declare dialog
(`D`, live mode only) and, in the demo, the lab menu (`L`)."""

from __future__ import annotations

from datetime import UTC

from tests.ui.fixtures import fixed_sources, frozen_clock, make_config, wait_until
from widgets.app import CockpitApp
from widgets.screens.checklists import ChecklistScreen
from widgets.screens.quickref import QuickRefScreen


def make_app(read_only: bool = False, lab: object = None) -> CockpitApp:
    return CockpitApp(
        make_config(read_only=read_only),
        sources=fixed_sources(),
        clock=frozen_clock,
        local_tz=UTC,
        lab=lab,
    )


async def test_c_opens_the_checklists_and_g_the_quick_reference() -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: len(app.state.samples) == len(app.sources))
        await pilot.press("c")
        await wait_until(pilot, lambda: isinstance(app.screen, ChecklistScreen))
        await pilot.press("escape")  # one escape: back to the cockpit, not to a picker
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


async def test_in_a_checklist_space_ticks_at_once_g_opens_the_quick_ref_and_escape_leaves() -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: len(app.state.samples) == len(app.sources))
        await pilot.press("c", "down", "enter")  # the post-deployment list
        await wait_until(pilot, lambda: isinstance(app.screen, ChecklistScreen))
        screen = app.screen
        await wait_until(pilot, lambda: screen.checklist is not None and not screen.verifying)
        manual = next(i for i, item in enumerate(screen.items) if item.by != "cockpit")
        screen.query_one("#lists").focus()  # wherever the focus is, space ticks
        screen.query_one("#items").move_cursor(row=manual)
        await pilot.press("space")
        assert screen.items[manual].state == "done"
        await pilot.press("g")
        await wait_until(pilot, lambda: isinstance(app.screen, QuickRefScreen))
        await pilot.press("escape")
        await wait_until(pilot, lambda: app.screen is screen)
        await pilot.press("escape")
        await wait_until(pilot, lambda: not isinstance(app.screen, ChecklistScreen))


async def test_the_declare_dialog_says_how_to_submit() -> None:
    from textual.widgets import Label

    from widgets.dialogs.declare import DeclareDialog

    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: len(app.state.samples) == len(app.sources))
        await pilot.press("D")
        await wait_until(pilot, lambda: isinstance(app.screen, DeclareDialog))
        text = " ".join(str(label.content) for label in app.screen.query(Label))
        assert "enter in impact declares" in text and "escape cancels" in text
