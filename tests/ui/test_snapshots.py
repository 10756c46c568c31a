"""Screenshots of the cockpit at 80×24 (compact) and 160×48 (grid), fed by fixed snapshots with a
frozen clock. Regenerate with `pytest tests/ui/test_snapshots.py --snapshot-update` after an
intended change (and together with a Textual upgrade: SVGs differ between releases)."""

from __future__ import annotations

from datetime import UTC

from tests.ui.fixtures import fixed_sources, frozen_clock, snapshot_config, wait_until
from widgets.app import CockpitApp


def make_app(read_only: bool = False) -> CockpitApp:
    return CockpitApp(
        snapshot_config(read_only=read_only),
        sources=fixed_sources(),
        clock=frozen_clock,
        local_tz=UTC,
    )


async def all_sources_in(pilot) -> None:
    app = pilot.app
    await wait_until(pilot, lambda: len(app.state.samples) == len(app.sources))


def test_compact_80x24(snap_compare) -> None:
    assert snap_compare(make_app(), terminal_size=(80, 24), run_before=all_sources_in)


def test_compact_80x24_database_focused(snap_compare) -> None:
    assert snap_compare(make_app(), press=["2"], terminal_size=(80, 24), run_before=all_sources_in)


def test_grid_160x48(snap_compare) -> None:
    assert snap_compare(make_app(), terminal_size=(160, 48), run_before=all_sources_in)


def test_read_only_monitor_80x24(snap_compare) -> None:
    assert snap_compare(
        make_app(read_only=True), press=["6"], terminal_size=(80, 24), run_before=all_sources_in
    )


def test_help_80x24(snap_compare) -> None:
    assert snap_compare(
        make_app(), press=["question_mark"], terminal_size=(80, 24), run_before=all_sources_in
    )
