"""The rule for values that jitter: a shown latency or rate moves on screen only when a
measurement moves away from it by its band; what an operator must see at once always shows."""

from __future__ import annotations

import math
import random

from widgets.panes.steady import LATENCY_MS, RATE_PER_S, Steady, moved


def test_latency_jitter_under_the_band_keeps_the_shown_value() -> None:
    steady = Steady()
    assert steady.value("p99", 20.0, LATENCY_MS) == 20.0
    for jitter in (24.0, 16.0, 28.0, 12.0):  # within 10 ms (a quarter of 20 is less)
        assert steady.value("p99", jitter, LATENCY_MS) == 20.0
    assert steady.value("p99", 31.0, LATENCY_MS) == 31.0  # 11 ms away: shown exactly
    assert steady.value("p99", 400.0, LATENCY_MS) == 400.0
    assert steady.value("p99", 320.0, LATENCY_MS) == 400.0  # 80 ms: under a quarter of 400
    assert steady.value("p99", 290.0, LATENCY_MS) == 290.0  # 110 ms: over it


def test_a_rate_moves_by_a_fifth_and_at_least_one_per_second() -> None:
    assert not moved(20.0, 18.5, RATE_PER_S)
    assert moved(20.0, 15.0, RATE_PER_S)
    assert not moved(2.0, 2.9, RATE_PER_S)  # a fifth of 2 is 0.4, but the floor is 1/s
    assert moved(2.0, 3.0, RATE_PER_S)


def test_what_must_show_at_once_always_shows() -> None:
    for band in (LATENCY_MS, RATE_PER_S):
        assert moved(0.0, 0.01, band)  # the first error, traffic starting
        assert moved(5.0, 0.0, band)  # traffic stopped
        assert moved(None, 3.0, band) and moved(3.0, None, band)  # unknown <-> known
        assert moved(3.0, math.nan, band) and moved(3.0, math.inf, band)
        assert not moved(None, None, band)
    steady = Steady()
    assert steady.value("new", 7.0, RATE_PER_S) == 7.0  # a first value is shown as measured


def test_the_shown_value_is_always_within_the_band_of_the_last_measurement() -> None:
    rng = random.Random(4)
    steady = Steady()
    level = 50.0
    for _ in range(2000):
        level = max(0.0, level + rng.gauss(0, 8))
        measured = level * rng.uniform(0.8, 1.2)
        shown = steady.value("x", measured, LATENCY_MS)
        assert shown is not None
        assert shown == measured or not moved(shown, measured, LATENCY_MS)


def test_forgetting_names_of_pods_that_went_away() -> None:
    steady = Steady()
    steady.value("pod a", 1.0, RATE_PER_S)
    steady.value("pod b", 1.0, RATE_PER_S)
    steady.forget_except({"pod b"})
    assert steady.value("pod a", 1.5, RATE_PER_S) == 1.5  # forgotten: a first value again
    assert steady.value("pod b", 1.5, RATE_PER_S) == 1.0
