"""The rate-limit finding names the pods that carry most of the 429s (scrape = "pods")."""

from __future__ import annotations

import dataclasses

from cockpit.config import Config
from cockpit.incidents.api_pods import carrying_pods
from cockpit.incidents.rules import rate_limit
from cockpit.models import ApiPodMetrics
from cockpit.state import CockpitState
from tests.unit.incident_data import T0, api


def pods(*rates: float, failed: str = "") -> tuple[ApiPodMetrics, ...]:
    rows = [ApiPodMetrics(f"predictiq-api-{i}", ok=True, request_rate=20.0, rate_429=r)
            for i, r in enumerate(rates)]
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
