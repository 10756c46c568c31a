"""The engine's one outward seam for what happens to incidents (the pager listens here).

The engine knows nothing of HTTP or paging: after every evaluation, every operator step and
every clock tick it hands its incidents to each `IncidentWatch`. A watch must return at once
(it runs on the engine's thread, the UI's event loop in the app) and do its slow work
elsewhere; the engine contains and remembers what one raises, so a watch can never stop
detection or an operator's step.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from cockpit.incidents.model import Incident


class IncidentWatch(Protocol):
    """Told the incidents' state whenever it may have changed, or time has passed."""

    def review(
        self, active: Sequence[Incident], resolved: Sequence[Incident], now: datetime
    ) -> None:
        """`active`: the open incidents; `resolved`: those resolved or closed (newest last).
        Returns at once; never blocks."""
        ...
