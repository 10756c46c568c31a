"""Which columns a table shows at its width: each pane names the columns it drops first as it
narrows, and at most one flexible column (a query, an issuer, an incident's title) that takes
what is left, cut with an ellipsis. The columns that matter most (name, status, response clock)
are never dropped, so nothing important ends at the right edge as `Re…`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

PADDING = 2  # a DataTable cell's padding, both sides
MIN_FLEX = 10  # narrower than this, a flexible column is not worth showing


@dataclass(frozen=True)
class Fit:
    """The columns left out, and the width given to the flexible column (None: its own)."""

    dropped: frozenset[str]
    flex_width: int | None = None


def fit_columns(
    natural: Mapping[str, int],
    width: int,
    drop_first: Sequence[str] = (),
    flex: str | None = None,
    flex_min: int = MIN_FLEX,
) -> Fit:
    """Drop columns in `drop_first` order until the rest fit in `width` cells; then squeeze the
    `flex` column into what is left (but not under `flex_min`: columns are dropped first, and
    a flex column that is itself in `drop_first` goes too). `natural` is each column's content
    width, padding excluded."""
    dropped: set[str] = set()

    def total() -> int:
        return sum(w + PADDING for k, w in natural.items() if k not in dropped)

    flex_need = natural[flex] + PADDING if flex is not None and flex in natural else 0
    flex_least = min(flex_min, natural[flex]) + PADDING if flex is not None and flex_need else 0
    for key in drop_first:
        # a flexible column can give way before anything else is dropped
        if total() - flex_need + flex_least <= width:
            break
        if key in natural and key != flex:
            dropped.add(key)
    if flex is None or flex not in natural or total() <= width:
        return Fit(frozenset(dropped))
    room = width - (total() - flex_need) - PADDING
    if room < MIN_FLEX and flex in drop_first:
        return Fit(frozenset(dropped | {flex}))
    return Fit(frozenset(dropped), max(room, min(MIN_FLEX, flex_min)))
