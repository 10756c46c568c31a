"""The incident panel (a table of active incidents) and the incident detail screen.

The panel gets the engine through its constructor and is fed by the app through
`update_incidents` after each evaluation; between evaluations it redraws the response countdowns once a second.
Operator steps (acknowledge, status, severity, note, declare) write the audit log and local
state, so a read-only monitor hides them: it must not change anything, even the record.
Templates can still be copied or saved in read-only mode (that changes nothing on the system).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from rich.text import Text
from textual.widgets import DataTable

from cockpit.durations import duration, response_clock
from cockpit.incidents.model import Incident, countdown, sort_key
from cockpit.incidents.severity import WRITE_STEPS
from widgets.dialogs.declare import DeclareDialog
from widgets.incidents.detail import IncidentDetailScreen, operator_name

if TYPE_CHECKING:
    from cockpit.incidents.engine import IncidentEngine

SEVERITY_STYLE = {"P1": "bold white on red", "P2": "bold red", "P3": "bold yellow", "P4": "cyan"}
OVERDUE_STYLE = "bold reverse blink red"
COLUMNS = (("sev", "Sev"), ("title", "Incident"), ("status", "Status"), ("age", "Age"),
           ("clock", "Respond in"), ("ack", "Ack"))


def clock_cell(incident: Incident, now: datetime) -> Text:
    """The response countdown: time left, 'ack' once answered, loud OVERDUE once late."""
    left, overdue = countdown(incident, now)
    if overdue:
        return Text(f"OVERDUE {response_clock(left)}", style=OVERDUE_STYLE)
    if incident.acknowledged_at is not None:
        return Text(f"met ({response_clock(left)} spare)", style="green")
    return Text(response_clock(left), style="bold" if left < 300 else "")


class IncidentPanel(DataTable[Text | str]):
    """Active incidents, worst severity first then oldest; `enter` opens the detail."""

    DEFAULT_CSS = """
    IncidentPanel { height: auto; max-height: 12; }
    """
    # `D` (declare) is bound by the app from the one key registry (widgets/keys.py).

    def __init__(self, engine: IncidentEngine, *, read_only: bool = False, id: str | None = None,
                 classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes, cursor_type="row", zebra_stripes=True)
        self.engine = engine
        self.read_only = read_only  # a monitor: operator steps are hidden
        self.border_title = "Incidents"
        self.incidents: list[Incident] = []
        self._order: list[str] = []

    def on_mount(self) -> None:
        for key, label in COLUMNS:
            self.add_column(label, key=key)
        self.set_interval(1.0, self._tick)
        self._draw_empty()

    def _now(self) -> datetime:
        return self.engine.clock()

    def _draw_empty(self) -> None:
        if not self._order and not self.row_count:
            self.add_row(Text("—", style="dim"), Text("no active incidents", style="green"),
                         "", "", "", "", key="__none__")

    def _cells(self, inc: Incident, now: datetime) -> tuple[Text | str, ...]:
        style = SEVERITY_STYLE.get(inc.severity, "")
        return (Text(inc.severity, style=style), Text(inc.title, style=style), inc.status,
                duration(inc.age_seconds(now), coarse=True), clock_cell(inc, now),
                inc.acknowledged_by or "")

    def update_incidents(self, incidents: Sequence[Incident], now: datetime | None = None) -> None:
        """Show these incidents (sorted here), keeping the cursor on the same incident."""
        now = now or self._now()
        self.incidents = sorted(incidents, key=sort_key)
        order = [i.id for i in self.incidents]
        worst = self.incidents[0].severity if self.incidents else None
        self.border_subtitle = f"{len(order)} active, worst {worst}" if worst else "all clear"
        if order != self._order:
            selected = self._selected_id()
            self.clear()
            for inc in self.incidents:
                self.add_row(*self._cells(inc, now), key=inc.id)
            self._order = order
            self._draw_empty()
            if selected in order:
                self.move_cursor(row=order.index(selected))
            return
        for inc in self.incidents:
            old = self.get_row(inc.id)
            for i, ((key, _label), value) in enumerate(zip(COLUMNS, self._cells(inc, now),
                                                           strict=True)):
                if old[i] != value:  # each update_cell repaints the table: skip unchanged ones
                    self.update_cell(inc.id, key, value, update_width=False)

    def _tick(self) -> None:
        if self.incidents:
            self.update_incidents(self.incidents, self._now())

    def _selected_id(self) -> str | None:
        if not self._order or self.cursor_row < 0 or self.cursor_row >= len(self._order):
            return None
        return self._order[self.cursor_row]

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        """`enter` on a row: open the incident's detail."""
        event.stop()
        key = event.row_key.value
        if key and key in self._order:
            self.app.push_screen(IncidentDetailScreen(key, self.engine, read_only=self.read_only,
                                                      on_change=self.refresh_from_engine))

    def refresh_from_engine(self) -> None:
        """Redraw from the engine's active incidents (after an operator step)."""
        self.update_incidents(self.engine.active(), self._now())

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Hide the operator steps that write in read-only mode."""
        if action in WRITE_STEPS and self.read_only:
            return False
        return True

    def action_declare(self) -> None:
        """Declare an incident by hand (a user report)."""
        if self.read_only:
            return

        def done(result: tuple[str, str, str] | None) -> None:
            if not result:
                return
            title, severity, impact = result
            engine = self.engine
            try:
                inc = engine.declare(title, severity, impact, operator=operator_name())
            except Exception as exc:  # audit failure or bad input: say it, change nothing
                self.notify(f"Not declared: {exc}", severity="error")
                return
            self.update_incidents(engine.active(), self._now())
            self.notify(f"Declared {inc.id} ({inc.severity}): {inc.title}")

        self.app.push_screen(DeclareDialog(), done)
