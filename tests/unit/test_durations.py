"""One way to write a duration everywhere (panes, incident panel, plans, messages)."""

from __future__ import annotations

import pytest

from cockpit.durations import duration, response_clock


@pytest.mark.parametrize(
    "seconds, exact, coarse",
    [
        (None, "-", "-"),
        (-5, "0s", "0s"),
        (0, "0s", "0s"),
        (59.9, "59s", "59s"),
        (60, "1m", "1m"),
        (245, "4m 05s", "4m"),
        (3599, "59m 59s", "59m"),
        (3600, "1h 00m", "1h 00m"),
        (7800, "2h 10m", "2h 10m"),
        (86399, "23h 59m", "23h 59m"),
        (3 * 86400 + 4 * 3600 + 59, "3d 4h", "3d 4h"),
    ],
)
def test_duration(seconds, exact, coarse):
    assert duration(seconds) == exact
    assert duration(seconds, coarse=True) == coarse


def test_response_clock_over_an_hour_is_a_duration():
    assert response_clock(0) == "0:00"
    assert response_clock(3600) == "1h 00m"
    assert response_clock(-3 * 3600 - 59) == "-3h 00m"
