"""Where incident ids come from when several cockpits share incidents (team mode).

Alone, the engine numbers incidents itself (INC-YYYYMMDD-NNNN, after the highest in its trail).
In team mode it asks an `IncidentIds` first: the team store says which incident a finding
belongs to (the first cockpit to detect it creates it, the others attach to it) and hands out
ids for declared incidents, so ids are unique team-wide. The engine never waits for the answer:
`finding` answers "pending" while the store is asked, and the next evaluation looks again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

ClaimState = Literal["pending", "created", "attached", "offline"]


@dataclass(frozen=True)
class Claim:
    """The store's answer for a finding: its incident's id (created by us or by another
    cockpit), still pending, or offline (the engine then numbers the incident itself)."""

    state: ClaimState
    incident_id: str = ""


class IncidentIds(Protocol):
    """The team store's side of incident ids (cockpit.team.ids implements it)."""

    def finding(self, rule: str, key: str, day: str) -> Claim:
        """The claim of the finding (rule, key) on `day` (YYYYMMDD); never blocks."""
        ...

    def declared(self, day: str) -> str | None:
        """A team-wide id for a new declared incident on `day`, or None (number it locally)."""
        ...
