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
