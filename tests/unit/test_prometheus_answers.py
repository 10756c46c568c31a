"""Prometheus' JSON answers and the built-in PromQL, without a server (the server tests are in
tests/integration/test_source_prometheus.py)."""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import timedelta

import pytest

from cockpit.config import KubernetesConfig, MetricNames, PrometheusConfig, PrometheusQueries
from cockpit.sources.prometheus import PromError, parse_answer
from cockpit.sources.prommetrics import render_queries
from cockpit.state import CockpitState
from tests.unit.incident_data import T0, api, kube


def test_vector_values_are_strings_and_nan_is_left_out():
    answer = parse_answer(
        {
            "status": "success",
            "warnings": ["partial data"],
            "data": {
                "resultType": "vector",
                "result": [
                    {"metric": {"pod": "a"}, "value": [1700000000.5, "2.5"]},
                    {"metric": {"pod": "b"}, "value": [1700000000.5, "NaN"]},
                    {"metric": {"pod": "c"}, "value": [1700000000.5, "+Inf"]},
                    {"metric": {"pod": None}, "value": [1700000000.5, "1"]},
                ],
            },
        }
    )
    assert [(s.labels.get("pod"), s.value) for s in answer.samples] == [
        ("a", 2.5),
        ("c", math.inf),
        ("", 1.0),
    ]
    assert answer.warnings == ("partial data",)


def test_an_error_body_is_prometheus_own_words():
    with pytest.raises(PromError, match=r"^bad_data: 1:5: parse error: unexpected end of input$"):
        parse_answer(
            {
                "status": "error",
                "errorType": "bad_data",
                "error": "1:5: parse error: unexpected end of input",
            }
        )
    with pytest.raises(PromError, match="scalar"):
        parse_answer({"status": "success", "data": {"resultType": "scalar", "result": [1, "1"]}})


def test_matrix_points_in_order():
    answer = parse_answer(
        {
            "status": "success",
            "data": {
                "resultType": "matrix",
                "result": [
                    {"metric": {}, "values": [[1.0, "1"], [2.0, "NaN"], [3.0, "3"], "junk"]}
                ],
            },
        }
    )
    assert answer.series[0].points == ((1.0, 1.0), (3.0, 3.0))


def test_built_in_queries_use_the_metric_names_and_the_pods_matcher():
    queries = render_queries(
        PrometheusConfig(url="http://p"),
        MetricNames(),
        KubernetesConfig(namespace="predictiq", deployment="predictiq-api"),
    )
    assert queries["requests_by_pod"] == (
        "sum by (pod) (rate(http_requests_total{namespace="
        '"predictiq",pod=~"predictiq-api-.*"}[1m]))'
    )
    assert 'status=~"5.."' in queries["errors_by_pod"]
    own = render_queries(
        PrometheusConfig(
            url="http://p",
            selector='job="api"',
            rate_window="5m",
            queries=PrometheusQueries(
                rate_limited="sum(rate({rate_limited}{{selector}}[{window}]))"
            ),
        ),
        MetricNames(rate_limited_total="rejected_total"),
        None,
    )
    assert own["rate_limited"] == 'sum(rate(rejected_total{job="api"}[5m]))'


def test_check_config_names_a_missing_prometheus_ca_file(tmp_path):
    from cockpit.config import ConfigError, parse_config
    from cockpit.config_checks import check_runtime

    cfg = parse_config(
        {"prometheus": {"url": "https://prom", "ca_file": str(tmp_path / "nope.pem")}}
    )
    with pytest.raises(ConfigError, match=r"prometheus\.ca_file: expected a CA bundle"):
        check_runtime(cfg)


def test_built_in_usage_queries_divide_cadvisor_by_kube_state_metrics_limits():
    queries = render_queries(
        PrometheusConfig(url="http://p"),
        MetricNames(),
        KubernetesConfig(namespace="predictiq", deployment="predictiq-api"),
    )
    pods = 'namespace="predictiq",pod=~"predictiq-api-.*"'
    assert queries["cpu_percent"] == (
        f'100 * sum(rate(container_cpu_usage_seconds_total{{{pods},container!="",'
        f'container!="POD"}}[1m])) / sum(kube_pod_container_resource_limits{{{pods},'
        'resource="cpu"})'
    )
    assert "container_memory_working_set_bytes" in queries["memory_percent"]
    assert 'resource="memory"' in queries["memory_percent"]
    own = render_queries(
        PrometheusConfig(url="http://p", queries=PrometheusQueries(cpu_percent="cpu{{selector}}")),
        MetricNames(),
        None,
    )
    assert own["cpu_percent"] == 'cpu{pod=~".+"}'


def test_the_pods_back_filled_usage_comes_before_their_live_samples():
    state = CockpitState(history_minutes=15, interval_seconds=2.0)
    state.update("kubernetes", kube())  # the pods' first live sample: 20 % CPU, 50 % memory
    history = {
        "kube.cpu_percent": tuple((T0 - timedelta(seconds=s), 70.0) for s in (6, 4, 2)),
        "kube.memory_percent": tuple((T0 - timedelta(seconds=s), 60.0) for s in (6, 4, 2)),
    }
    state.update("api", replace(api(), trend_history=history))  # the Prometheus back-fill
    assert state.trend("kube.cpu_percent") == [70.0, 70.0, 70.0, 20.0]
    assert state.trend("kube.memory_percent") == [60.0, 60.0, 60.0, 50.0]
