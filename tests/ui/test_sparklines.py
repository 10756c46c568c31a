"""Sparklines of slowly measured values change only when the measurement does."""

from __future__ import annotations

from tests.ui.fixtures import kube_snapshot
from widgets.panes.common import samples, spark
from widgets.panes.pods import PodsPane


def test_samples_collapse_repeated_values_only() -> None:
    assert samples([]) == []
    assert samples([5.0, 5.0, 5.0, 7.0, 7.0, 5.0]) == [5.0, 7.0, 5.0]
    assert spark(samples([40.0] * 20)) == spark([40.0])


def test_pods_summary_is_the_same_while_the_cpu_sample_repeats() -> None:
    # metrics.k8s.io is polled every 10 s, the trend grows every 2 s refresh: the line that is
    # repainted on every refresh must not grow a bar per refresh with the same value
    pane = PodsPane()
    snap = kube_snapshot()
    first = pane.summarize(snap, {"kube.cpu_percent": [30.0, 37.0]})
    assert pane.summarize(snap, {"kube.cpu_percent": [30.0, 37.0, 37.0, 37.0]}) == first
    assert pane.summarize(snap, {"kube.cpu_percent": [30.0, 37.0, 37.0, 45.0]}) != first


async def test_connections_15m_shows_a_spike_8_minutes_ago_and_names_its_peak() -> None:
    """A 48/50 spike 8 minutes ago, 10 connections now: the 15-minute sparkline spans the whole
    window (not its last 40 samples) and says how high it went."""
    from dataclasses import replace
    from datetime import UTC, timedelta

    from cockpit.state import CockpitState
    from tests.ui.fixtures import (
        NOW,
        db_snapshot,
        fixed_sources,
        frozen_clock,
        make_config,
        wait_until,
    )
    from widgets.app import CockpitApp

    state = CockpitState(15, 2.0)
    for i in range(450):  # one sample every 2 s for 15 minutes
        ago = 900 - 2 * i
        total = 47 if abs(ago - 480) <= 10 else 9  # 20 s at 47 connections, 8 minutes ago
        at = NOW - timedelta(seconds=ago)
        state.update("database", replace(db_snapshot(), total=total, collected_at=at))
    app = CockpitApp(
        make_config(),
        sources=fixed_sources(database=replace(db_snapshot(), total=9)),
        clock=frozen_clock,
        local_tz=UTC,
        state=state,
    )
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: len(app.state.samples) == 5)
        await pilot.press("2")
        usage = str(app.panes_by_source["database"].query_one(".usage").content)
        line = next(x for x in usage.splitlines() if x.startswith("connections 15m"))
        assert "█" in line and "peak 47" in line, line


def test_a_15_minute_sparkline_moves_a_bar_per_30_s_not_per_refresh() -> None:
    """With the state's times, each of 30 bars spans 30 s: refreshes inside one span change at
    most the last bar, and the line gains a bar when a new span begins."""
    from datetime import UTC, datetime, timedelta

    from cockpit.state import Trend
    from widgets.panes.common import buckets, trend_line

    start = datetime(2026, 12, 1, 12, 0, 0, tzinfo=UTC)  # on a 30-s boundary

    def trend(samples: int) -> Trend:
        points = [(start + timedelta(seconds=2 * i), 40.0 + i % 3) for i in range(samples)]
        return Trend(points, window_seconds=900.0)

    assert trend_line(trend(1), 30) == trend_line(trend(15), 30)  # 0..28 s: one bar
    assert len(trend_line(trend(16), 30)) == 2  # 30 s: the second bar
    full = buckets(trend(450), 30)  # 15 minutes: 30 bars of 15 samples
    assert len(full) == 30 and full == buckets(trend(449), 30)[:29] + [full[-1]]
    assert buckets(trend(451), 30)[:29] == full[1:]  # a new span: the bars move by one
