"""The API pane at 80x24 with scrape = "pods": a line per pod, busiest first, the failed pod
named with its reason, and what the sum covers."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, timedelta

from cockpit.models import ApiPodMetrics
from tests.ui.fixtures import (
    NOW,
    api_snapshot,
    fixed_sources,
    frozen_clock,
    make_config,
    wait_until,
)
from widgets.app import CockpitApp
from widgets.panes.base import FocusableStatic

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
        error="HTTP 503: connection refused",
        last_scraped_at=NOW - timedelta(seconds=40),
    ),
)


async def test_the_api_pane_lists_every_pod() -> None:
    api = replace(api_snapshot(), pods=PODS, pods_scraped=3, pods_in_sum=2)
    app = CockpitApp(
        make_config(), sources=fixed_sources(api=api), clock=frozen_clock, local_tz=UTC
    )
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: len(app.state.samples) == len(app.sources))
        await pilot.press("5")
        text_widget = app.panes_by_source["api"].query_one(".text", FocusableStatic)
        await wait_until(pilot, lambda: "pods:" in str(text_widget.render()))
        lines = str(text_widget.render()).splitlines()
        start = next(i for i, line in enumerate(lines) if line.startswith("pods:"))
        assert lines[start] == "pods: sum of 2 of 3 pods (1 failed)"
        rows = lines[start + 2 : start + 5]
        assert [r.split()[0] for r in rows] == [p.name for p in (PODS[1], PODS[0], PODS[2])]
        # ages as of the collection (NOW - 1 s) that read the pods, not of the redraw
        assert rows[0].split()[1:] == ["55.5", "7.2", "2.00", "900", "1s"]
        assert "FAILED" in rows[2] and "connection refused" in rows[2] and rows[2].endswith("39s")
        assert all(len(line) <= 80 for line in lines)


def test_long_pod_names_keep_the_suffix_that_tells_them_apart() -> None:
    from widgets.panes.api_pods import pod_lines

    long = replace(PODS[0], name="predictiq-api-4lsjs9dbbb-55zh2")
    api = replace(api_snapshot(), pods=(long,), pods_scraped=1, pods_in_sum=1)
    assert pod_lines(api, NOW)[2].startswith("…iq-api-4lsjs9dbbb-55zh2 ")
