"""Values that jitter (latency in ms, rates per second) change on screen only when the change is
meaningful: the rule every pane applies to them, in one place.

The rule: a pane keeps showing the value it shows until a new measurement is away from it by at
least the band of that kind of value (`Band`): a relative part of the shown value *and* an
absolute floor. Latency: a quarter and 10 ms (20 → 28 ms stays 20; 20 → 31 shows 31). Rates: a
fifth and 1/s (20.0 → 18.5 req/s stays 20.0; 20.0 → 15.0 shows 15.0). So the shown value is
always within the band of the last measurement, and a real move shows at the next refresh.
Whatever the band, these always show at once: a first value, a value becoming unknown or known
again, and a value reaching or leaving zero (traffic stopped, the first error).

Only what is drawn follows the rule: the rules that open incidents read the measurements.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Band:
    """How far a measurement must move from the shown value to be shown: at least `relative`
    of the shown value and at least `absolute` (in the value's own unit)."""

    relative: float
    absolute: float


LATENCY_MS = Band(relative=0.25, absolute=10.0)
RATE_PER_S = Band(relative=0.20, absolute=1.0)


def moved(shown: float | None, measured: float | None, band: Band) -> bool:
    """Whether `measured` is to replace `shown` on screen (see the module doc)."""
    if shown is None or measured is None:
        return shown is not measured
    if not (math.isfinite(shown) and math.isfinite(measured)):
        return shown != measured
    if (shown == 0) != (measured == 0):
        return True
    return abs(measured - shown) >= max(band.relative * abs(shown), band.absolute)


class Steady:
    """The values one pane shows for its jittering quantities, by name ('api.p99',
    'pod web-1 req/s'). Owned by the pane; forgets names it was not asked about in a while
    (`forget_except`), so pods that went away do not accumulate."""

    def __init__(self) -> None:
        self._shown: dict[str, float | None] = {}

    def value(self, name: str, measured: float | None, band: Band) -> float | None:
        """The value to show for `name` now that `measured` came in."""
        if name not in self._shown or moved(self._shown[name], measured, band):
            self._shown[name] = measured
        return self._shown[name]

    def forget_except(self, names: set[str]) -> None:
        """Drop every remembered value whose name is not in `names`."""
        for name in [n for n in self._shown if n not in names]:
            del self._shown[name]
