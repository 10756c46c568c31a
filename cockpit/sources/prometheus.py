"""Prometheus' HTTP API with httpx: `/api/v1/query` and `/api/v1/query_range`, nothing more.

Answers are `{"status": "success"|"error", "data": {"resultType", "result"}, "errorType",
"error", "warnings"}`; values are `[unix_time, "string"]` ("NaN", "+Inf" included). Any answer
that is not a success is a `PromError` saying what Prometheus said (`bad_data: parse error...`
for a 400/422, `unavailable` for a 503), or what came back instead (HTML, no answer, a timeout).
The bearer token or basic auth is sent and never put into an error.
"""

from __future__ import annotations

import math
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import cast

import httpx

from cockpit.config import PrometheusConfig
from cockpit.sources import fields
from cockpit.sources.base import describe_error


class PromError(Exception):
    """A query Prometheus did not answer with a result; `str()` is the operator's line."""


@dataclass(frozen=True)
class Sample:
    """One series of an instant vector."""

    labels: Mapping[str, str]
    value: float  # NaN is left out by the readers


@dataclass(frozen=True)
class Series:
    """One series of a range matrix: (unix time, value) points, NaN left out."""

    labels: Mapping[str, str]
    points: tuple[tuple[float, float], ...]


@dataclass(frozen=True)
class Answer:
    """What a query returned, with Prometheus' warnings (partial data, dropped series...)."""

    samples: tuple[Sample, ...] = ()
    series: tuple[Series, ...] = ()
    warnings: tuple[str, ...] = field(default=())


def _number(value: object) -> float | None:
    """A Prometheus sample value (a string) as a float; None for NaN or garbage."""
    try:
        number = float(fields.as_text(value))
    except ValueError:
        return None
    return None if math.isnan(number) else number


def _list(value: object) -> list[object]:
    return cast("list[object]", value) if isinstance(value, list) else []


def _pair(value: object) -> tuple[float, float | None] | None:
    """`[unix_time, "value"]` as (time, value or None for NaN); None for another shape."""
    items = _list(value)
    if len(items) != 2:
        return None
    at = _number(items[0])
    return None if at is None else (at, _number(items[1]))


def _labels(obj: object) -> dict[str, str]:
    return {k: fields.as_text(v) for k, v in fields.mapping(obj, "metric").items()}


def parse_answer(doc: object) -> Answer:
    """A success body as an Answer; PromError for an error body or an unexpected shape."""
    status = fields.text(doc, "status")
    if status != "success":
        kind, error = fields.text(doc, "errorType"), fields.text(doc, "error")
        raise PromError(f"{kind}: {error}" if kind else (error or f"status {status or 'missing'}"))
    data = fields.mapping(doc, "data")
    kind = fields.text(data, "resultType")
    warnings = tuple(w for w in _list(fields.get(doc, "warnings")) if isinstance(w, str))
    samples: list[Sample] = []
    series: list[Series] = []
    for item in fields.items(data, "result"):
        if kind == "vector":
            pair = _pair(fields.get(item, "value"))
            if pair is not None and pair[1] is not None:
                samples.append(Sample(_labels(item), pair[1]))
        elif kind == "matrix":
            points: list[tuple[float, float]] = []
            for raw in _list(fields.get(item, "values")):
                pair = _pair(raw)
                if pair is not None and pair[1] is not None:
                    points.append((pair[0], pair[1]))
            series.append(Series(_labels(item), tuple(points)))
        else:
            raise PromError(f"unexpected resultType {kind!r}")
    if kind == "scalar":
        raise PromError("the query returned a scalar, not a vector")
    return Answer(tuple(samples), tuple(series), warnings)


def transport_error(exc: BaseException) -> str:
    """What a request without an HTTP answer ran into: httpx wraps httpcore wraps the OSError
    (refused, unreachable) or SSLError that says why."""
    cause: BaseException | None = exc
    seen: set[int] = set()
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        if isinstance(cause, ssl.SSLError) or (isinstance(cause, OSError) and cause.errno):
            return describe_error(cause)
        cause = cause.__cause__ or cause.__context__
    return describe_error(exc)


class PromClient:
    """One httpx client for one Prometheus; every request under the configured timeout."""

    def __init__(self, cfg: PrometheusConfig) -> None:
        self.cfg = cfg
        verify: bool | ssl.SSLContext = True
        if cfg.ca_file:
            verify = ssl.create_default_context(cafile=cfg.ca_file)
        headers = {"User-Agent": "predictiq-cockpit", "Accept": "application/json"}
        if cfg.bearer_token:
            headers["Authorization"] = f"Bearer {cfg.bearer_token}"
        auth = httpx.BasicAuth(cfg.username, cfg.password) if cfg.username else None
        self._client = httpx.AsyncClient(
            base_url=cfg.url.rstrip("/"),
            verify=verify,
            headers=headers,
            auth=auth,
            timeout=httpx.Timeout(cfg.timeout_seconds),
            follow_redirects=False,
        )

    async def query(self, promql: str) -> Answer:
        """An instant query at the server's now."""
        return await self._get("/api/v1/query", {"query": promql})

    async def query_range(self, promql: str, start: float, end: float, step: float) -> Answer:
        """A range query over [start, end] (unix seconds) every `step` seconds."""
        return await self._get(
            "/api/v1/query_range",
            {"query": promql, "start": f"{start:.3f}", "end": f"{end:.3f}", "step": f"{step:g}"},
        )

    async def _get(self, path: str, params: dict[str, str]) -> Answer:
        try:
            response = await self._client.get(path, params=params)
        except httpx.TimeoutException:
            raise PromError(f"timed out after {self.cfg.timeout_seconds:g}s") from None
        except httpx.HTTPError as exc:
            raise PromError(transport_error(exc)) from None
        try:
            doc: object = response.json()
        except ValueError:
            kind = response.headers.get("content-type", "no content type")
            raise PromError(f"HTTP {response.status_code}, not Prometheus JSON ({kind})") from None
        if response.status_code != 200 and fields.text(doc, "status") != "error":
            raise PromError(f"HTTP {response.status_code}")
        try:
            return parse_answer(doc)
        except PromError as exc:
            if response.status_code != 200:
                raise PromError(f"HTTP {response.status_code} {exc}") from None
            raise

    async def aclose(self) -> None:
        """Close the connections."""
        await self._client.aclose()
