"""Nothing that matters is cut off at 80×24 or in the 160×48 grid (issue 14), driven by keys.

Status words are whole (`CrashLoop`, `EXPIRED`, `expiring`, never `expir…`), each table's
columns fit its pane (no sideways scrolling; the least important columns go first), the sort
arrow stays in the header after `o`, and the footer shows the focused pane's own keys.
"""

from __future__ import annotations

from datetime import UTC
from typing import Any

import pytest
from textual.widgets import DataTable
from textual.widgets._toast import Toast

from tests.ui.fixtures import fixed_sources, frozen_clock, make_config, wait_until
from widgets.app import CockpitApp
from widgets.footer import StableFooter
from widgets.incidents.panel import IncidentPanel


def make_app() -> CockpitApp:
    return CockpitApp(make_config(), sources=fixed_sources(), clock=frozen_clock, local_tz=UTC)


async def started(app: CockpitApp, pilot: Any) -> None:
    await wait_until(
        pilot, lambda: len(app.state.samples) == len(app.sources) and bool(app.incidents)
    )
    await pilot.pause()


def line(table: DataTable, y: int) -> str:
    return table.render_line(y).text


def header(table: DataTable) -> str:
    return line(table, 0)


def table_text(table: DataTable) -> str:
    return "\n".join(line(table, y) for y in range(min(table.size.height, table.row_count + 1)))


def footer_text(app: CockpitApp) -> str:
    return " ".join(
        str(key.key_display) for key in app.screen.query_one(StableFooter).query("FooterKey")
    )


def fits(table: DataTable) -> bool:
    return table.max_scroll_x == 0


async def test_status_words_are_whole_at_80x24() -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await started(app, pilot)
        await pilot.press("1")
        pods = app.panes_by_source["kubernetes"].table
        await wait_until(pilot, lambda: pods.size.width > 0)
        assert "CrashLoop " in table_text(pods) and "CrashL…" not in table_text(pods)
        await pilot.press("4")
        certs = app.panes_by_source["certificates"].table
        await wait_until(pilot, lambda: certs.size.width > 0)
        text = table_text(certs)
        assert "EXPIRED" in text and "expiring" in text and "…" not in text


@pytest.mark.parametrize("size", [(80, 24), (160, 48)])
async def test_every_table_fits_its_pane_with_name_status_and_clock(size: tuple[int, int]) -> None:
    app = make_app()
    async with app.run_test(size=size) as pilot:
        await started(app, pilot)
        wanted = {
            "1": ("Pod", "Status"),
            "2": ("PID", "State", "Query"),
            "4": ("Host", "Status"),
            "6": ("Incident", "Status", "Respond in"),
        }
        for key, labels in wanted.items():
            await pilot.press(key)
            await pilot.pause()
            pane = app.active_pane
            table = pane.query_one(IncidentPanel) if key == "6" else pane.table
            await wait_until(pilot, lambda t=table: t.size.width > 0)
            await pilot.pause()
            assert fits(table), (key, table.virtual_size, table.size)
            head = header(table)
            assert all(label in head for label in labels), (key, head)


async def test_the_sort_arrow_stays_in_the_header_after_o() -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await started(app, pilot)
        table = app.panes_by_source["kubernetes"].table
        await pilot.press("1", "o")
        await pilot.pause()
        assert "Status ▲" in header(table)
        await pilot.press("O")
        await pilot.pause()
        assert "Status ▼" in header(table)
        await pilot.press("o", "o", "o")  # ready, restarts, CPU%: a label as wide as its column
        await pilot.pause()
        assert app.panes_by_source["kubernetes"].sort_column == "cpu"
        assert "CPU% ▲" in header(table), header(table)


async def test_the_footer_at_80_columns_shows_the_focused_panes_keys() -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await started(app, pilot)
        await pilot.press("2")
        await pilot.pause()
        shown = footer_text(app)
        assert all(k in shown.split() for k in ("?", "q", "k", "x", "X")), shown
        await pilot.press("6")
        await pilot.pause()
        shown = footer_text(app).split()
        assert "D" in shown and "c" in shown and "g" in shown, shown


async def test_every_summary_line_keeps_its_age_at_80_columns() -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await started(app, pilot)
        await pilot.press("6")
        await pilot.pause()
        for pane in app.panes_by_source.values():
            shown = pane.query_one(".summary").render_line(0).text
            assert "ago" in shown, shown  # '5 API  1s ago · healthy · …', not '… · updated 0s …'


async def test_a_burst_of_notifications_shows_two_at_most() -> None:
    app = make_app()
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await started(app, pilot)
        for n in range(5):
            app.notify(f"note {n}", timeout=30)

        def toasts() -> list[str]:
            return [str(t._notification.message) for t in app.screen.query(Toast)]

        await wait_until(pilot, lambda: toasts() == ["note 4", "note 3"])  # newest first


async def test_long_pod_names_in_the_160x48_grid_keep_name_and_status_without_sideways_scroll() -> (
    None
):
    from dataclasses import replace

    from tests.ui.fixtures import kube_snapshot

    snap = kube_snapshot()
    pods = tuple(replace(p, name=f"predictiq-api-4twfc8kbbb-{p.uid[-5:]}") for p in snap.pods)
    app = CockpitApp(
        make_config(),
        sources=fixed_sources(kubernetes=replace(snap, pods=pods)),
        clock=frozen_clock,
        local_tz=UTC,
    )
    async with app.run_test(size=(160, 48)) as pilot:
        await started(app, pilot)
        table = app.panes_by_source["kubernetes"].table
        await pilot.pause()
        assert fits(table), (table.virtual_size, table.size)
        head = header(table)
        assert "Pod" in head and "Status" in head
        assert "predictiq-api-4twfc8kbbb-" in table_text(table)
