"""/metrics in Prometheus text format the cockpit has never seen (NaN, +Inf, missing buckets,
counters without `_total`, labels with quotes, escapes and non-ASCII, a histogram with no
observations) and /health bodies of any JSON shape, parsed by prometheus_client's parser, turned
into rates, and through the state, the rules and the API pane."""

from __future__ import annotations

import json
import math
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from cockpit.models import ApiStatus
from cockpit.sources.api import summarize_health
from cockpit.sources.promrates import compute_rates, parse_scrape
from tests.property.harness import PANE_EXAMPLES, PROPERTY, show_in_pane, through_state_and_rules
from tests.ui.fixtures import NOW

VALUES = (
    st.integers(0, 10**9).map(str)
    | st.floats(0, 1e9, allow_nan=False).map(repr)
    | st.sampled_from(["NaN", "+Inf", "-Inf", "0", "1e3", "1.5E-3"])
)
STATUSES = st.sampled_from(["200", "201", "404", "429", "500", "503", "2xx", "5xx", "other", ""])
# Label values as the text format escapes them: \\ \" \n, and anything else verbatim.
LABEL_TEXT = st.text(
    st.characters(codec="utf-8", exclude_categories=("Cs",), exclude_characters='\\"\n'),
    max_size=12,
)
LABEL_VALUES = st.builds(
    lambda a, esc, b: a + esc + b,
    LABEL_TEXT,
    st.sampled_from(["", "\\\\", '\\"', "\\n", "ünï", '"quoted\\"']).map(
        lambda e: e if e != '"quoted\\"' else '\\"q\\"'
    ),
    LABEL_TEXT,
)


def _labels(pairs: dict[str, str]) -> str:
    return "{" + ",".join(f'{k}="{v}"' for k, v in pairs.items()) + "}" if pairs else ""


@st.composite
def exposition(draw: st.DrawFn) -> str:
    lines: list[str] = []
    total = draw(st.booleans())  # counters with and without the _total suffix
    requests = "http_requests_total" if total else "http_requests"
    lines += ["# HELP http_requests Requests by status.", "# TYPE http_requests counter"]
    for status in draw(st.lists(STATUSES, max_size=4, unique=True)):
        labels = {"status": status, "path": draw(LABEL_VALUES)}
        lines.append(f"{requests}{_labels(labels)} {draw(VALUES)}")
    if draw(st.booleans()):
        lines += [
            "# TYPE rate_limit_rejections counter",
            f"rate_limit_rejections_total {draw(VALUES)}",
        ]
    if draw(st.booleans()):
        lines.append("# TYPE http_request_duration_seconds histogram")
        bounds = draw(
            st.lists(
                st.sampled_from(["0.005", "0.05", "0.1", "0.5", "1", "+Inf"]),
                max_size=6,
                unique=True,
            )
        )  # +Inf or any bucket may be missing
        empty = draw(st.booleans())  # a histogram with no observations yet
        count = 0
        for le in sorted(bounds, key=float):
            count += 0 if empty else draw(st.integers(0, 1000))
            lines.append(f'http_request_duration_seconds_bucket{{le="{le}"}} {count}')
        lines.append(f"http_request_duration_seconds_sum {0 if empty else draw(VALUES)}")
        lines.append(f"http_request_duration_seconds_count {count}")
    lines += [
        "# TYPE process_up gauge",
        f"process_up{_labels({'name': draw(LABEL_VALUES)})} {draw(VALUES)}",
    ]
    return "\n".join(lines) + "\n"


HEALTH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=10),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(
            st.sampled_from(["status", "checks", "ok", "error", "name", "database", "cache"]),
            children,
            max_size=4,
        )
    ),
    max_leaves=12,
)


def api_status(first: str, second: str, health: Any) -> ApiStatus:
    rates = compute_rates(
        parse_scrape(first),
        parse_scrape(second),
        2.0,
        requests="http_requests_total",
        status_label="status",
        rate_limited="rate_limit_rejections_total",
        latency="http_request_duration_seconds",
    )
    return ApiStatus(
        collected_at=NOW,
        base_url="https://api.invalid",
        health_ok=True,
        health_status_code=200,
        health_latency_ms=12.0,
        health_summary=summarize_health(health),
        metrics_ok=True,
        request_rate=rates.request_rate,
        rate_by_class=rates.rate_by_class,
        rate_429=rates.rate_429,
        rate_limited_rate=rates.rate_limited_rate,
        error_ratio=rates.error_ratio,
        latency_ms=rates.latency_ms,
        counters_reset=rates.counters_reset,
        metrics_interval_seconds=2.0,
    )


def _finite_or_none(value: float | None) -> bool:
    return value is None or math.isfinite(value)


@given(exposition(), exposition(), HEALTH)
@PROPERTY
def test_any_exposition_gives_rates_that_are_numbers_or_unknown(
    first: str, second: str, health: Any
) -> None:
    status = api_status(first, second, health)
    for value in (
        status.request_rate,
        status.rate_429,
        status.rate_limited_rate,
        status.error_ratio,
        *status.rate_by_class.values(),
        *status.latency_ms.values(),
    ):
        assert _finite_or_none(value) and (value is None or value >= 0)
    assert status.error_ratio is None or status.error_ratio <= 1.0
    assert isinstance(status.health_summary, str) and "\n" not in status.health_summary
    json.dumps(status.latency_ms, allow_nan=False)  # what `cockpit snapshot --json` prints
    through_state_and_rules("api", status)


@given(exposition(), exposition(), HEALTH)
@PANE_EXAMPLES
def test_the_api_pane_shows_the_rates_and_its_summary(first: str, second: str, health: Any) -> None:
    status = api_status(first, second, health)
    report = show_in_pane("api", status)
    assert report.summary.startswith("healthy · ") and "req/s" in report.summary
    assert "/health healthy (200" in report.body and "latency " in report.body
