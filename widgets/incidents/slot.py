"""The Incidents pane: the frame around `widgets.incidents.panel.IncidentPanel`, with a summary
line."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from textual.app import ComposeResult

from cockpit.durations import duration
from cockpit.incidents.model import Incident
from cockpit.incidents.severity import SEVERITIES
from cockpit.models import Snapshot
from widgets.incidents.detail import Fixes
from widgets.incidents.panel import IncidentPanel
from widgets.panes.base import Pane

if TYPE_CHECKING:
    from cockpit.incidents.engine import IncidentEngine


def severity_of(incident: Incident) -> str:
    """'P1'..'P4' of an incident, '' when it has none."""
    return incident.severity or ""


def highest_severity(incidents: Iterable[Incident]) -> str | None:
    """The most severe of the active incidents ('P1' beats 'P4'), None when there are none."""
    found = [s for s in (severity_of(i) for i in incidents) if s in SEVERITIES]
    return min(found, key=SEVERITIES.index) if found else None


class IncidentsPane(Pane[Snapshot]):
    """Active incidents, sorted by severity then age (the panel sorts; we summarize)."""

    source = ""
    title = "Incidents"
    number = 6
    # the body's status line says how long ago the rules ran: "evaluated 0s ago" after each
    # evaluation (the same text every time: no repaint), a growing age once they are late; the
    # summary line (always on screen) stays still while nothing changes
    STATUS_IN_SUMMARY = False

    def __init__(
        self,
        engine: IncidentEngine,
        *,
        read_only: bool = False,
        fixes: Fixes | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.engine = engine
        self.read_only = read_only
        self.fixes = fixes  # the incidents' fixes by key, and how to start one
        self.incidents: list[Any] = []
        self.evaluated_at: datetime | None = None

    def compose_body(self) -> ComposeResult:
        yield IncidentPanel(
            self.engine, read_only=self.read_only, fixes=self.fixes, classes="focus-target panel"
        )

    def on_mount(self) -> None:
        super().on_mount()
        self.set_interval(1.0, self._age_tick)

    def _evaluated_text(self, now: datetime) -> str:
        if self.evaluated_at is None:
            return "waiting for first data"
        age = (now - self.evaluated_at).total_seconds()
        return f"evaluated {duration(age, coarse=True)} ago"

    def _age_tick(self) -> None:
        """The age of the last evaluation, repainted only once it is late (as `Pane.tick`)."""
        if self.evaluated_at is None:
            return
        now = self.engine.clock()
        if (now - self.evaluated_at).total_seconds() <= self.interval + 1.0:
            return
        text = self._evaluated_text(now)
        if text != self.status_text:
            self.status_text = text
            self._paint_status("ok")

    def show_incidents(self, incidents: list[Any], now: datetime) -> None:
        """Push the engine's incidents to the panel and refresh the summary."""
        self.incidents = list(incidents)
        self.query_one(IncidentPanel).update_incidents(self.incidents, now)
        if not self.incidents:
            self.summary_text = "none active"
        else:
            self.summary_text = (
                f"{len(self.incidents)} active · highest {highest_severity(self.incidents)}"
            )
        self.evaluated_at = now
        self.status_text = self._evaluated_text(now)
        self.render_problem = ""  # drawn cleanly
        self._paint_status("ok")
