"""Issue 20 in pure functions: what fails at once is retried at the interval, what times out backs
off to two refreshes at most, reasons lead with a short cause, long names are cut in the middle."""

from __future__ import annotations

import socket

import pytest
import urllib3
from kubernetes.client.exceptions import ApiException

from cockpit.config import RefreshConfig
from cockpit.scheduler import PollPolicy, policies_from_config
from cockpit.sources.base import describe_error, error_detail
from cockpit.sources.kube.watch import WatchTiming, error_text, is_timeout
from widgets.panes.common import middle
from widgets.panes.pods import NAME_WIDTH


def test_cheap_failures_are_retried_at_the_interval_however_many_there_were() -> None:
    policy = PollPolicy(interval=2.0, timeout=5.0, max_backoff=4.0)
    assert {policy.delay_after(n, expensive=False) for n in (1, 10, 10_000)} == {2.0}


def test_timeouts_back_off_to_twice_the_interval_at_most() -> None:
    policy = policies_from_config(RefreshConfig(interval_seconds=2, timeout_seconds=5), ["api"])[
        "api"
    ]
    assert [policy.delay_after(n) for n in (0, 1, 2, 500)] == [2.0, 4.0, 4.0, 4.0]
    assert policy.is_expensive(5.0) and policy.is_expensive(2.6) and not policy.is_expensive(0.01)


def test_the_watch_retries_cheap_failures_within_half_a_refresh_after_any_outage() -> None:
    timing = WatchTiming(backoff_initial=0.5, retry_max=1.0, backoff_max=4.0)
    assert timing.delay(10_000, expensive=False) == 1.0
    assert timing.delay(10_000, expensive=True) == 4.0
    assert timing.delay(1, expensive=True) == 0.5


def _urllib3_refused(port: int) -> BaseException:
    pool = urllib3.HTTPConnectionPool("127.0.0.1", port, retries=False)
    with pytest.raises(urllib3.exceptions.HTTPError) as err:
        pool.request("GET", "/version", timeout=2)
    return err.value


def test_a_refused_watch_reads_connection_refused_with_the_rest_in_the_detail() -> None:
    with socket.socket() as s:  # a port with nothing listening
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    exc = _urllib3_refused(port)
    assert error_text(exc) == "connection refused" and not is_timeout(exc)
    assert "Failed to establish a new connection" in error_detail(exc)
    assert describe_error(exc) == "connection refused"


def test_http_errors_lead_with_the_status() -> None:
    assert error_text(ApiException(status=401, reason="Unauthorized")) == "HTTP 401 Unauthorized"


def test_a_253_character_pod_name_is_cut_in_the_middle_to_the_column() -> None:
    name = "predictiq-api-" + "x" * 231 + "-ünïcode"
    assert len(name) == 253
    cut = middle(name, NAME_WIDTH)
    assert (
        len(cut) == NAME_WIDTH
        and cut.startswith("predictiq-api-xxxx")
        and cut.endswith("x-ünïcode")
    )
    assert "…" in cut and middle("short-name", NAME_WIDTH) == "short-name"
