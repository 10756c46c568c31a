"""How the cockpit writes a duration, everywhere: panes, incident panel, plans, messages.

One format so an operator reads the same number the same way on every screen: '3s', '4m 05s',
'2h 10m', '3d 4h'. The response clock is the one exception on purpose: under an hour it ticks
as a clock ('12:04'), as the runbook's "respond within 15 min" is read.
"""

from __future__ import annotations


def duration(seconds: float | None, *, coarse: bool = False) -> str:
    """'3s', '4m 05s', '2h 10m', '3d 4h'; '-' when unknown; negative counts as 0.

    coarse: whole minutes once past the first minute ('4m', '2h 10m'), for texts redrawn on
    every refresh (pod ages, 'updated ... ago') that should not change every second.
    """
    if seconds is None:
        return "-"
    s = max(int(seconds), 0)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m" if coarse or s % 60 == 0 else f"{s // 60}m {s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h {s % 3600 // 60:02d}m"
    return f"{s // 86400}d {s % 86400 // 3600}h"


def response_clock(seconds_left: float) -> str:
    """The response deadline's clock: '12:04' under an hour, else '3h 05m'; '-' in front once
    overdue ('-2:10')."""
    sign = "-" if seconds_left < 0 else ""
    s = int(abs(seconds_left))
    if s >= 3600:
        return sign + duration(s, coarse=True)
    return f"{sign}{s // 60}:{s % 60:02d}"
