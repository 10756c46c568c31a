"""The incident panel: the active incidents, then (dimmed, with how long they lasted) those
resolved in the last 24 h; `enter` opens either's detail.

The panel gets the engine through its constructor and is fed by the app through
`update_incidents` after each evaluation; between evaluations it redraws the response countdowns
once a second. Operator steps (acknowledge, status, severity, note, declare) write the audit log and
local state, so a read-only monitor hides them: it must not change anything, even the record.
Templates can still be copied or saved in read-only mode (that changes nothing on the system).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from rich.text import Text
from textual.events import Resize
from textual.widgets import DataTable

from cockpit.durations import duration, response_clock
from cockpit.incidents.model import Incident, countdown, sort_key
from cockpit.incidents.severity import WRITE_STEPS
from widgets.dialogs.declare import DeclareDialog
from widgets.incidents.detail import Fixes, IncidentDetailScreen, operator_name
from widgets.panes.columns import Fit, fit_columns

if TYPE_CHECKING:
    from cockpit.incidents.engine import IncidentEngine

SEVERITY_STYLE = {"P1": "bold white on red", "P2": "bold red", "P3": "bold yellow", "P4": "cyan"}
OVERDUE_STYLE = "bold reverse blink red"
COLUMNS = (
    ("sev", "Sev"),
    ("title", "Incident"),
    ("status", "Status"),
    ("age", "Age"),
    ("clock", "Respond in"),
    ("ack", "Ack"),
)
# the response clock and the status keep their width ("met (12:04 spare)", "Investigating");
# the title takes what is left, and who acknowledged and the age go first as the pane narrows
WIDTHS = {"sev": 3, "status": 13, "age": 7, "ack": 10}
DROP_FIRST = ("ack", "age")
TITLE_MIN = 44  # a whole title is worth more than the age and who acknowledged


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

    def __init__(
        self,
        engine: IncidentEngine,
        *,
        read_only: bool = False,
        id: str | None = None,
        classes: str | None = None,
        fixes: Fixes | None = None,
    ) -> None:
        super().__init__(id=id, classes=classes, cursor_type="row", zebra_stripes=True)
        self.engine = engine
        self.fixes = fixes  # handed to each incident's detail
        self.read_only = read_only  # a monitor: operator steps are hidden
        self.border_title = "Incidents"
        self.incidents: list[Incident] = []
        self.resolved: list[Incident] = []  # resolved in the last 24 h, newest first
        self._order: list[str] = []
        self._fit = Fit(frozenset())
        self._clock_width = len("Respond in")  # the widest clock shown (update_cell keeps widths)

    def on_mount(self) -> None:
        self._add_columns()
        self.set_interval(1.0, self._tick)
        self._draw_empty()

    def _visible(self) -> list[tuple[str, str]]:
        return [c for c in COLUMNS if c[0] not in self._fit.dropped]

    def _add_columns(self) -> None:
        for key, label in self._visible():
            width = (
                self._fit.flex_width
                if key == "title"
                else WIDTHS.get(key, self._clock_width)
                if key == "clock"
                else WIDTHS.get(key)
            )
            self.add_column(label, key=key, width=width)

    def _pick(self, cells: tuple[Text | str, ...]) -> tuple[Text | str, ...]:
        """The cells of the visible columns."""
        return tuple(
            c for (key, _), c in zip(COLUMNS, cells, strict=True) if key not in self._fit.dropped
        )

    def on_resize(self, event: Resize) -> None:
        self._refit(event.size.width)

    def _refit(self, width: int | None = None) -> None:
        width = self.size.width if width is None else width
        if width <= 0:
            return
        now = self._now()
        shown = (*self.incidents, *self.resolved)
        natural = {key: WIDTHS.get(key, 0) for key, _ in COLUMNS}
        natural["title"] = max([len("no active incidents"), *(len(i.title) for i in shown)])
        natural["clock"] = max(
            [
                len("Respond in"),
                *(len(clock_cell(i, now)) for i in self.incidents),
                *(
                    len(f"lasted {duration(i.duration_seconds(now), coarse=True)}")
                    for i in self.resolved
                ),
            ]
        )
        long = self.row_count >= self.size.height - 1  # rows under the header
        room = width - (self.styles.scrollbar_size_vertical if long else 0)
        fit = fit_columns(natural, room, DROP_FIRST, "title", flex_min=TITLE_MIN)
        if fit == self._fit and natural["clock"] == self._clock_width:
            return
        self._fit, self._clock_width = fit, natural["clock"]
        self.clear(columns=True)
        self._add_columns()
        self._order = []
        self.update_incidents(self.incidents, self._now())

    def _now(self) -> datetime:
        return self.engine.clock()

    def _draw_empty(self) -> None:
        if not self.incidents and not self.row_count:
            self.add_row(
                *self._pick(
                    (
                        Text("—", style="dim"),
                        Text("no active incidents", style="green"),
                        "",
                        "",
                        "",
                        "",
                    )
                ),
                key="__none__",
            )

    def _recent(self, now: datetime) -> list[Incident]:
        return list(self.engine.recent(now))

    @staticmethod
    def _resolved_cells(inc: Incident, now: datetime) -> tuple[Text | str, ...]:
        lasted = duration(inc.duration_seconds(now), coarse=True)
        return (
            Text(inc.severity, style="dim"),
            Text(inc.title, style="dim", no_wrap=True, overflow="ellipsis"),
            Text("Resolved", style="dim"),
            Text(lasted, style="dim"),
            Text(f"lasted {lasted}", style="dim"),
            Text(inc.acknowledged_by or "", style="dim"),
        )

    def _cells(self, inc: Incident, now: datetime) -> tuple[Text | str, ...]:
        style = SEVERITY_STYLE.get(inc.severity, "")
        return (
            Text(inc.severity, style=style),
            Text(inc.title, style=style, no_wrap=True, overflow="ellipsis"),
            inc.status,
            duration(inc.age_seconds(now), coarse=True),
            clock_cell(inc, now),
            inc.acknowledged_by or "",
        )

    def update_incidents(self, incidents: Sequence[Incident], now: datetime | None = None) -> None:
        """Show these incidents (sorted here), keeping the cursor on the same incident."""
        now = now or self._now()
        self.incidents = sorted(incidents, key=sort_key)
        # below the active ones, dimmed: the incidents resolved in the last 24 h
        self.resolved = [i for i in self._recent(now) if i.id not in {a.id for a in self.incidents}]
        order = [i.id for i in self.incidents] + ([] if self.incidents else ["__none__"])
        order += [i.id for i in self.resolved]
        worst = self.incidents[0].severity if self.incidents else None
        subtitle = f"{len(self.incidents)} active, worst {worst}" if worst else "all clear"
        if subtitle != self.border_subtitle:  # setting it repaints the whole panel, even unchanged
            self.border_subtitle = subtitle
        rows = [(inc, self._cells(inc, now)) for inc in self.incidents]
        rows += [(inc, self._resolved_cells(inc, now)) for inc in self.resolved]
        if order != self._order:
            selected = self._selected_id()
            self.clear()
            self._draw_empty()  # "no active incidents" above the resolved ones, when so
            for inc, cells in rows:
                self.add_row(*self._pick(cells), key=inc.id)
            self._order = order
            if selected in order:
                self.move_cursor(row=order.index(selected))
            self.call_after_refresh(self._refit)  # a longer title may change what fits
            return
        if len(self._order) and any(
            len(clock_cell(i, now)) > self._clock_width for i in self.incidents
        ):
            self.call_after_refresh(self._refit)  # "met (12:04 spare)" needs a wider clock
        for inc, cells in rows:
            old = self.get_row(inc.id)
            for i, ((key, _label), value) in enumerate(
                zip(self._visible(), self._pick(cells), strict=True)
            ):
                if old[i] != value:  # each update_cell repaints the table: skip unchanged ones
                    self.update_cell(inc.id, key, value, update_width=False)

    def _tick(self) -> None:
        if self.incidents or self.resolved:
            self.update_incidents(self.incidents, self._now())

    def _selected_id(self) -> str | None:
        if not self._order or self.cursor_row < 0 or self.cursor_row >= len(self._order):
            return None
        key = self._order[self.cursor_row]
        return None if key == "__none__" else key

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        """`enter` on a row: open the incident's detail."""
        event.stop()
        key = event.row_key.value
        if key and key in self._order and key != "__none__":
            self.app.push_screen(
                IncidentDetailScreen(
                    key,
                    self.engine,
                    read_only=self.read_only,
                    on_change=self.refresh_from_engine,
                    fixes=self.fixes,
                )
            )

    def refresh_from_engine(self) -> None:
        """Redraw from the engine's active incidents (after an operator step)."""
        self.update_incidents(self.engine.active(), self._now())

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Hide the operator steps that write in read-only mode."""
        if action in WRITE_STEPS and self.read_only:
            return False
        return True

    def acknowledge_interrupted(self) -> None:
        """The operator has seen the actions whose result is unknown (the banner's second
        line): recorded in the audit trail, then no longer shown."""
        if self.read_only:
            return
        try:
            seen = self.engine.acknowledge_interrupted(operator_name())
        except Exception as exc:  # the trail cannot be written: the notice stays, and says why
            self.notify(f"Not acknowledged: {exc}", severity="error")
            return
        if not seen:
            self.notify("No action with an unknown result to acknowledge")
            return
        names = ", ".join(f"{i.action} {i.target}".strip() for i in seen)
        self.notify(f"Acknowledged: {names} (check the server for what really happened)")
        self.update_incidents(self.engine.active(), self._now())

    def action_declare(self) -> None:
        """Declare an incident by hand (a user report)."""
        if self.read_only:
            return

        def done(result: tuple[str, str, str, str] | None) -> None:
            if not result:
                return
            title, severity, impact, kind = result
            engine = self.engine
            try:
                inc = engine.declare(
                    title, severity, impact, rule=kind or None, operator=operator_name()
                )
            except Exception as exc:  # audit failure or bad input: say it, change nothing
                self.notify(f"Not declared: {exc}", severity="error")
                return
            self.update_incidents(engine.active(), self._now())
            self.notify(f"Declared {inc.id} ({inc.severity}): {inc.title}")

        self.app.push_screen(DeclareDialog(self.engine.declarable_entries()), done)
