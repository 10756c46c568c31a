"""The footer keeps no old key widget alive across focus changes, on every screen that has one.

Textual's Footer data-binds each key widget it composes to its own `compact`; the watcher that
registers is never removed, so every rebuild (each focus change) kept the old keys alive: 80
FooterKey objects after 40 presses of tab on a two-button screen, and growing (widgets/footer.py).
"""

from __future__ import annotations

import gc
import pathlib
import re
from datetime import UTC

from textual.widgets._footer import FooterKey

from cockpit.audit.log import AuditLog
from tests.ui.fixtures import fixed_sources, frozen_clock, make_config, wait_until
from tests.ui.test_checklist_screen import Host
from widgets.app import CockpitApp
from widgets.footer import StableFooter
from widgets.screens.checklists import ChecklistScreen

WIDGETS = pathlib.Path(__file__).resolve().parents[2] / "widgets"


def alive_footer_keys() -> int:
    """FooterKey objects still alive (mounted or leaked)."""
    gc.collect()
    return sum(isinstance(o, FooterKey) for o in gc.get_objects())


async def test_switching_panes_keeps_no_old_footer_key_alive() -> None:
    app = CockpitApp(make_config(), sources=fixed_sources(), clock=frozen_clock, local_tz=UTC)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: app.panes_by_source["database"].row_total > 0)
        for _ in range(12):  # every pane twice: each footer the main screen can show, built
            await pilot.press("tab")
            await pilot.pause()
        before = alive_footer_keys()
        shown = len(app.screen.query_one(StableFooter).query(FooterKey))
        for _ in range(36):
            await pilot.press("tab")
            await pilot.pause()
        assert alive_footer_keys() <= before
        assert len(app.screen.query_one(StableFooter).query(FooterKey)) == shown


async def test_moving_focus_in_a_screen_keeps_no_old_footer_key_alive(tmp_path) -> None:
    app = Host(make_config(), AuditLog(tmp_path / "audit.jsonl"))
    async with app.run_test(size=(80, 24)) as pilot:
        screen = ChecklistScreen(app.cfg, app.state, app.audit)
        app.push_screen(screen)
        await pilot.pause()
        await pilot.press("enter")  # a list open: the items table and the lists take focus
        await wait_until(pilot, lambda: screen.checklist is not None and not screen.verifying)
        for _ in range(6):
            await pilot.press("tab")
            await pilot.pause()
        before = alive_footer_keys()
        for _ in range(30):
            await pilot.press("tab")
            await pilot.pause()
        assert screen.query_one(StableFooter).query(FooterKey)  # it does show keys
        assert alive_footer_keys() <= before


def test_no_screen_composes_textuals_own_footer() -> None:
    """Detail, checklists, statements, explain, locks, quick reference, logs, main: the footer
    of every screen is the StableFooter (the help screen has none)."""
    composing = {
        path.relative_to(WIDGETS).as_posix()
        for path in WIDGETS.rglob("*.py")
        if re.search(r"yield Footer\(", path.read_text(encoding="utf-8"))
    }
    assert composing == set()
