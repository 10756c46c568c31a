"""The API pane shows jittering numbers by the rule of widgets.panes.steady: the summary that is
repainted on every refresh stays the same while req/s and latency only jitter, and changes at
the next refresh when they really move. The rules still read the measurements."""

from __future__ import annotations

from dataclasses import replace

from tests.ui.fixtures import NOW, api_snapshot
from widgets.panes.api import ApiPane
from widgets.panes.api_pods import pod_cells
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
    a, b, *rest = PODS  # 30 and 55.5 req/s, then a failed pod and a quiet one

    def rates(pods) -> dict[str, tuple[str, object]]:
        cells = {p.name: pod_cells(p, NOW, steady)["rate"] for p in pods}
        return {name: (cell.text, cell.sort_key()) for name, cell in cells.items()}

    first = rates(PODS)
    # a and b trade a little: the numbers shown and the values they sort by stay
    jitter = rates((replace(a, request_rate=31.0), replace(b, request_rate=54.9), *rest))
    assert jitter == first and jitter[b.name][0] == "55.5"
    # a real move shows at once, and sorts by what is shown
    swapped = rates((replace(a, request_rate=90.0), replace(b, request_rate=20.0), *rest))
    assert swapped[a.name][0] == "90.0" and swapped[b.name][0] == "20.0"
    assert swapped[a.name][1] > swapped[b.name][1]
