"""The pane frame every source shares: a one-line summary that is always visible, a status line
(data with its age, stale with a reason, or not configured) and a body that collapses away in the
compact layout. Panes never do I/O: the app hands them the state's view of their source.

A pane is a failure boundary: an exception while drawing a result (`summarize`, `render_body`),
in one of its message handlers, or anything the app hands it through `contain`, is logged with its
traceback to the cockpit's log file, the pane says `render error: <what> — details in <log path>`
and keeps its last good view, and the next result that draws cleanly clears it.
"""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar, Generic, TypeVar, cast

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.message import Message
from textual.widget import Widget
from textual.widgets import Static

from cockpit.applog import NOT_CONFIGURED, AppLog
from cockpit.models import Snapshot, SourceFailure
from cockpit.state import SourceView
from widgets.paint import paint
from widgets.panes.common import short, status_line, summary_status


class FocusableStatic(Static, can_focus=True):
    """A text body that can hold focus, so every pane is reachable from the keyboard."""


S = TypeVar("S", bound=Snapshot)  # the kind of snapshot a pane draws (DbActivity, ...)


class Pane(Vertical, Generic[S]):
    """Base of every pane: `summarize` and `render_body` are what a subclass provides."""

    source: ClassVar[str] = ""
    title: ClassVar[str] = ""
    number: ClassVar[int] = 0
    #: whether the one-line summary repeats the status line (the data's age, or stale and why)
    STATUS_IN_SUMMARY: ClassVar[bool] = True

    def __init__(
        self, *, configured: bool = True, monitor: bool = False, app_log: AppLog = NOT_CONFIGURED
    ) -> None:
        super().__init__(id=f"pane-{self.source or 'incidents'}", classes="pane")
        self.configured = configured
        self.monitor = monitor
        self.app_log = app_log  # where `contain` writes tracebacks
        self.render_problem = ""  # "render error: ..." until a result draws cleanly
        self.status_text = "not configured" if not configured else "waiting for first data"
        self.summary_text = ""
        self.border_title = f"{self.number} {self.title}"
        self.interval = 2.0  # the source's refresh interval (set by the app from its policy)
        self._drawn: Snapshot | None = None  # the snapshot the body shows
        self.failure: SourceFailure | None = None  # the source's current failure, for the detail

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

    def update_view(
        self, view: SourceView | None, now: datetime, trends: dict[str, list[float]]
    ) -> None:
        """Redraw from the state's view of this pane's source."""
        if self._pruning or self._closing or self._closed or not self.is_attached:
            # a result delivered while the screen is torn down (quit): its widgets are going
            return
        self.status_text, kind = status_line(view, now, self.configured)
        self.failure = view.failure if view is not None else None
        snapshot = view.snapshot if view is not None else None
        # A failure keeps the last good snapshot: it was drawn already, only the status changes.
        if snapshot is not None and snapshot is not self._drawn:
            self._drawn = snapshot  # one that cannot be drawn is not retried on every delivery
            try:
                drawn = cast(S, snapshot)  # the app gives each pane its own source's results
                summary = self.summarize(drawn, trends)
                self.render_body(drawn, now, trends)
            except Exception as exc:  # the boundary: this pane says so, the rest goes on
                self.contain(f"drawing {self.title.lower()} data", exc)
                return
            self.summary_text = summary
            self.render_problem = ""
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
        if (
            view is not None
            and view.failure is None
            and view.updated_at is not None
            and (now - view.updated_at).total_seconds() <= self.interval + 1.0
        ):
            return
        text, kind = status_line(view, now, self.configured)
        if text != self.status_text:
            self.status_text = text
            self._paint_status(kind)

    async def _on_message(self, message: Message) -> None:
        # Every handler the pane runs (its own, its subclass's, and those of the messages that
        # bubble up from its table and filter input) runs inside MessagePump._on_message
        # (Textual 8.x); an exception there would end the app. Here it ends at this pane.
        # Textual has no public hook around every handler (wrapping each on_* by hand would
        # miss the next one written): this private one is pinned by test_textual_hooks.py.
        try:
            await super()._on_message(message)
        except Exception as exc:  # the boundary
            self.contain(f"handling {type(message).__name__}", exc)

    def contain(self, what: str, exc: Exception) -> None:
        """A failure while drawing this pane (`what` it was doing): the traceback goes to the
        log file, the pane says `render error` with the reason and keeps what it shows."""
        self.app_log.exception(f"{self.title} pane: {what}", exc)
        reason = short(f"{type(exc).__name__}: {exc}", 100)
        self.render_problem = f"render error: {what}: {reason} — {self.app_log.where()}"
        if self.is_attached and hasattr(self, "_status"):
            self._paint_status("stale")

    def _paint_status(self, kind: str) -> None:
        summary, status = self._summary, self._status
        head = f"{self.number} {self.title}"
        problem = self.render_problem
        # A pane that cannot draw says so first; then the age (or stale and why): what an
        # operator must never lose when the line is cut at the right edge. The numbers after
        # it shorten instead.
        status_part = summary_status(self.status_text) if self.STATUS_IN_SUMMARY else ""
        ordered = (problem, status_part, self.summary_text)
        paint(summary, f"{head:<15}" + " · ".join(p for p in ordered if p))
        paint(status, " · ".join(p for p in (problem, self.status_text) if p))
        loud = kind == "stale" or bool(problem)
        for widget in (summary, status):
            widget.set_class(loud, "-stale")
            widget.set_class(kind in ("off", "waiting") and not problem, "-quiet")

    def summarize(self, snapshot: S, trends: dict[str, list[float]], /) -> str:
        """One line for the collapsed pane: the numbers that matter most."""
        return ""

    def render_body(self, snapshot: S, now: datetime, trends: dict[str, list[float]], /) -> None:
        """Draw the full pane from a snapshot."""

    def detail(self, key: str) -> tuple[str, str] | None:
        """(title, text) of the detail view for the row `key`, or None when there is none."""
        return None

    def failure_detail(self) -> tuple[str, str] | None:
        """(title, text) of the source's current failure in full: the short reason the status
        line leads with, then everything the client library said. None while healthy."""
        f = self.failure
        if f is None:
            return None
        lines = [
            f"{self.title}: stale since {f.first_seen.strftime('%Y-%m-%d %H:%M:%S UTC')}",
            f"step: {f.what or '-'}",
            f"reason: {f.reason}",
            "",
            "detail:",
            f"  {f.detail or f.reason}",
            "",
            f"last attempt {f.at.strftime('%H:%M:%S UTC')}; the last good data stays "
            "on screen until the source answers again",
        ]
        return f"{self.title}: why it is stale", "\n".join(lines)

    def selection(self) -> dict | None:
        """The selected row as plain data, for actions."""
        return None
