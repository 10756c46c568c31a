"""The "all endpoints responding" check: GET each path in api.endpoints, under the API's timeout.

Sequential on purpose: a checklist must not add load to an API that may be struggling. Redirects
are not followed (a 3xx counts as answering). Runs on the event loop (httpx async).
"""

from __future__ import annotations

import ssl
import time
from dataclasses import dataclass

import httpx

from cockpit.checklists.verifiers import CheckState, Verdict, unknown
from cockpit.config import ApiConfig, Config
from cockpit.sources.base import describe_error


@dataclass(frozen=True)
class EndpointResult:
    """One configured endpoint's answer."""

    path: str
    status_code: int | None
    latency_ms: float | None
    error: str | None = None

    @property
    def ok(self) -> bool:
        """2xx or 3xx."""
        return self.status_code is not None and 200 <= self.status_code < 400


async def _get(client: httpx.AsyncClient, path: str) -> EndpointResult:
    started = time.perf_counter()
    try:
        response = await client.get(path)
    except httpx.TimeoutException:
        return EndpointResult(path, None, None, "timed out")
    except httpx.HTTPError as exc:
        return EndpointResult(path, None, None, describe_error(exc.__cause__ or exc))
    return EndpointResult(path, response.status_code, 1000.0 * (time.perf_counter() - started))


async def verify_endpoints(api: ApiConfig) -> list[EndpointResult]:
    """GET every path in api.endpoints, one after the other, each under the API's timeout."""
    verify: bool | ssl.SSLContext = api.verify_tls
    if api.verify_tls and api.ca_file:
        verify = ssl.create_default_context(cafile=api.ca_file)
    headers = {"User-Agent": "predictiq-cockpit"}
    if api.auth_header:
        headers["Authorization"] = api.auth_header
    async with httpx.AsyncClient(
        base_url=api.base_url,
        verify=verify,
        headers=headers,
        timeout=httpx.Timeout(api.timeout_seconds),
    ) as client:
        return [await _get(client, path) for path in api.endpoints]


def endpoints_verdict(results: list[EndpointResult]) -> Verdict:
    """pass when every endpoint answered 2xx/3xx; the evidence lists each one."""
    if not results:
        return unknown("no endpoints configured (api.endpoints)")
    parts = [
        f"{r.path} {r.status_code if r.status_code is not None else r.error}"
        + (f" {r.latency_ms:.0f} ms" if r.latency_ms is not None else "")
        for r in results
    ]
    ok = all(r.ok for r in results)
    return Verdict(CheckState.PASS if ok else CheckState.FAIL, "; ".join(parts))


async def endpoints_responding(cfg: Config) -> Verdict:
    """The async verifier: not configured → unknown; else each endpoint's answer."""
    if cfg.api is None:
        return unknown("api: not configured")
    if not cfg.api.endpoints:
        return unknown("no endpoints configured (api.endpoints)")
    try:
        return endpoints_verdict(await verify_endpoints(cfg.api))
    except Exception as exc:  # e.g. an unreadable ca_file: say so, never raise
        return unknown(f"endpoints not checked: {describe_error(exc)}")
