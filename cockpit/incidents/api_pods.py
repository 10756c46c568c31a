"""Which pods carry a figure (429/s, 5xx/s) when the API is scraped per pod (scrape = "pods")."""

from __future__ import annotations

from collections.abc import Callable

from cockpit.models import ApiPodMetrics, ApiStatus

CARRY_SHARE = 0.6  # name the fewest pods that carry at least this share of the figure


def carrying_pods(api: ApiStatus, figure: Callable[[ApiPodMetrics], float | None],
                  share: float = CARRY_SHARE) -> list[str]:
    """The pods, busiest first, that together carry `share` of `figure` summed over the pods;
    [] when the API is not scraped per pod or the figure is zero everywhere."""
    values = sorted(((figure(p) or 0.0, p.name) for p in api.pods if p.ok),
                    key=lambda v: (-v[0], v[1]))
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
