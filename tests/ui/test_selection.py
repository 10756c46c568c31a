"""The selection is the row you see (issue 14), at 80×24, driven by keys.

The cursor follows its row's identity (pod uid, backend pid, host:port) through refreshes that
re-sort the table; when its row disappears the cursor rests on the nearest row but nothing is
selected until the operator moves; an action plans against the row as shown at the key press,
and the confirmation refuses (with the reason) if that row became something else meanwhile.
The connection tests signal real backends of the harness's PostgreSQL.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg

import widgets.app
from cockpit.audit.log import AuditLog, read_entries
from cockpit.config import DatabaseConfig
from cockpit.models import DbActivity, Snapshot
from tests.ui.fixtures import (
    NOW,
    _conn,
    certs_snapshot,
    db_snapshot,
    fixed_sources,
    frozen_clock,
    kube_snapshot,
    make_config,
    wait_until,
)
from widgets.app import CockpitApp
from widgets.dialogs.confirm import ConfirmDialog
from widgets.messages import SnapshotReady
from widgets.screens.detail import DetailScreen


class ResortingApp(CockpitApp):
    """The cockpit, with a refresh that lands right after a key was handled and before the
    dialog or detail it asked for is shown (a real delivery, through the app's own handler)."""

    CSS_PATH = str(Path(widgets.app.__file__).with_name("cockpit.tcss"))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.next_refresh: tuple[str, Snapshot] | None = None
        start = self.flow.start

        def start_after_refresh(action_id: str, selection: Any, incident_id: Any = None) -> None:
            start(action_id, selection, incident_id)  # the selection is the key press's
            self._land_refresh()

        self.flow.start = start_after_refresh  # type: ignore[method-assign]

    def get_default_screen(self) -> Any:
        screen = super().get_default_screen()
        open_detail = screen.open_detail

        def open_after_refresh(source: str, key: str) -> None:
            self._land_refresh()  # the key is the row's at the key press
            open_detail(source, key)

        screen.open_detail = open_after_refresh  # type: ignore[method-assign]
        return screen

    def _land_refresh(self) -> None:
        if self.next_refresh is not None:
            source, snap = self.next_refresh
            self.next_refresh = None
            self.on_snapshot_ready(SnapshotReady(source, snap))


def notes(app: CockpitApp) -> list[str]:
    return [n.message for n in app._notifications]


def row_at_cursor(pane: Any) -> str:
    table = pane.table
    return table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value


async def started(app: CockpitApp, pilot: Any) -> None:
    await wait_until(pilot, lambda: len(app.state.samples) == len(app.sources))


def _db_with(snap: DbActivity, *conns: Any) -> DbActivity:
    return replace(snap, connections=tuple(conns), total=len(conns))


async def test_pods_resorted_between_enter_and_the_detail_show_the_pod_under_the_cursor() -> None:
    sources = fixed_sources()
    app = ResortingApp(make_config(), sources=sources, clock=frozen_clock, local_tz=UTC)
    async with app.run_test(size=(80, 24)) as pilot:
        await started(app, pilot)
        pane = app.panes_by_source["kubernetes"]
        await pilot.press("1", "o", "up")  # sorted by status: the crash-looping pod first
        assert row_at_cursor(pane) == "uid-0005"
        snap = kube_snapshot()
        pods = list(snap.pods)
        pods[0] = replace(pods[0], reason="Error", ready=0)  # pod 1 now sorts first
        sources["kubernetes"].result = replace(snap, pods=tuple(pods))  # later polls agree
        app.next_refresh = ("kubernetes", sources["kubernetes"].result)
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, DetailScreen))
        assert app.screen.title_text == "Pod predictiq-api-7d9f8-00005"
        await pilot.press("escape")
        assert row_at_cursor(pane) == "uid-0005"  # followed its pod to row 2


async def test_certificates_resorted_between_enter_and_the_detail_show_the_expired_one() -> None:
    sources = fixed_sources()
    app = ResortingApp(make_config(), sources=sources, clock=frozen_clock, local_tz=UTC)
    async with app.run_test(size=(80, 24)) as pilot:
        await started(app, pilot)
        pane = app.panes_by_source["certificates"]
        await pilot.press("4")
        assert row_at_cursor(pane) == "old.predictiq.example:443"  # the expired one, first
        snap = certs_snapshot()
        soon = replace(snap.certificates[0], days_left=-30.0)  # another one sorts first now
        sources["certificates"].result = replace(snap, certificates=(soon, *snap.certificates[1:]))
        app.next_refresh = ("certificates", sources["certificates"].result)
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, DetailScreen))
        assert app.screen.title_text == "Certificate old.predictiq.example:443"
        await pilot.press("escape")
        assert row_at_cursor(pane) == "old.predictiq.example:443"


async def test_a_vanished_row_leaves_nothing_selected_until_the_operator_moves() -> None:
    sources = fixed_sources()
    app = CockpitApp(make_config(), sources=sources, clock=frozen_clock, local_tz=UTC)
    async with app.run_test(size=(80, 24)) as pilot:
        await started(app, pilot)
        pane = app.panes_by_source["database"]
        await pilot.press("2", "down")
        assert row_at_cursor(pane) == "4243"
        snap = db_snapshot()
        sources["database"].result = _db_with(snap, *(c for c in snap.connections if c.pid != 4243))
        app.scheduler.refresh_now("database")
        await wait_until(pilot, lambda: "4243" not in pane.items)
        assert row_at_cursor(pane) != "4243" and pane.selection() is None
        await pilot.press("x")
        assert any("nothing selected" in n for n in notes(app))
        assert app.action_requests == []  # no plan was made against the neighbour
        await pilot.press("enter")
        assert not isinstance(app.screen, DetailScreen)
        await pilot.press("down", "up")  # the operator chooses again
        assert pane.selection() is not None and pane.selection()["pid"] == int(row_at_cursor(pane))


async def _idle_backend(pg: Any) -> tuple[psycopg.Connection, int, datetime]:
    conn = pg.connect(application_name="victim")
    pid = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
    start = conn.execute(
        "SELECT backend_start FROM pg_stat_activity WHERE pid = %s", (pid,)
    ).fetchone()[0]
    return conn, pid, start


def _db_app(pg: Any, tmp_path: Path, snap: DbActivity) -> tuple[ResortingApp, dict[str, Any]]:
    cfg = replace(make_config(), database=DatabaseConfig(url=pg.url))
    sources = fixed_sources(database=snap)
    app = ResortingApp(
        cfg,
        sources=sources,
        clock=frozen_clock,
        local_tz=UTC,
        audit=AuditLog(tmp_path / "audit.jsonl", "test"),
    )
    return app, sources


async def test_connections_resorted_between_x_and_the_dialog_plan_the_pid_at_the_key_press(
    pg: Any, tmp_path: Path
) -> None:
    conn, pid, start = await _idle_backend(pg)
    victim = replace(_conn(pid, "active", 900.0, "SELECT pg_sleep(600)"), backend_start=start)
    snap = _db_with(db_snapshot(), victim, *db_snapshot().connections)
    app, sources = _db_app(pg, tmp_path, snap)
    async with app.run_test(size=(80, 24)) as pilot:
        await started(app, pilot)
        pane = app.panes_by_source["database"]
        await pilot.press("2")
        assert row_at_cursor(pane) == str(pid)  # the longest-running query, on top
        longer = replace(_conn(4242, "active", 5000.0, "SELECT 1"), backend_start=NOW)
        resorted = _db_with(snap, longer, victim, *snap.connections[2:])
        sources["database"].result = resorted  # later polls agree with the landed refresh
        app.next_refresh = ("database", resorted)
        await pilot.press("x")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmDialog), timeout=10)
        assert f"pid {pid}" in app.screen.plan.title
        assert row_at_cursor(pane) == str(pid) and pane.table.cursor_row == 1
        await pilot.press("escape")
    conn.close()


async def test_the_dialog_refuses_when_the_planned_pid_is_another_backend_by_then(
    pg: Any, tmp_path: Path
) -> None:
    conn, pid, start = await _idle_backend(pg)
    victim = replace(_conn(pid, "active", 900.0, "SELECT pg_sleep(600)"), backend_start=start)
    snap = _db_with(db_snapshot(), victim, *db_snapshot().connections)
    app, sources = _db_app(pg, tmp_path, snap)
    async with app.run_test(size=(80, 24)) as pilot:
        await started(app, pilot)
        pane = app.panes_by_source["database"]
        await pilot.press("2", "x")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmDialog), timeout=10)
        # while the dialog is open the pid is taken by a new backend (its holder ended)
        reused = replace(victim, backend_start=start + timedelta(minutes=5), query="SELECT 1")
        sources["database"].result = _db_with(snap, reused, *snap.connections[1:])
        app.scheduler.refresh_now("database")
        await wait_until(pilot, lambda: pane.items[str(pid)].backend_start != start)
        await pilot.press(*str(pid), "enter")  # a production context: the pid is typed
        await wait_until(pilot, lambda: not isinstance(app.screen, ConfirmDialog))
        await wait_until(pilot, lambda: any("not done" in n for n in notes(app)))
        told = next(n for n in notes(app) if "not done" in n)
        assert f"pid {pid} started" in told and "not" in told
    entries = [e for e in read_entries(tmp_path / "audit.jsonl") if "action" in e]
    assert [e["event"] for e in entries] == ["cancelled"]  # no intent: nothing was attempted
    assert entries[0]["reason"].startswith("refused:")
    assert conn.execute("SELECT 1").fetchone() == (1,)  # nothing was signalled
    conn.close()


async def test_an_untouched_table_selects_its_top_row_after_a_refresh_re_sorts_it() -> None:
    """The demo's case: the first data had only an idle connection, so the cursor sat on it;
    then the pg_sleep arrived on top. Before the operator ever moved, `enter` (and `x`) must
    take the top row the operator sees, not the idle one the cursor happened to start on."""
    idle = _conn(28256, "idle", 1.0, "SELECT 1")
    sources = fixed_sources(database=_db_with(db_snapshot(), idle))
    app = CockpitApp(make_config(), sources=sources, clock=frozen_clock, local_tz=UTC)
    async with app.run_test(size=(80, 24)) as pilot:
        await started(app, pilot)
        pane = app.panes_by_source["database"]
        assert row_at_cursor(pane) == "28256"
        sleeper = _conn(28620, "active", 21.0, "SELECT pg_sleep(600) /* nightly market report */")
        sources["database"].result = _db_with(db_snapshot(), sleeper, idle)
        app.scheduler.refresh_now("database")
        await wait_until(pilot, lambda: "28620" in pane.items)
        await pilot.press("2")
        assert row_at_cursor(pane) == "28620" and pane.selection()["pid"] == 28620
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, DetailScreen))
        assert app.screen.title_text == "Connection 28620"
        await pilot.press("escape")
        # from the first choice on, the cursor follows its row through re-sorts
        longer = _conn(4242, "active", 900.0, "SELECT 2")
        sources["database"].result = _db_with(db_snapshot(), longer, sleeper, idle)
        app.scheduler.refresh_now("database")
        await wait_until(pilot, lambda: "4242" in pane.items)
        assert row_at_cursor(pane) == "28620" and pane.table.cursor_row == 1


async def test_an_untouched_certificates_table_opens_the_expired_one_that_arrived_on_top() -> None:
    snap = certs_snapshot()
    ok_only = replace(snap, certificates=(snap.certificates[0],))  # www-like: fine, 61 days
    sources = fixed_sources(certificates=ok_only)
    app = CockpitApp(make_config(), sources=sources, clock=frozen_clock, local_tz=UTC)
    async with app.run_test(size=(80, 24)) as pilot:
        await started(app, pilot)
        pane = app.panes_by_source["certificates"]
        sources["certificates"].result = snap  # the expired one sorts first (worst first)
        app.scheduler.refresh_now("certificates")
        await wait_until(pilot, lambda: "old.predictiq.example:443" in pane.items)
        await pilot.press("4", "enter")
        await wait_until(pilot, lambda: isinstance(app.screen, DetailScreen))
        assert app.screen.title_text == "Certificate old.predictiq.example:443"
