"""The kube cache's usage state before and after the first metrics.k8s.io answer."""

from __future__ import annotations

from cockpit.sources.kube.cache import KubeCache


def test_a_metrics_api_silent_at_the_first_deadline_is_a_metrics_error_until_it_answers():
    cache = KubeCache("predictiq-api")
    cache.usage_pending("metrics.k8s.io did not answer within 2.4 s")
    assert cache.metrics_error == "metrics.k8s.io did not answer within 2.4 s"
    cache.set_usage({}, None)  # the late answer (no pods yet) replaces the reason
    assert cache.metrics_error is None


def test_an_answered_poll_is_not_overwritten_by_the_pending_reason():
    cache = KubeCache("predictiq-api")
    cache.set_usage({}, None)  # answered, even though with no pods
    cache.usage_pending("metrics.k8s.io did not answer within 2.4 s")
    assert cache.metrics_error is None
