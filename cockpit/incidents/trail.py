"""What the incident engine needs of the audit trail (cockpit.audit.log.AuditLog is one).

A protocol, because the audit package reads the incidents' replay to keep its checkpoint: the
engine must not import it back (no import circle between cockpit.audit and cockpit.incidents).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, Protocol

from cockpit.config import Config
from cockpit.incidents.replay import IncidentBook


class RestoredTrail(Protocol):
    """What a start-up restore found (cockpit.audit.log.Restored)."""

    @property
    def book(self) -> IncidentBook:
        """The incident state up to the end of the trail."""
        ...

    @property
    def rebuilt_because(self) -> str | None:
        """Why the checkpoint was not used (None: it was)."""
        ...


class Trail(Protocol):
    """The audit trail as the engine uses it."""

    @property
    def listeners(self) -> list[Callable[[dict[str, Any]], None]]:
        """Called with every entry this trail appends."""
        ...

    def record(self, event: str, **fields: Any) -> dict[str, Any]:
        """Append one entry (raises when it cannot be written)."""
        ...

    def restore(self, since: datetime, cfg: Config | None = None) -> RestoredTrail:
        """The trail's incident state at start (resolved incidents before `since` dropped)."""
        ...

    def settle_interrupted(self) -> list[dict[str, Any]]:
        """Record the actions whose cockpit ended as unknown; the entries written."""
        ...

    def incident_entries(self, incident_id: str) -> list[dict[str, Any]]:
        """The entries about one incident, read where the checkpoint says they are."""
        ...
