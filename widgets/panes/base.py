"""The pane frame every source shares: a one-line summary that is always visible, a status line
(data with its age, stale with a reason, or not configured) and a body that collapses away in the
compact layout. Panes never do I/O: the app hands them the state's view of their source.
"""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widget import Widget
from textual.widgets import Static

from cockpit.models import Snapshot
from cockpit.state import SourceView
from widgets.paint import paint
from widgets.panes.common import status_line, summary_status


class FocusableStatic(Static, can_focus=True):
    """A text body that can hold focus, so every pane is reachable from the keyboard."""


class Pane(Vertical):
    """Base of every pane: `summarize` and `render_body` are what a subclass provides."""

    source: ClassVar[str] = ""
    title: ClassVar[str] = ""
    number: ClassVar[int] = 0
    #: whether the one-line summary repeats the status line (the data's age, or stale and why)
    STATUS_IN_SUMMARY: ClassVar[bool] = True

    def __init__(self, *, configured: bool = True, monitor: bool = False) -> None:
        super().__init__(id=f"pane-{self.source or 'incidents'}", classes="pane")
        self.configured = configured
        self.monitor = monitor
        self.status_text = "not configured" if not configured else "waiting for first data"
        self.summary_text = ""
        self.border_title = f"{self.number} {self.title}"
        self.interval = 2.0  # the source's refresh interval (set by the app from its policy)
        self._drawn: Snapshot | None = None  # the snapshot the body shows

    def compose(self) -> ComposeResult:
        yield Static(classes="summary")
        with Vertical(classes="body"):
            yield Static(classes="status")
            yield from self.compose_body()

    def compose_body(self) -> ComposeResult:
        """The pane's own widgets under the status line."""
        yield from ()

    def on_mount(self) -> None:
        # kept: painted every refresh and tick (also while the screen is being torn down)
        self._summary = self.query_one(".summary", Static)
        self._status = self.query_one(".status", Static)
        self._paint_status("off" if not self.configured else "waiting")

    def focus_target(self) -> Widget:
        """The widget that takes focus when this pane is selected."""
        return self.query_one(".focus-target")

    def update_view(self, view: SourceView | None, now: datetime, trends: dict[str, list[float]]) -> None:
        """Redraw from the state's view of this pane's source."""
        if self._pruning or self._closing or self._closed or not self.is_attached:
            # a result delivered while the screen is torn down (quit): its widgets are going
            return
        self.status_text, kind = status_line(view, now, self.configured)
        snapshot = view.snapshot if view is not None else None
        # A failure keeps the last good snapshot: it was drawn already, only the status changes.
        if snapshot is not None and snapshot is not self._drawn:
            self._drawn = snapshot
            self.summary_text = self.summarize(snapshot, trends)
            self.render_body(snapshot, now, trends)
        elif not self.configured:
            self.summary_text = ""
        self._paint_status(kind)

    def tick(self, view: SourceView | None, now: datetime) -> None:
        """Refresh only the age text (once a second), and only when the source is late.

        Within one refresh interval (plus a second of grace) of the last delivery the age painted
        at that delivery stays: a source that keeps its cadence then costs no repaint at all,
        and one that falls behind shows its exact, growing age. Stale text names the time the
        failure started, so it does not change from one tick to the next either.
        """
        if (view is not None and view.failure is None and view.updated_at is not None
                and (now - view.updated_at).total_seconds() <= self.interval + 1.0):
            return
        text, kind = status_line(view, now, self.configured)
        if text != self.status_text:
            self.status_text = text
            self._paint_status(kind)

    def _paint_status(self, kind: str) -> None:
        summary, status = self._summary, self._status
        head = f"{self.number} {self.title}"
        # The age (or stale and why) comes first: it is what an operator must never lose when
        # the line is cut at the right edge; the numbers after it shorten instead.
        status_part = summary_status(self.status_text) if self.STATUS_IN_SUMMARY else ""
        paint(summary, f"{head:<15}" + " · ".join(p for p in (status_part, self.summary_text) if p))
        paint(status, self.status_text)
        for widget in (summary, status):
            widget.set_class(kind == "stale", "-stale")
            widget.set_class(kind in ("off", "waiting"), "-quiet")

    def summarize(self, snapshot: Snapshot, trends: dict[str, list[float]]) -> str:
        """One line for the collapsed pane: the numbers that matter most."""
        return ""

    def render_body(self, snapshot: Snapshot, now: datetime, trends: dict[str, list[float]]) -> None:
        """Draw the full pane from a snapshot."""

    def detail(self, key: str) -> tuple[str, str] | None:
        """(title, text) of the detail view for the row `key`, or None when there is none."""
        return None

    def selection(self) -> dict | None:
        """The selected row as plain data, for actions."""
        return None
