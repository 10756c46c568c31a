"""The PostgreSQL diagnosis screens at 80×24: statements (t), the blocking tree (b) with X on
its root, explain (e) against a real server, and the connections table asking for more rows
when scrolled past those the source read."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC

from textual.widgets import DataTable, OptionList, Static

from cockpit.config import DatabaseConfig
from cockpit.models import StatementStat
from tests.ui.fixtures import (
    NOW,
    FixedSource,
    _conn,
    db_snapshot,
    fixed_sources,
    frozen_clock,
    make_config,
    wait_until,
)
from widgets.app import CockpitApp
from widgets.screens.explain import ExplainScreen
from widgets.screens.locks import LocksScreen
from widgets.screens.statements import StatementsScreen


def _statements_snapshot():
    steady = StatementStat(
        1,
        "SELECT * FROM models WHERE id = $1",
        90000,
        36000.0,
        0.4,
        90000,
        interval_mean_ms=0.4,
        mean_trend=(0.4, 0.4),
        share_of_total=0.2,
    )
    turned_slow = StatementStat(
        2,
        "SELECT * FROM bets WHERE user_id = $1",
        50000,
        100000.0,
        2.0,
        50000,
        interval_mean_ms=950.0,
        mean_trend=(1.0, 1.2, 950.0),
        share_of_total=0.6,
    )
    return replace(
        db_snapshot(),
        top_by_mean=(turned_slow, steady),
        top_by_total=(turned_slow,),
        statements_sampled_at=NOW,
    )


async def test_statements_view_orders_by_the_last_interval_mean() -> None:
    app = CockpitApp(
        make_config(),
        sources=fixed_sources(database=_statements_snapshot()),
        clock=frozen_clock,
        local_tz=UTC,
    )
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: app.state.latest("database") is not None)
        await pilot.press("2", "t")
        await wait_until(pilot, lambda: isinstance(app.screen, StatementsScreen))
        screen = app.screen
        table = screen.query_one(DataTable)
        await wait_until(pilot, lambda: table.row_count == 2)  # each statement once
        assert table.get_row_at(0)[0] == "2.0" and table.get_row_at(0)[1] == "950.0"
        assert table.get_row_at(0)[6] == "60%"
        await pilot.press("o")  # the last interval: the statement that just became slow first
        assert "last interval" in str(screen.query_one("#statements-status", Static).render())
        assert screen.selected() is not None and screen.selected().queryid == 2
        await pilot.press("escape")
        await wait_until(pilot, lambda: not isinstance(app.screen, StatementsScreen))


def _locks_snapshot():
    root = _conn(500, "idle in transaction", 190.0, "UPDATE markets SET odds = 2 WHERE id = 1")
    second = _conn(501, "active", 60.0, "UPDATE markets SET odds = 3 WHERE id = 1", blocked=(500,))
    third = _conn(502, "active", 30.0, "ALTER TABLE markets ADD COLUMN x int", blocked=(500, 501))
    return replace(db_snapshot(), lock_sessions=(root, second, third), locks_sampled_at=NOW)


async def test_blocking_tree_shows_the_root_first_and_x_offers_to_terminate_it() -> None:
    app = CockpitApp(
        make_config(),
        sources=fixed_sources(database=_locks_snapshot()),
        clock=frozen_clock,
        local_tz=UTC,
    )
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: app.state.latest("database") is not None)
        await pilot.press("b")
        await wait_until(pilot, lambda: isinstance(app.screen, LocksScreen))
        screen = app.screen
        await wait_until(pilot, lambda: len(screen.lines) > 0)
        assert [(d, p) for d, p, _ in screen.lines] == [(0, 500), (1, 501), (2, 502), (1, 502)]
        assert "idle in transaction for 3m 10s" in screen.lines[0][2]
        assert "2 waiting behind it" in screen.lines[0][2]
        assert "also waits for pid 501" in screen.lines[3][2]
        screen.query_one(OptionList).highlighted = 1
        await pilot.press("X")  # not a root: refused, nothing requested
        assert not [r for r in app.action_requests if r[0] == "terminate_blocker"]
        screen.query_one(OptionList).highlighted = 0
        await pilot.press("X")
        await wait_until(pilot, lambda: ("terminate_blocker", {"pid": 500}) in app.action_requests)


async def test_read_only_blocking_tree_and_statements_offer_no_action() -> None:
    app = CockpitApp(
        make_config(read_only=True),
        sources=fixed_sources(database=_locks_snapshot()),
        clock=frozen_clock,
        local_tz=UTC,
    )
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: app.state.latest("database") is not None)
        assert not [
            k
            for k in app.keys
            if k.action_id in ("explain_analyze", "create_index", "backup_database")
        ]
        assert {"t", "e", "b"} <= {k.key for k in app.keys}
        await pilot.press("b")
        await wait_until(pilot, lambda: isinstance(app.screen, LocksScreen))
        await pilot.press("X")
        assert app.action_requests == []


class PagedSource(FixedSource):
    """A database source whose snapshot holds a window of the connections; records how many
    rows the table asks for (the real source reads that many from the next refresh on)."""

    def __init__(self) -> None:
        conns = tuple(_conn(1000 + i, "idle", 10.0 + i, "SELECT 1") for i in range(25))
        super().__init__(
            "database",
            replace(
                db_snapshot(),
                connections=conns,
                total=400,
                longest_queries=(),
                lock_waits=(),
                idle_over_threshold=(),
            ),
        )
        self.wanted: list[int] = []

    def want_rows(self, count: int) -> None:
        self.wanted.append(count)


async def test_the_connections_table_asks_for_the_next_page_when_scrolled_to_its_end() -> None:
    sources = fixed_sources()
    paged = sources["database"] = PagedSource()
    app = CockpitApp(make_config(), sources=sources, clock=frozen_clock, local_tz=UTC)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: len(app.state.samples) == len(app.sources))
        await pilot.press("2")
        pane = app.panes_by_source["database"]
        table = pane.query_one(DataTable)
        await wait_until(pilot, lambda: table.row_count == 25)
        assert "rows 25 of 400" in str(pane.query_one(".usage", Static).render())
        pane.goto_row(-1)
        await wait_until(pilot, lambda: paged.wanted == [125])
        pane.goto_row(0)
        await wait_until(pilot, lambda: paged.wanted == [125, 0])  # back to the window


async def test_explain_screen_shows_the_plan_of_the_selected_query(pg) -> None:
    query = "SELECT count(*) FROM pg_class WHERE relname = 'markets'"
    snap = replace(db_snapshot(), connections=(_conn(777, "active", 3.0, query),))
    cfg = replace(make_config(), database=DatabaseConfig(url=pg.url))
    app = CockpitApp(cfg, sources=fixed_sources(database=snap), clock=frozen_clock, local_tz=UTC)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: len(app.state.samples) == len(app.sources))
        await pilot.press("2")
        await wait_until(pilot, lambda: app.active_pane.source == "database")
        await wait_until(
            pilot, lambda: app.panes_by_source["database"].query_one(DataTable).row_count == 1
        )
        await pilot.press("e")
        await wait_until(pilot, lambda: isinstance(app.screen, ExplainScreen))
        screen = app.screen
        await wait_until(pilot, lambda: len(screen.shown) > 2, timeout=15)
        text = "\n".join(screen.shown)
        assert screen.shown[0] == "EXPLAIN" and "pg_class" in text
        assert "no finding" in text  # a catalogue lookup by index: nothing to fix
        assert screen.sql == query


async def test_explain_of_a_broken_query_says_why_in_the_screen(pg) -> None:
    snap = replace(
        db_snapshot(), connections=(_conn(778, "active", 3.0, "SELECT * FROM no_such_table"),)
    )
    cfg = replace(make_config(), database=DatabaseConfig(url=pg.url))
    app = CockpitApp(cfg, sources=fixed_sources(database=snap), clock=frozen_clock, local_tz=UTC)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: len(app.state.samples) == len(app.sources))
        await pilot.press("2")
        await wait_until(pilot, lambda: app.active_pane.source == "database")
        await wait_until(
            pilot, lambda: app.panes_by_source["database"].query_one(DataTable).row_count == 1
        )
        await pilot.press("e")
        await wait_until(pilot, lambda: isinstance(app.screen, ExplainScreen))
        status = app.screen.query_one("#explain-status", Static)
        await wait_until(pilot, lambda: "cannot explain" in str(status.render()), timeout=15)
        assert "no_such_table" in str(status.render())
        assert app.is_running


async def test_the_backup_checklist_item_offers_back_up_the_database() -> None:
    from textual.app import App

    from cockpit.state import CockpitState
    from widgets.screens.checklists import ChecklistScreen

    calls: list[str] = []

    async def backup() -> None:
        calls.append("backup")

    app = App()
    async with app.run_test(size=(100, 30)) as pilot:
        screen = ChecklistScreen(
            make_config(), CockpitState(), None, list_id="daily", backup=backup
        )
        app.push_screen(screen)
        await wait_until(pilot, lambda: screen.checklist is not None and not screen.verifying)
        assert any(i.check == "backup_completed" for i in screen.items)
        await pilot.press("B")
        await wait_until(pilot, lambda: calls == ["backup"])
        read_only = ChecklistScreen(
            make_config(read_only=True), CockpitState(), None, list_id="daily", backup=backup
        )
        app.push_screen(read_only)
        await wait_until(pilot, lambda: read_only.checklist is not None)
        await pilot.press("B")
        await pilot.pause()
        assert calls == ["backup"]  # not in read-only mode


async def test_an_untouched_statements_table_keeps_its_top_row_through_a_re_sort() -> None:
    """Issue 14 for the statements view: `e` right after `t` explains the top statement even
    when a new sample re-sorted the list meanwhile; once the operator moves, the cursor
    follows its statement instead."""
    first = _statements_snapshot()
    steady, turned_slow = first.top_by_mean[1], first.top_by_mean[0]
    sources = fixed_sources(database=first)
    app = CockpitApp(make_config(), sources=sources, clock=frozen_clock, local_tz=UTC)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: app.state.latest("database") is not None)
        await pilot.press("2", "t")
        await wait_until(pilot, lambda: isinstance(app.screen, StatementsScreen))
        screen = app.screen
        assert isinstance(screen, StatementsScreen)
        table = screen.query_one(DataTable)
        await wait_until(pilot, lambda: table.row_count == 2)
        assert screen.selected() is not None and screen.selected().queryid == 2
        # the next sample: the steady statement is now the slowest by mean
        later = NOW.replace(second=NOW.second + 5 if NOW.second < 50 else 0)
        resorted = replace(
            first,
            top_by_mean=(replace(steady, mean_ms=5.0), replace(turned_slow, mean_ms=1.0)),
            statements_sampled_at=later,
        )
        sources["database"].result = resorted
        await wait_until(pilot, lambda: table.row_count == 2 and table.get_row_at(0)[0] == "5.0")
        assert screen.selected() is not None and screen.selected().queryid == 1  # the top row
        await pilot.press("down")  # the operator chooses the second row...
        await wait_until(
            pilot, lambda: screen.selected() is not None and screen.selected().queryid == 2
        )
        back = replace(first, statements_sampled_at=NOW.replace(minute=(NOW.minute + 1) % 60))
        sources["database"].result = back  # ...and it stays chosen through the next re-sort
        await wait_until(pilot, lambda: table.get_row_at(0)[0] == "2.0")
        assert screen.selected() is not None and screen.selected().queryid == 2
        assert table.cursor_row == 0
