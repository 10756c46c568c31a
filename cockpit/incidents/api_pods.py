"""Which pods carry a figure (429/s, 5xx/s) when the API is scraped per pod (scrape = "pods")."""

from __future__ import annotations

from collections.abc import Callable

from cockpit.models import ApiPodMetrics, ApiStatus

CARRY_SHARE = 0.6  # name the fewest pods that carry at least this share of the figure


def carrying_pods(
    api: ApiStatus, figure: Callable[[ApiPodMetrics], float | None], share: float = CARRY_SHARE
) -> list[str]:
    """The pods, busiest first, that together carry `share` of `figure` summed over the pods;
    [] when the API is not scraped per pod or the figure is zero everywhere."""
    values = sorted(
        ((figure(p) or 0.0, p.name) for p in api.pods if p.ok), key=lambda v: (-v[0], v[1])
    )
    total = sum(v for v, _ in values)
    if total <= 0:
        return []
    names: list[str] = []
    carried = 0.0
    for value, name in values:
        if value <= 0 or carried >= share * total:
            break
        names.append(name)
        carried += value
    return names


def api_errors(
    api: ApiStatus, error_ratio_threshold: float
) -> tuple[dict[str, object], list[str]] | None:
    """The evidence of a 5xx share above the threshold and the pods that carry most of the 5xx
    (when scraped per pod, else []), or None below it."""
    if api.error_ratio is None or api.error_ratio <= error_ratio_threshold:
        return None
    rate_5xx = api.rate_by_class.get("5xx")
    ev: dict[str, object] = {
        "error_percent": round(100.0 * api.error_ratio, 2),
        "threshold_percent": round(100.0 * error_ratio_threshold, 2),
        "rate_5xx_per_second": None if rate_5xx is None else round(rate_5xx, 2),
        "request_rate": None if api.request_rate is None else round(api.request_rate, 2),
    }
    pods = carrying_pods(api, lambda p: p.rate_5xx)
    if pods:
        ev["pods_with_most_5xx"] = pods
    return ev, pods
