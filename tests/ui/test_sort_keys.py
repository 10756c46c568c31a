"""Crash #1 (issue 13): the database pane sorted by "For" while one connection had no value
(an active backend whose query_start is NULL: the cell's text `-` was compared with the other
rows' (running, seconds) tuples, and `sorted` raised TypeError, ending the app)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC

from hypothesis import given, settings
from hypothesis import strategies as st
from textual.widgets import DataTable

from tests.ui.fixtures import db_snapshot, fixed_sources, frozen_clock, make_config, wait_until
from widgets.app import CockpitApp
from widgets.panes.common import Cell
from widgets.panes.window import Row, sort_rows


def _row(key: str, cell: Cell) -> Row:
    return key, None, {"for": cell}


def test_a_column_of_tuples_with_rows_without_a_value_sorts_them_last_both_ways() -> None:
    rows = [
        _row("a", Cell("15s", (True, 15.0))),
        _row("b", Cell("-")),
        _row("e", Cell("", float("nan"))),
        _row("f", Cell("1m", (False, 60.0))),
    ]
    assert [k for k, _, _ in sort_rows(rows, "for", False)] == ["f", "a", "b", "e"]
    assert [k for k, _, _ in sort_rows(rows, "for", True)] == ["a", "f", "b", "e"]


def test_a_text_column_sorts_by_text_with_blanks_last() -> None:
    rows = [_row("a", Cell("web")), _row("b", Cell("")), _row("c", Cell("api"))]
    assert [k for k, _, _ in sort_rows(rows, "for", False)] == ["c", "a", "b"]
    assert [k for k, _, _ in sort_rows(rows, "for", True)] == ["a", "c", "b"]


async def test_database_pane_sorted_by_for_with_a_connection_without_a_duration() -> None:
    db = db_snapshot()
    unknown = replace(db.connections[0], pid=5000, query_start=None, query_seconds=None)
    db = replace(db, connections=(*db.connections, unknown), total=db.total + 1)
    app = CockpitApp(
        make_config(), sources=fixed_sources(database=db), clock=frozen_clock, local_tz=UTC
    )
    async with app.run_test(size=(80, 24)) as pilot:
        pane = app.panes_by_source["database"]
        await wait_until(pilot, lambda: pane.row_total == len(db.connections))
        assert pane.sort_column == "for"
        table = pane.query_one(DataTable)
        last = table.coordinate_to_cell_key((table.row_count - 1, 0)).row_key.value
        assert last == "5000"  # no duration: after every known one
        await pilot.press("2", "O")  # the other direction: still last, still running
        assert table.coordinate_to_cell_key((table.row_count - 1, 0)).row_key.value == "5000"
        await pilot.press("q")
    assert app.return_code == 0


numbers = st.one_of(
    st.integers(-(10**6), 10**6), st.floats(allow_nan=True, allow_infinity=True), st.booleans()
)
cells = st.builds(
    Cell,
    st.sampled_from(["", "-", "api", "Ünïcode", "10m", "[/red]"]),
    st.one_of(
        st.none(), numbers, st.tuples(st.booleans(), numbers), st.tuples(numbers, numbers, numbers)
    ),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(cells, max_size=30), st.booleans())
def test_any_column_of_cells_sorts_without_error_and_keeps_every_row(
    column: list[Cell], reverse: bool
) -> None:
    rows = [_row(str(i), cell) for i, cell in enumerate(column)]
    result = sort_rows(rows, "for", reverse)
    assert sorted(k for k, _, _ in result) == sorted(k for k, _, _ in rows)
    missing = [cell.sort_key()[0] for _, _, cells in result for cell in (cells["for"],)]
    assert missing == sorted(missing)  # every row without a value after every row with one
