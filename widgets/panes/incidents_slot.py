"""The Incidents pane: the frame around `widgets.incidents.IncidentPanel`, or a placeholder that
says the incident engine is not loaded while that module does not exist."""

from __future__ import annotations

import importlib
from datetime import datetime
from typing import Any

from textual.app import ComposeResult
from textual.widget import Widget

from widgets.panes.base import FocusableStatic, Pane

SEVERITIES = ("P1", "P2", "P3", "P4")


def severity_of(incident: Any) -> str:
    """'P1'..'P4' of an incident (a string or an enum), '' when it has none."""
    value = getattr(incident, "severity", "")
    return str(getattr(value, "value", value) or "")


def highest_severity(incidents: list[Any]) -> str | None:
    """The most severe of the active incidents ('P1' beats 'P4'), None when there are none."""
    found = [s for s in (severity_of(i) for i in incidents) if s in SEVERITIES]
    return min(found, key=SEVERITIES.index) if found else None


def _panel_class() -> type[Widget] | None:
    try:
        return getattr(importlib.import_module("widgets.incidents"), "IncidentPanel", None)
    except ImportError:
        return None


class IncidentsPane(Pane):
    """Active incidents, sorted by severity then age (the panel sorts; we summarize)."""

    source = ""
    title = "Incidents"
    number = 6

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.panel_class = _panel_class()
        self.incidents: list[Any] = []

    def compose_body(self) -> ComposeResult:
        if self.panel_class is not None:
            yield self.panel_class(classes="focus-target panel")
        else:
            yield FocusableStatic("incident engine not loaded", classes="focus-target text")

    @property
    def loaded(self) -> bool:
        """True when the real incident panel is in place."""
        return self.panel_class is not None

    def show_incidents(self, incidents: list[Any], now: datetime, engine_loaded: bool) -> None:
        """Push the engine's incidents to the panel and refresh the summary."""
        self.incidents = list(incidents)
        if self.panel_class is not None:
            self.query_one(".panel").update_incidents(self.incidents, now)  # type: ignore[attr-defined]
        elif engine_loaded:
            # The engine runs but its panel is missing: a plain list still tells the story.
            lines = [f"{severity_of(i)}  {getattr(i, 'title', i)}  ({getattr(i, 'status', '')})"
                     for i in self.incidents] or ["no active incidents"]
            self.query_one(".text", FocusableStatic).update("\n".join(lines))
        worst = highest_severity(self.incidents)
        if not engine_loaded:
            self.summary_text, self.status_text = "", "incident engine not loaded"
        elif not self.incidents:
            self.summary_text, self.status_text = "none active", f"evaluated {now:%H:%M:%S}"
        else:
            self.summary_text = f"{len(self.incidents)} active · highest {worst}"
            self.status_text = f"evaluated {now:%H:%M:%S}"
        self._paint_status("ok" if engine_loaded else "waiting")
