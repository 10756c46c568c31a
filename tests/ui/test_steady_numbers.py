"""The API pane shows jittering numbers by the rule of widgets.panes.steady: the summary that is
repainted on every refresh stays the same while req/s and latency only jitter, and changes at
the next refresh when they really move. The rules still read the measurements."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from tests.ui.fixtures import NOW, api_snapshot
from widgets.panes.api import ApiPane
from widgets.panes.api_pods import pod_lines
from widgets.panes.steady import Steady


def test_jitter_leaves_the_api_summary_as_it_is_and_a_real_move_shows() -> None:
    pane = ApiPane()
    base = api_snapshot()  # 85.5 req/s, /health 38 ms
    first = pane.summarize(base, {})
    for rate, ms in ((88.0, 41.0), (80.1, 30.0), (90.0, 45.0)):
        jitter = replace(base, request_rate=rate, health_latency_ms=ms)
        assert pane.summarize(jitter, {}) == first
    slow = replace(base, request_rate=40.0, health_latency_ms=120.0)
    moved = pane.summarize(slow, {})
    assert "40.0 req/s" in moved and "120ms" in moved


def test_pods_keep_their_order_while_their_rates_only_jitter() -> None:
    from tests.ui.test_api_pods_pane import PODS

    steady = Steady()
    api = replace(api_snapshot(), pods=PODS, pods_scraped=3, pods_in_sum=2)
    order = [line.split()[0] for line in pod_lines(api, NOW, steady)[2:]]
    # a (30/s) and b (55.5/s) trade a little: the order and the numbers shown stay
    a, b, c = PODS
    jitter = replace(api, pods=(replace(a, request_rate=31.0), replace(b, request_rate=54.9), c))
    lines = pod_lines(jitter, NOW + timedelta(seconds=2), steady)[2:]
    assert [line.split()[0] for line in lines] == order
    assert lines[0].split()[1] == "55.5"
    swapped = replace(api, pods=(replace(a, request_rate=90.0), replace(b, request_rate=20.0), c))
    assert pod_lines(swapped, NOW, steady)[2].split()[:2] == [a.name, "90.0"]
