"""Prometheus arithmetic for the API source: counters into per-second rates between two scrapes,
and latency quantiles from histogram bucket increases (as PromQL's `histogram_quantile` does).

Pure functions over parsed samples; no I/O. The text is parsed by prometheus_client's own parser.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from prometheus_client.parser import text_string_to_metric_families

Labels = tuple[tuple[str, str], ...]
SeriesKey = tuple[str, Labels]  # (sample name, sorted labels)
QUANTILES = {"p50": 0.5, "p95": 0.95, "p99": 0.99}


@dataclass(frozen=True)
class Scrape:
    """One parsed /metrics body: every sample by (name, labels), and every family/sample name."""

    samples: Mapping[SeriesKey, float]
    names: frozenset[str]


@dataclass(frozen=True)
class Rates:
    """What two scrapes say about the interval between them (None: not computable)."""

    request_rate: float | None = None
    rate_by_class: Mapping[str, float] = field(default_factory=dict[str, float])
    rate_429: float | None = None
    rate_limited_rate: float | None = None
    error_ratio: float | None = None
    latency_ms: Mapping[str, float] = field(default_factory=dict[str, float])
    counters_reset: bool = False


def parse_scrape(text: str) -> Scrape:
    """Parse Prometheus text format. Raises ValueError on anything that is not."""
    samples: dict[SeriesKey, float] = {}
    names: set[str] = set()
    for family in text_string_to_metric_families(text):
        names.add(family.name)
        for s in family.samples:
            names.add(s.name)
            samples[(s.name, tuple(sorted(s.labels.items())))] = float(s.value)
    return Scrape(samples, frozenset(names))


def series(scrape: Scrape, name: str) -> dict[Labels, float]:
    """Every series of one sample name, by labels."""
    return {labels: v for (n, labels), v in scrape.samples.items() if n == name}


def increases(
    prev: Mapping[Labels, float], cur: Mapping[Labels, float]
) -> dict[Labels, float] | None:
    """Per-series increase of a counter; None when any series went down (the process restarted).

    A series absent before counts from zero: client libraries create a labelled child at its first
    increment, so it appeared during the interval.
    A series whose value is NaN or infinite (in either scrape) says nothing about the interval:
    it is left out, not counted as zero and not taken for a restart.
    """
    out: dict[Labels, float] = {}
    for labels, value in cur.items():
        before = prev.get(labels, 0.0)
        if not (math.isfinite(value) and math.isfinite(before)):
            continue
        if value < before:
            return None
        out[labels] = value - before
    if any(labels not in cur for labels in prev):  # a series vanished: a restart too
        return None
    return out


def status_class(status: str) -> str:
    """'503' -> '5xx'; an already-classed '5xx' stays; anything else is 'other'."""
    status = status.strip().lower()
    if re.fullmatch(r"[1-5]\d\d", status) or re.fullmatch(r"[1-5]xx", status):
        return status[0] + "xx"
    return "other"


def histogram_quantile(q: float, buckets: Sequence[tuple[float, float]]) -> float | None:
    """The q-quantile from cumulative (upper bound, count) buckets, interpolating linearly within
    the bucket, as Prometheus does; None without observations or a +Inf bucket."""
    if not 0.0 <= q <= 1.0:
        return None
    ordered = sorted(buckets)
    if len(ordered) < 2 or not math.isinf(ordered[-1][0]):
        return None
    # cumulative counts must not decrease (scrape races can break that); Prometheus fixes it up too
    fixed: list[tuple[float, float]] = []
    for upper, count in ordered:
        fixed.append((upper, max(count, fixed[-1][1]) if fixed else count))
    total = fixed[-1][1]
    if total <= 0:
        return None
    rank = q * total
    b = next(i for i, (_, count) in enumerate(fixed) if count >= rank)
    if b == len(fixed) - 1:  # in the +Inf bucket: the best answer is the highest finite bound
        return fixed[-2][0]
    upper, count = fixed[b]
    if b == 0 and upper <= 0:
        return upper
    start, start_count = (0.0, 0.0) if b == 0 else fixed[b - 1]
    in_bucket = count - start_count
    if in_bucket <= 0:
        return upper
    return start + (upper - start) * ((rank - start_count) / in_bucket)


def _sum_by(values: Mapping[Labels, float], label: str) -> dict[str, float]:
    out: dict[str, float] = {}
    for labels, v in values.items():
        key = dict(labels).get(label, "")
        out[key] = out.get(key, 0.0) + v
    return out


def summary_quantiles_ms(cur: Scrape, name: str) -> dict[str, float]:
    """p50/p95/p99 in ms of a summary, as the client computed them (empty for a histogram)."""
    worst: dict[float, float] = {}
    for labels, v in series(cur, name).items():
        q = dict(labels).get("quantile")
        if q is not None and math.isfinite(v):
            # several label sets (routes) of one summary: report the worst per quantile
            worst[float(q)] = max(worst.get(float(q), v), v)
    return {key: worst[q] * 1000.0 for key, q in QUANTILES.items() if q in worst}


def histogram_latency_ms(prev: Scrape, cur: Scrape, name: str) -> dict[str, float] | None:
    """p50/p95/p99 from the histogram's bucket increases (every label set added up) and the mean
    from _sum/_count increases, in ms, over the interval; None when a series went down."""
    bucket_inc = increases(series(prev, f"{name}_bucket"), series(cur, f"{name}_bucket"))
    sum_inc = increases(series(prev, f"{name}_sum"), series(cur, f"{name}_sum"))
    count_inc = increases(series(prev, f"{name}_count"), series(cur, f"{name}_count"))
    if bucket_inc is None or sum_inc is None or count_inc is None:
        return None
    out: dict[str, float] = {}
    pairs = [(float(le), n) for le, n in _sum_by(bucket_inc, "le").items() if le]
    for key, q in QUANTILES.items():
        value = histogram_quantile(q, pairs)
        if value is not None:
            out[key] = value * 1000.0
    observations = sum(count_inc.values())
    if observations > 0:
        out["mean"] = 1000.0 * sum(sum_inc.values()) / observations
    return out


def compute_rates(
    prev: Scrape | None,
    cur: Scrape,
    seconds: float | None,
    *,
    requests: str,
    status_label: str,
    rate_limited: str,
    latency: str,
) -> Rates:
    """Rates over the interval between `prev` and `cur`. No previous scrape: no rates (only a
    summary's own quantiles). A counter that went down marks `counters_reset` and leaves that
    interval's rates None: they cannot be known, and are never negative."""
    lat = summary_quantiles_ms(cur, latency)
    if prev is None or not seconds or seconds <= 0:
        return Rates(latency_ms=lat)
    req = increases(series(prev, requests), series(cur, requests))
    limited = increases(series(prev, rate_limited), series(cur, rate_limited))
    hist = histogram_latency_ms(prev, cur, latency)
    if req is None or limited is None or hist is None:
        return Rates(latency_ms=lat, counters_reset=True)
    lat.update(hist)
    by_class: dict[str, float] = {}
    for status, n in _sum_by(req, status_label).items():
        cls = status_class(status)
        by_class[cls] = by_class.get(cls, 0.0) + n
    total = sum(by_class.values())
    n429 = sum(n for status, n in _sum_by(req, status_label).items() if status.strip() == "429")
    return Rates(
        request_rate=total / seconds,
        rate_by_class={cls: n / seconds for cls, n in sorted(by_class.items())},
        rate_429=n429 / seconds,
        rate_limited_rate=(
            sum(limited.values()) / seconds if rate_limited in cur.names or limited else None
        ),
        error_ratio=by_class.get("5xx", 0.0) / total if total > 0 else None,
        latency_ms=lat,
    )
