"""Keyboard-only navigation at 80×24: panes, filter, sort, detail views, help and quit.
Fed by fixed snapshots through our own Source objects and a frozen clock."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC

from textual.widgets import DataTable, Input, Static

from cockpit.models import SourceFailure
from tests.ui.fixtures import (
    NOW,
    fixed_sources,
    frozen_clock,
    kube_snapshot,
    make_config,
    wait_until,
)
from widgets.app import CockpitApp
from widgets.dialogs.quit import QuitConfirm
from widgets.screens.detail import DetailScreen
from widgets.screens.help import HelpScreen


def make_app(read_only: bool = False, **sources) -> CockpitApp:
    srcs = sources.pop("sources", None) or fixed_sources(**sources)
    return CockpitApp(
        make_config(read_only=read_only), sources=srcs, clock=frozen_clock, local_tz=UTC
    )


async def started(app: CockpitApp, pilot) -> None:
    await wait_until(pilot, lambda: len(app.state.samples) == len(app.sources))


def summary(app: CockpitApp, source: str) -> str:
    pane = app.panes_by_source[source] if source != "incidents" else app.panes[-1]
    return str(pane.query_one(".summary", Static).content)


def row_keys(table: DataTable) -> list[str]:
    return [table.coordinate_to_cell_key((i, 0)).row_key.value for i in range(table.row_count)]


async def test_tab_shift_tab_and_number_keys_move_between_panes() -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await started(app, pilot)
        assert app.active_pane.title == "Pods"
        assert app.focused is app.panes_by_source["kubernetes"].table
        await pilot.press("tab")
        assert app.active_pane.title == "Database"
        assert app.focused is app.panes_by_source["database"].table
        await pilot.press("shift+tab", "shift+tab")
        assert app.active_pane.title == "Incidents"  # wraps around
        for n, title in enumerate(
            ("Pods", "Database", "Cache", "Certificates", "API", "Incidents"), 1
        ):
            await pilot.press(str(n))
            assert app.active_pane.title == title
            assert app.active_pane.has_class("-active")
            assert app.focused is not None and app.focused in app.active_pane.walk_children()


async def test_every_pane_says_something_data_stale_or_not_configured() -> None:
    sources = fixed_sources()
    del sources["cache"]
    app = make_app(sources=sources)
    async with app.run_test(size=(80, 24)) as pilot:
        await started(app, pilot)
        assert summary(app, "kubernetes").startswith("1 Pods         2s ago · ")  # the age first
        assert "13/100 conns" in summary(app, "database")
        assert "not configured" in summary(app, "cache")
        # the database goes away: the last good data stays, marked stale with the reason
        sources["database"].result = SourceFailure(
            "database", "connect", "connection refused", at=NOW
        )
        app.scheduler.refresh_now("database")
        await wait_until(pilot, lambda: app.state.failure("database") is not None)
        text = summary(app, "database")
        assert text.index("stale since 10:42:13 — connect: connection refused") < text.index(
            "13/100"
        )
        assert app.panes_by_source["database"].table.row_count == 12


async def test_slash_filters_the_focused_table_and_escape_clears_it() -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await started(app, pilot)
        await pilot.press("2", "slash")
        pane = app.panes_by_source["database"]
        assert isinstance(app.focused, Input)
        await pilot.press(*"retired")
        assert row_keys(pane.table) == ["4243"]  # matched on the query text
        await pilot.press("enter")  # keep the filter, back to the table
        assert app.focused is pane.table and pane.table.row_count == 1
        await pilot.press("escape")
        assert pane.table.row_count == 12 and pane.filter_text == ""


async def test_o_cycles_the_sort_column_and_shift_o_reverses() -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await started(app, pilot)
        table = app.panes_by_source["kubernetes"].table
        assert row_keys(table)[0] == "uid-0001"  # by name
        await pilot.press("o")  # -> status
        assert app.panes_by_source["kubernetes"].sort_column == "status"
        assert row_keys(table)[0] == "uid-0005"  # CrashLoopBackOff sorts before Running
        await pilot.press("o", "O")  # -> ready, reversed
        assert row_keys(table)[-1] == "uid-0005"  # 0/1 ready is the smallest
        assert "▼" in str(table.columns["ready"].label)


async def test_cursor_and_rows_survive_a_refresh_by_diff() -> None:
    sources = fixed_sources()
    app = make_app(sources=sources)
    async with app.run_test(size=(80, 24)) as pilot:
        await started(app, pilot)
        table = app.panes_by_source["kubernetes"].table
        await pilot.press("down", "down")
        assert row_keys(table)[table.cursor_row] == "uid-0003"
        snap = kube_snapshot()
        pods = list(snap.pods)
        pods[0] = replace(pods[0], uid="uid-0000", name="predictiq-api-7d9f8-00000")  # replaced
        pods[2] = replace(pods[2], restarts=4)  # a changed cell on the cursor row
        sources["kubernetes"].result = replace(snap, pods=tuple(pods))
        app.scheduler.refresh_now("kubernetes")
        await wait_until(pilot, lambda: "uid-0000" in row_keys(table))
        assert row_keys(table)[table.cursor_row] == "uid-0003"  # the same pod, not the same index
        assert str(table.get_cell("uid-0003", "restarts")) == "4"
        assert "uid-0001" not in row_keys(table)


async def test_enter_opens_pod_connection_and_certificate_details() -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await started(app, pilot)
        await pilot.press("1", "down", "down", "down", "down", "enter")  # the crash-looping pod
        assert isinstance(app.screen, DetailScreen)
        text = app.screen.body
        assert "Containers:" in text and "CrashLoopBackOff" in text
        assert "last state: terminated (OOMKilled), exit code 137" in text
        assert "BackOff (x7): Back-off restarting failed container api" in text
        await pilot.press("escape")
        assert not isinstance(app.screen, DetailScreen)

        await pilot.press("2", "slash", *"4243", "enter", "enter")
        text = app.screen.body
        assert "UPDATE models SET status = 'retired' WHERE id = 7" in text
        assert "wait event: Lock / transactionid" in text and "blocked by pids: 4250" in text
        await pilot.press("escape", "4", "enter")
        text = app.screen.body
        assert "old.predictiq.example:443" in text and "Presented chain" in text
        assert "chain verified: no (certificate has expired)" in text


async def test_question_mark_lists_every_registry_key() -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await started(app, pilot)
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        text = str(app.screen.query_one("#help-text", Static).content)
        for spec in app.keys:
            assert spec.description in text
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)


async def test_footer_and_palette_come_from_the_same_registry() -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await started(app, pilot)
        footer_keys = {
            b.key for (_, b, enabled, _) in app.screen.active_bindings.values() if b.show
        }
        assert footer_keys == {s.key for s in app.keys if s.show}
        titles = {c.title for c in app.get_system_commands(app.screen)}
        assert titles == {s.description for s in app.keys if s.palette}


async def test_q_quits_at_once_when_nothing_is_in_flight() -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await started(app, pilot)
        await pilot.press("q")
        await wait_until(pilot, lambda: app._exit_renderables is not None or not app.is_running)
    assert app.return_code == 0


async def test_q_asks_first_while_an_action_is_in_flight() -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await started(app, pilot)
        app.flow.in_flight = 1
        await pilot.press("q")
        assert isinstance(app.screen, QuitConfirm)
        await pilot.press("n")
        assert app.is_running and not isinstance(app.screen, QuitConfirm)
        await pilot.press("q", "y")
        await wait_until(pilot, lambda: not app.is_running)
    assert app.return_code == 0
