"""The rate-limit finding names the pods that carry most of the 429s (scrape = "pods")."""

from __future__ import annotations

import dataclasses

from cockpit.config import Config
from cockpit.incidents.api_pods import carrying_pods
from cockpit.incidents.rules import api_errors, rate_limit
from cockpit.models import ApiPodMetrics
from cockpit.state import CockpitState
from tests.unit.incident_data import T0, api


def pods(*rates: float, failed: str = "") -> tuple[ApiPodMetrics, ...]:
    rows = [
        ApiPodMetrics(f"predictiq-api-{i}", ok=True, request_rate=20.0, rate_429=r)
        for i, r in enumerate(rates)
    ]
    if failed:
        rows.append(ApiPodMetrics(failed, ok=False, error="connection refused"))
    return tuple(rows)


def test_the_fewest_pods_carrying_most_of_it_busiest_first():
    status = dataclasses.replace(api(rate_429=10.0), pods=pods(0.5, 8.0, 1.5, failed="gone"))
    assert carrying_pods(status, lambda p: p.rate_429) == ["predictiq-api-1"]
    even = dataclasses.replace(api(rate_429=3.0), pods=pods(1.0, 1.0, 1.0))
    assert carrying_pods(even, lambda p: p.rate_429) == ["predictiq-api-0", "predictiq-api-1"]


def test_nothing_to_name_without_pods_or_without_the_figure():
    assert carrying_pods(api(rate_429=5.0), lambda p: p.rate_429) == []
    quiet = dataclasses.replace(api(), pods=pods(0.0, 0.0))
    assert carrying_pods(quiet, lambda p: p.rate_429) == []


def test_rate_limit_finding_names_the_pod():
    cfg = Config()
    state = CockpitState()
    state.update("api", dataclasses.replace(api(rate_429=10.0), pods=pods(0.5, 8.0, 1.5)))
    [finding] = rate_limit(state, cfg, T0)
    assert finding.evidence["pods_with_most_429"] == ["predictiq-api-1"]
    assert "predictiq-api-1" in finding.affected


def test_api_errors_above_the_threshold_name_the_pod_carrying_them():
    cfg = Config()  # thresholds.error_ratio 0.05
    rows = (
        ApiPodMetrics("predictiq-api-a", ok=True, request_rate=30.0, rate_5xx=0.3),
        ApiPodMetrics("predictiq-api-b", ok=True, request_rate=30.0, rate_5xx=6.0),
        ApiPodMetrics("predictiq-api-c", ok=True, request_rate=30.0, rate_5xx=0.2),
    )
    bad = dataclasses.replace(
        api(),
        request_rate=90.0,
        error_ratio=6.5 / 90.0,
        rate_by_class={"2xx": 83.5, "5xx": 6.5},
        pods=rows,
    )
    state = CockpitState()
    state.update("api", bad)
    [finding] = rate_limit(state, cfg, T0) + api_errors(state, cfg, T0)
    assert (finding.rule, finding.severity) == ("api_errors", "P2")
    assert finding.evidence["pods_with_most_5xx"] == ["predictiq-api-b"]
    assert finding.evidence["error_percent"] == 7.22
    assert finding.affected == ("API", "predictiq-api-b")
    state.update("api", dataclasses.replace(bad, error_ratio=0.05))  # at the threshold: quiet
    assert api_errors(state, cfg, T0) == []


def test_scrape_pods_needs_kubernetes_and_prometheus_needs_an_http_url():
    import pytest

    from cockpit.config import ConfigError, parse_config

    with pytest.raises(ConfigError, match=r"api\.metrics\.scrape: .*\[kubernetes\]"):
        parse_config({"api": {"base_url": "http://api", "metrics": {"scrape": "pods"}}})
    with pytest.raises(ConfigError, match=r"prometheus\.url: expected an http"):
        parse_config({"prometheus": {"url": "prometheus:9090"}})
    with pytest.raises(ConfigError, match=r"api\.metrics\.scrape: expected one of url, pods"):
        parse_config({"api": {"base_url": "http://api", "metrics": {"scrape": "pod"}}})
    cfg = parse_config(
        {
            "prometheus": {
                "url": "http://prometheus:9090",
                "queries": {"latency_p99": "histogram_quantile(0.99, x)"},
            }
        }
    )
    assert cfg.prometheus is not None and cfg.prometheus.queries.latency_p99.startswith("histogram")
