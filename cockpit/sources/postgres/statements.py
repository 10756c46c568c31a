"""Statement trends: the mean of each statement over the last interval, from the deltas of
pg_stat_statements' counters between two samples.

The all-time mean hides a statement that just became slow (a million fast calls yesterday, ten
slow ones now); the interval mean does not. A counter that goes backwards (pg_stat_statements_
reset(), a restart, the entry evicted and re-added) starts the statement's history again.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, replace

from cockpit.models import StatementStat

TREND_POINTS = 60  # interval means kept per statement


@dataclass
class _History:
    calls: int
    total_ms: float
    means: deque[float]
    last_mean: float | None = None


class StatementTrends:
    """Remembers the last sample of each statement (by queryid) and the interval means since."""

    def __init__(self, points: int = TREND_POINTS) -> None:
        self.points = points
        self._seen: dict[int, _History] = {}

    def update(
        self,
        stats: tuple[StatementStat, ...],
        all_total_ms: float | None = None,
    ) -> tuple[StatementStat, ...]:
        """The same statements with interval_mean_ms, mean_trend and share_of_total filled.

        Several rows may carry one queryid (in the top by mean and by total): the deltas are
        taken once per sample.
        """
        fresh: dict[int, _History] = {}
        for stat in stats:
            if stat.queryid is None or stat.queryid in fresh:
                continue
            old = self._seen.get(stat.queryid)
            history = _History(
                stat.calls,
                stat.total_ms,
                old.means if old is not None else deque(maxlen=self.points),
            )
            if old is not None and stat.calls >= old.calls and stat.total_ms >= old.total_ms:
                calls = stat.calls - old.calls
                if calls > 0:
                    history.last_mean = (stat.total_ms - old.total_ms) / calls
                    history.means.append(history.last_mean)
                else:
                    history.last_mean = old.last_mean  # not called meanwhile: the same mean
            elif old is not None:
                history.means.clear()  # counters went backwards: a reset
            fresh[stat.queryid] = history
        # statements that left the top lists keep their history while they might come back
        self._seen.update(fresh)
        if len(self._seen) > 1000:
            self._seen = fresh
        out: list[StatementStat] = []
        for stat in stats:
            history = fresh.get(stat.queryid) if stat.queryid is not None else None
            share = (stat.total_ms / all_total_ms) if all_total_ms else None
            out.append(
                replace(
                    stat,
                    share_of_total=share,
                    interval_mean_ms=history.last_mean if history is not None else None,
                    mean_trend=tuple(history.means) if history is not None else (),
                )
            )
        return tuple(out)
