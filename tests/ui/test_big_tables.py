"""Table panes at scale: 5,000 pods are filtered and sorted in Python and only a window of rows
around the cursor is in the DataTable; a refresh touches only the cells that changed."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC

from cockpit.models import KubeSnapshot
from tests.ui.fixtures import (
    fixed_sources,
    frozen_clock,
    kube_snapshot,
    snapshot_config,
    wait_until,
)
from widgets.app import CockpitApp
from widgets.panes.pods import PodsPane
from widgets.panes.window import window_start
from widgets.screens.detail import DetailScreen

PODS = 5000


def many_pods(n: int = PODS) -> KubeSnapshot:
    """`n` pods with distinct names, restarts and CPU, in an order unlike any sort order."""
    base = kube_snapshot()
    template = base.pods[0]
    pods = tuple(
        replace(
            template,
            uid=f"uid-{i:05d}",
            name=f"api-{(i * 7919) % n:05d}",
            restarts=i % 13,
            cpu_m=float(i % 97),
        )
        for i in range(n)
    )
    return replace(base, pods=pods)


def make_app(kube: KubeSnapshot) -> tuple[CockpitApp, dict]:
    sources = fixed_sources(kubernetes=kube)
    app = CockpitApp(snapshot_config(), sources=sources, clock=frozen_clock, local_tz=UTC)
    return app, sources


def count_cell_updates(pane: PodsPane) -> list[tuple[str, str]]:
    """Record every cell the pane pushes into its DataTable (our own method, still called)."""
    calls: list[tuple[str, str]] = []
    original = pane.set_cell

    def counting(key, column, value):
        calls.append((key, column))
        original(key, column, value)

    pane.set_cell = counting  # type: ignore[method-assign]
    return calls


def row_keys(pane: PodsPane) -> list[str]:
    return [row.key.value for row in pane.table.ordered_rows]


async def refresh_kube(app: CockpitApp, pilot, sources: dict, snapshot: KubeSnapshot) -> None:
    before = app.state.samples.get("kubernetes", 0)
    sources["kubernetes"].result = snapshot
    app.scheduler.refresh_now("kubernetes")
    await wait_until(pilot, lambda: app.state.samples.get("kubernetes", 0) > before)


async def test_a_refresh_with_unchanged_data_updates_no_cell_and_a_change_updates_one() -> None:
    app, sources = make_app(kube_snapshot())
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: len(app.state.samples) == 5)
        pane = app.panes_by_source["kubernetes"]
        calls = count_cell_updates(pane)
        same = replace(kube_snapshot())  # equal data, a new snapshot object: a real refresh
        await refresh_kube(app, pilot, sources, same)
        assert calls == []
        pods = list(same.pods)
        pods[1] = replace(pods[1], restarts=9)
        await refresh_kube(app, pilot, sources, replace(same, pods=tuple(pods)))
        assert calls == [(pods[1].uid, "restarts")]
        assert str(pane.table.get_cell(pods[1].uid, "restarts")) == "9"


async def test_5000_pods_window_sort_filter_cursor_and_enter() -> None:
    kube = many_pods()
    app, sources = make_app(kube)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: len(app.state.samples) == 5, timeout=20.0)
        pane = app.panes_by_source["kubernetes"]
        table = pane.table
        assert pane.row_total == PODS and table.row_count == pane.WINDOW  # a window, not 5,000
        assert row_keys(pane)[0] == "uid-00000"  # api-00000: sorted by name

        # walk far down: the window follows the cursor, the cursor stays on its pod
        await pilot.press(*["pagedown"] * 12)
        key = pane.cursor_key()
        assert key is not None and key in pane.items and pane._start > 0
        by_name = sorted(kube.pods, key=lambda p: p.name)
        assert pane.selected_item().name == by_name[pane._start + table.cursor_row].name

        # re-sort: the same pod stays under the cursor, wherever it lands among 5,000
        await pilot.press("o")  # -> status
        await pilot.press("o", "o")  # -> restarts
        assert pane.sort_column == "restarts" and pane.cursor_key() == key
        assert key in row_keys(pane) and table.row_count == pane.WINDOW
        restarts = [pane.items[k].restarts for k in row_keys(pane)]
        assert restarts == sorted(restarts)
        await pilot.press("O")
        assert pane.cursor_key() == key and pane.sort_reverse

        # a refresh that changes one pod elsewhere keeps the cursor and touches no shown cell
        calls = count_cell_updates(pane)
        pods = list(kube.pods)
        far = next(i for i, p in enumerate(pods) if p.uid not in row_keys(pane))
        pods[far] = replace(pods[far], node="node-elsewhere")
        await refresh_kube(app, pilot, sources, replace(kube, pods=tuple(pods)))
        assert pane.cursor_key() == key and calls == []

        # enter opens the pod under the cursor
        await pilot.press("enter")
        assert isinstance(app.screen, DetailScreen)
        assert f"Pod {pane.items[key].name}" == app.screen.title_text
        await pilot.press("escape")

        # ctrl+end reaches the last of all rows, not of the window
        await pilot.press("ctrl+end")
        assert pane._start + table.cursor_row == PODS - 1

        # the filter searches all rows, not only the window
        await pilot.press("slash", *"api-04999", "enter")
        assert row_keys(pane) == [next(p.uid for p in kube.pods if p.name == "api-04999")]
        await pilot.press("escape")
        assert pane.row_total == PODS


def test_window_stays_put_until_the_cursor_nears_an_end() -> None:
    assert window_start(10, 0, 50, size=100, margin=25) == 0  # small tables: all rows
    assert window_start(60, 0, 5000, size=100, margin=25) == 0
    assert window_start(80, 0, 5000, size=100, margin=25) == 30  # near the bottom: centred
    assert window_start(4990, 0, 5000, size=100, margin=25) == 4900  # never past the end
    assert window_start(2000, 30, 5000, size=100, margin=25) == 1950  # a jump (re-sort)


async def test_a_filter_matching_nothing_empties_the_big_table_and_escape_restores_it() -> None:
    app, _ = make_app(many_pods(1000))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: len(app.state.samples) == 5, timeout=20.0)
        pane = app.panes_by_source["kubernetes"]
        await pilot.press("down", "down")
        key = pane.cursor_key()
        await pilot.press("slash", *"no-such-pod")
        assert pane.table.row_count == 0 and pane.cursor_key() is None
        await pilot.press("escape")
        assert pane.row_total == 1000 and pane.table.row_count == pane.WINDOW
        assert pane.cursor_key() is not None and pane.cursor_key() in pane.items
        assert key in pane.items


async def test_a_changed_cell_repaints_its_row_only_and_unchanged_pods_keep_their_rows() -> None:
    app, sources = make_app(kube_snapshot())
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: len(app.state.samples) == 5)
        pane = app.panes_by_source["kubernetes"]
        table = pane.table
        rows_before = {row[0]: row for row in pane._rows}
        refreshed: list = []
        original = table.refresh

        def recording(*regions, **kwargs):
            refreshed.append(regions)
            return original(*regions, **kwargs)

        table.refresh = recording  # type: ignore[method-assign]
        pods = list(kube_snapshot().pods)
        pods[1] = replace(pods[1], restarts=9)
        await refresh_kube(app, pilot, sources, replace(kube_snapshot(), pods=tuple(pods)))
        # the other pods' PodInfo are equal: their row objects are reused as they were
        assert [row[0] for row in pane._rows if row is rows_before[row[0]]] == [
            p.uid for p in pods if p.uid != pods[1].uid
        ]
        # one refresh of one row's region (Textual's update_cell refreshes the whole table)
        row = table.get_row_index(pods[1].uid)
        assert refreshed == [(table._get_row_region(row).translate(-table.scroll_offset),)]
        assert str(table.get_cell(pods[1].uid, "restarts")) == "9"
        await pilot.pause()
        line = table.render_line(row + 1 - round(table.scroll_y)).text  # +1: the header
        assert pods[1].name[:10] in line and " 9 " in line
