"""Our Prometheus arithmetic: counter rates, resets, status classes and histogram quantiles."""

from __future__ import annotations

import math

import pytest

from cockpit.sources.promrates import (
    compute_rates,
    histogram_quantile,
    increases,
    parse_scrape,
    status_class,
    summary_quantiles_ms,
)

NAMES = {
    "requests": "http_requests_total",
    "status_label": "status",
    "rate_limited": "rate_limit_rejections_total",
    "latency": "http_request_duration_seconds",
}


def exposition(
    requests: dict[str, float], limited: float, buckets: dict[str, float], total_seconds: float
) -> str:
    """A /metrics body as prometheus_client writes it (requests by status; one histogram)."""
    lines = ["# HELP http_requests_total Requests.", "# TYPE http_requests_total counter"]
    for status, n in requests.items():
        lines.append(f'http_requests_total{{method="GET",path="/api",status="{status}"}} {n}')
    lines += [
        "# TYPE rate_limit_rejections_total counter",
        f"rate_limit_rejections_total {limited}",
        "# TYPE http_request_duration_seconds histogram",
    ]
    for le, n in buckets.items():
        lines.append(f'http_request_duration_seconds_bucket{{le="{le}",path="/api"}} {n}')
    lines.append(f'http_request_duration_seconds_sum{{path="/api"}} {total_seconds}')
    lines.append(f'http_request_duration_seconds_count{{path="/api"}} {buckets["+Inf"]}')
    return "\n".join(lines) + "\n"


def test_rates_are_increases_over_the_interval():
    before = parse_scrape(
        exposition({"200": 100, "503": 10, "429": 5}, 5, {"0.1": 50, "0.5": 100, "+Inf": 115}, 20.0)
    )
    after = parse_scrape(
        exposition(
            {"200": 160, "503": 30, "429": 25}, 25, {"0.1": 80, "0.5": 170, "+Inf": 215}, 45.0
        )
    )
    rates = compute_rates(before, after, 10.0, **NAMES)
    assert rates.request_rate == pytest.approx((60 + 20 + 20) / 10)
    assert rates.rate_by_class == pytest.approx({"2xx": 6.0, "4xx": 2.0, "5xx": 2.0})
    assert rates.rate_429 == pytest.approx(2.0)
    assert rates.rate_limited_rate == pytest.approx(2.0)
    assert rates.error_ratio == pytest.approx(20 / 100)
    assert not rates.counters_reset
    # bucket increases: 30 under 0.1 s, 40 more under 0.5 s, 30 above: p50 at rank 50 is in
    # (0.1, 0.5]: 0.1 + 0.4 * (50 - 30) / 40 = 0.3 s; p95 and p99 fall in +Inf -> 0.5 s
    assert rates.latency_ms["p50"] == pytest.approx(300.0)
    assert rates.latency_ms["p95"] == pytest.approx(500.0)
    assert rates.latency_ms["mean"] == pytest.approx(1000 * 25.0 / 100)


def test_first_scrape_has_no_rates():
    only = parse_scrape(exposition({"200": 100}, 0, {"0.1": 1, "+Inf": 100}, 3.0))
    rates = compute_rates(None, only, None, **NAMES)
    assert rates.request_rate is None and rates.rate_by_class == {} and rates.latency_ms == {}
    assert not rates.counters_reset


def test_counter_going_down_is_a_reset_never_a_negative_rate():
    before = parse_scrape(exposition({"200": 1000}, 50, {"0.1": 900, "+Inf": 1000}, 30.0))
    after = parse_scrape(exposition({"200": 12}, 0, {"0.1": 10, "+Inf": 12}, 0.5))
    rates = compute_rates(before, after, 2.0, **NAMES)
    assert rates.counters_reset
    assert rates.request_rate is None and rates.rate_429 is None and rates.error_ratio is None


def test_new_series_counts_from_zero_and_vanished_series_is_a_reset():
    assert increases({(("s", "200"),): 5.0}, {(("s", "200"),): 7.0, (("s", "500"),): 3.0}) == {
        (("s", "200"),): 2.0,
        (("s", "500"),): 3.0,
    }
    assert increases({(("s", "200"),): 5.0, (("s", "500"),): 1.0}, {(("s", "200"),): 7.0}) is None


def test_no_traffic_gives_zero_rate_and_no_error_ratio():
    scrape = parse_scrape(exposition({"200": 10}, 0, {"0.1": 10, "+Inf": 10}, 1.0))
    rates = compute_rates(scrape, scrape, 5.0, **NAMES)
    assert rates.request_rate == 0.0 and rates.error_ratio is None
    assert "p50" not in rates.latency_ms and "mean" not in rates.latency_ms


def test_rate_limited_counter_absent_is_unknown_not_zero():
    text = '# TYPE http_requests_total counter\nhttp_requests_total{status="200"} 4\n'
    later = '# TYPE http_requests_total counter\nhttp_requests_total{status="200"} 8\n'
    rates = compute_rates(parse_scrape(text), parse_scrape(later), 2.0, **NAMES)
    assert rates.request_rate == pytest.approx(2.0)
    assert rates.rate_limited_rate is None


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        ("200", "2xx"),
        ("301", "3xx"),
        ("404", "4xx"),
        ("503", "5xx"),
        ("5xx", "5xx"),
        ("abc", "other"),
        ("", "other"),
        ("600", "other"),
    ],
)
def test_status_class(status, cls):
    assert status_class(status) == cls


def test_histogram_quantile_interpolates_like_prometheus():
    buckets = [(0.1, 10.0), (0.5, 20.0), (math.inf, 20.0)]
    assert histogram_quantile(0.5, buckets) == pytest.approx(0.1)
    assert histogram_quantile(0.75, buckets) == pytest.approx(0.1 + 0.4 * 0.5)
    assert histogram_quantile(0.99, buckets) == pytest.approx(0.1 + 0.4 * 0.98)
    assert histogram_quantile(0.25, buckets) == pytest.approx(0.05)  # lowest bucket starts at 0


def test_histogram_quantile_edge_cases():
    assert histogram_quantile(0.5, [(0.1, 0.0), (math.inf, 0.0)]) is None  # no observations
    assert histogram_quantile(0.5, [(0.1, 3.0), (0.2, 5.0)]) is None  # no +Inf bucket
    assert histogram_quantile(0.9, [(0.1, 1.0), (math.inf, 10.0)]) == pytest.approx(0.1)
    assert histogram_quantile(1.5, [(0.1, 1.0), (math.inf, 1.0)]) is None
    # a non-monotonic scrape (bucket race) is evened out, not interpolated backwards
    assert histogram_quantile(0.5, [(0.1, 4.0), (0.2, 3.0), (math.inf, 8.0)]) == pytest.approx(0.1)


def test_summary_quantiles_and_mean():
    text = """# TYPE rpc_seconds summary
rpc_seconds{quantile="0.5",route="a"} 0.02
rpc_seconds{quantile="0.95",route="a"} 0.2
rpc_seconds{quantile="0.99",route="a"} 0.4
rpc_seconds{quantile="0.99",route="b"} 0.9
rpc_seconds_sum{route="a"} 10
rpc_seconds_count{route="a"} 100
"""
    later = text.replace('_sum{route="a"} 10', '_sum{route="a"} 14').replace(
        '_count{route="a"} 100', '_count{route="a"} 120'
    )
    assert summary_quantiles_ms(parse_scrape(text), "rpc_seconds") == pytest.approx(
        {"p50": 20.0, "p95": 200.0, "p99": 900.0}
    )
    names = dict(NAMES, latency="rpc_seconds")
    rates = compute_rates(parse_scrape(text), parse_scrape(later), 1.0, **names)
    assert rates.latency_ms["mean"] == pytest.approx(1000 * 4 / 20)
    assert rates.latency_ms["p99"] == pytest.approx(900.0)
    first = compute_rates(None, parse_scrape(text), None, **names)
    assert first.latency_ms["p50"] == pytest.approx(20.0)  # a summary needs no second scrape


@pytest.mark.parametrize(
    "body",
    ["<html><body>Bad gateway</body></html>", "this is {not} metrics", "metric_one 1\ngarbage"],
)
def test_garbage_is_a_parse_error(body):
    with pytest.raises(ValueError):
        parse_scrape(body)
