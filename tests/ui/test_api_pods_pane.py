"""The API pane read per pod (scrape = "pods" or [prometheus]), driven by keys at 80x24 and in
the 160x48 grid: a table of the pods, busiest first, the failed pod listed as failed with its
reason (in full on enter), sortable by every column with the cursor on its pod, fitting the
pane by dropping the scrape age first; and no table when the API is read from one URL."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, timedelta

import pytest
from textual.widgets import DataTable

from cockpit.models import ApiPodMetrics, ApiStatus, SourceFailure
from tests.ui.fixtures import (
    NOW,
    api_snapshot,
    fixed_sources,
    frozen_clock,
    kube_snapshot,
    make_config,
    wait_until,
)
from widgets.app import CockpitApp
from widgets.messages import SnapshotReady
from widgets.panes.api_pods import pod_name
from widgets.panes.base import FocusableStatic
from widgets.screens.detail import DetailScreen

PODS = (
    ApiPodMetrics(
        "predictiq-api-7d9f-a",
        ok=True,
        last_scraped_at=NOW - timedelta(seconds=2),
        request_rate=30.0,
        rate_5xx=0.0,
        error_ratio=0.0,
        rate_429=0.5,
        p99_ms=120.0,
    ),
    ApiPodMetrics(
        "predictiq-api-7d9f-b",
        ok=True,
        last_scraped_at=NOW - timedelta(seconds=2),
        request_rate=55.5,
        rate_5xx=4.0,
        error_ratio=0.072,
        rate_429=2.0,
        p99_ms=900.0,
    ),
    ApiPodMetrics(
        "predictiq-api-7d9f-c",
        ok=False,
        error="connection refused",
        last_scraped_at=NOW - timedelta(seconds=40),
    ),
    ApiPodMetrics(
        "predictiq-api-7d9f-d",
        ok=True,
        last_scraped_at=NOW - timedelta(seconds=2),
        request_rate=12.25,
        rate_5xx=0.0,
        error_ratio=0.0,
        rate_429=0.0,
        p99_ms=40.0,
    ),
)
PER_POD = replace(api_snapshot(), pods=PODS, pods_scraped=4, pods_in_sum=3)


def make_app(api=PER_POD) -> CockpitApp:
    return CockpitApp(
        make_config(), sources=fixed_sources(api=api), clock=frozen_clock, local_tz=UTC
    )


def lines(table: DataTable) -> list[str]:
    return [table.render_line(y).text for y in range(table.row_count + 1)]


def keys(table: DataTable) -> list[str]:
    return [row.key.value for row in table.ordered_rows]


def cursor_key(table: DataTable) -> str:
    return table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value


async def focused_api(app: CockpitApp, pilot) -> DataTable:
    await wait_until(pilot, lambda: len(app.state.samples) == len(app.sources))
    await pilot.press("5")
    table = app.panes_by_source["api"].table
    await wait_until(pilot, lambda: table.row_count == len(PODS) and table.size.width > 0)
    await pilot.pause()
    return table


async def test_the_api_pane_lists_every_pod_busiest_first_the_failed_one_with_its_reason():
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        table = await focused_api(app, pilot)
        pane = app.panes_by_source["api"]
        figures = str(pane.query_one(".figures", FocusableStatic).render())
        assert "pods: sum of 3 of 4 pods (1 failed)" in figures.splitlines()
        assert keys(table) == [PODS[1].name, PODS[0].name, PODS[3].name, PODS[2].name]
        head, busiest, *_, failed = lines(table)
        # at 80 columns the scrape age and then the p99 give way to the scrape's reason
        assert head.split() == ["Pod", "Req/s", "▼", "5xx%", "429/s", "Scrape"]
        assert busiest.split() == [PODS[1].name, "55.5", "7.2", "2.00", "ok"]
        assert failed.split()[0] == PODS[2].name and "failed: connection refused" in failed
        assert table.max_scroll_x == 0
        assert app.focused is table
        await pilot.press(
            "down", "down", "down", "enter"
        )  # the failed pod's detail: the reason in full
        await wait_until(pilot, lambda: isinstance(app.screen, DetailScreen))
        assert "reason: connection refused" in app.screen.body
        assert "40s ago" in app.screen.body


@pytest.mark.parametrize("column", ["name", "rate", "err", "r429", "p99", "age", "scrape"])
async def test_every_column_sorts_and_the_cursor_stays_on_its_pod(column: str):
    app = make_app()
    async with app.run_test(size=(300, 48)) as pilot:  # a grid wide enough for every column
        table = await focused_api(app, pilot)
        pane = app.panes_by_source["api"]
        await pilot.press("down")  # choose the second row
        chosen = cursor_key(table)
        assert [c for c, _ in pane.columns()] == [c for c, _ in pane.COLUMNS]
        await pilot.press("o")  # the next column, ascending (the default is req/s descending)
        for _ in pane.COLUMNS:
            if pane.sort_column == column:
                break
            await pilot.press("o")
        await pilot.pause()
        order = keys(table)
        cells = {p.name: pane._by_key[p.name][column].sort_key() for p in PODS}
        present = [k for k in order if not cells[k][0]]
        assert [cells[k] for k in present] == sorted(cells[k] for k in present)
        assert all(cells[k][0] for k in order[len(present) :])  # the missing values last
        assert cursor_key(table) == chosen
        await pilot.press("O")
        await pilot.pause()
        reverse = [cells[k] for k in keys(table)]
        assert reverse[: len(present)] == sorted(reverse[: len(present)], reverse=True)
        assert all(missing for missing, _, _ in reverse[len(present) :])  # last both ways
        assert cursor_key(table) == chosen


async def test_a_long_pod_name_keeps_the_suffix_that_tells_pods_apart():
    long = replace(PODS[0], name="predictiq-api-4lsjs9dbbb-55zh2")
    app = make_app(replace(PER_POD, pods=(long, *PODS[1:])))
    async with app.run_test(size=(80, 24)) as pilot:
        table = await focused_api(app, pilot)
        assert pod_name(long.name) == "…iq-api-4lsjs9dbbb-55zh2"
        assert any(line.split()[0] == pod_name(long.name) for line in lines(table))
        assert table.max_scroll_x == 0


async def test_one_metrics_url_shows_no_pod_table():
    app = make_app(api_snapshot())
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: len(app.state.samples) == len(app.sources))
        await pilot.press("5")
        await pilot.pause()
        pane = app.panes_by_source["api"]
        assert not pane.table.display
        assert app.focused is pane.query_one(".figures", FocusableStatic)
        assert "pods:" not in str(pane.query_one(".figures", FocusableStatic).render())


def per_pod_for(kube) -> ApiStatus:
    """The API read per pod, with one rate for each of the fixture's pods but the last (whose
    scrape failed)."""
    names = [p.name for p in kube.pods]
    rows = tuple(
        replace(PODS[0], name=name, request_rate=10.0 * (i + 1)) for i, name in enumerate(names)
    )
    rows = (*rows[:-1], replace(PODS[2], name=names[-1]))
    return replace(PER_POD, pods=rows, pods_scraped=len(rows), pods_in_sum=len(rows) - 1)


def column(table: DataTable, key: str) -> dict[str, str]:
    return {row.key.value: str(table.get_cell(row.key.value, key)) for row in table.ordered_rows}


async def test_the_pods_pane_shows_each_pods_request_rate_while_the_api_is_fresh():
    kube = kube_snapshot()
    names = [p.name for p in kube.pods]
    sources = fixed_sources(api=per_pod_for(kube))
    app = CockpitApp(make_config(), sources=sources, clock=frozen_clock, local_tz=UTC)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: len(app.state.samples) == len(app.sources))
        await pilot.press("1")
        pane = app.panes_by_source["kubernetes"]
        table = pane.table
        await wait_until(pilot, lambda: "rps" in table.columns)
        uid = {p.name: p.uid for p in kube.pods}
        rates = column(table, "rps")
        assert [rates[uid[n]] for n in names] == [*(f"{10.0 * (i + 1):.1f}" for i in range(4)), "-"]
        assert "Req/s" in table.render_line(0).text and table.max_scroll_x == 0
        while pane.sort_column != "rps":
            await pilot.press("o")
        await pilot.press("O")  # busiest first, the pod without a rate last both ways
        await pilot.pause()
        order = [row.key.value for row in table.ordered_rows]
        assert order == [uid[n] for n in (names[3], names[2], names[1], names[0], names[4])]
        # the API goes stale: no old rate is shown as if it were current
        app.post_message(SnapshotReady("api", SourceFailure("api", "GET /health", "refused")))
        await wait_until(pilot, lambda: {c["rps"].text for c in pane._by_key.values()} == {"-"})
        assert "rps" not in table.columns  # all `-`: the column gives way first at 80x24
        app.post_message(SnapshotReady("api", per_pod_for(kube)))
        await wait_until(pilot, lambda: "rps" in table.columns)
        assert column(table, "rps")[uid[names[0]]] == "10.0"


async def test_one_metrics_url_leaves_the_pods_request_rates_missing():
    app = CockpitApp(make_config(), sources=fixed_sources(), clock=frozen_clock, local_tz=UTC)
    async with app.run_test(size=(360, 48)) as pilot:  # wide: the column shows, every cell `-`
        await wait_until(pilot, lambda: len(app.state.samples) == len(app.sources))
        table = app.panes_by_source["kubernetes"].table
        await wait_until(pilot, lambda: table.row_count > 0 and "rps" in table.columns)
        assert set(column(table, "rps").values()) == {"-"}
        cells = app.panes_by_source["kubernetes"]._by_key.values()
        assert all(c["rps"].sort_key()[0] for c in cells)  # typed as missing: sorted last
