"""CockpitApp: composes the screen, runs the scheduler on the event loop, routes results into the
state, the incident engine and the panes, and routes keys (from the one registry) to views and
actions.

Layout: a grid of six panes when the terminal is at least 120×36; below that (80×24 over SSH)
the compact layout: every pane collapses to its one-line summary and the focused pane takes the
rest of the screen. Tab and the number keys move between panes in both layouts.

Failures stay where they happen: a result that cannot be turned into a view, a pane that cannot
draw, or a key whose handler fails makes that pane say `render error` (traceback in the log
file, `cockpit.applog`); every worker's failure reaches `on_worker_state_changed`, which tells
the operator and logs it. The keys' handlers live on the main screen (widgets/main_screen.py), which
gets its collaborators (the pane deck, the action flow...) through its constructor.
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta, tzinfo
from functools import partial
from typing import TYPE_CHECKING, Any, cast

from rich.text import Text
from textual import events
from textual.app import App, ComposeResult, SystemCommand
from textual.containers import Container
from textual.notifications import SeverityLevel
from textual.screen import Screen
from textual.widgets import Static
from textual.worker import Worker, WorkerState

from cockpit.applog import NOT_CONFIGURED, AppLog
from cockpit.audit.log import AuditLog
from cockpit.config import Config
from cockpit.incidents.model import Incident
from cockpit.models import KubeSnapshot, Snapshot, SourceFailure, utcnow
from cockpit.paging.claim import PageClaim
from cockpit.scheduler import Scheduler, policies_from_config
from cockpit.sources.base import Source
from cockpit.sources.registry import BUILD_STEP, BuiltSources
from cockpit.state import TRENDS, CockpitState
from widgets.action_flow import ActionFlow
from widgets.banner import Banner, InterruptedNotice
from widgets.footer import StableFooter
from widgets.incidents.detail import Fixes
from widgets.incidents.slot import IncidentsPane, highest_severity
from widgets.keys import ActionSpec, display_key, key_registry
from widgets.main_screen import screen_class_for
from widgets.messages import PageReported, SnapshotReady, TeamChanged
from widgets.paging import PagingLink
from widgets.paint import paint
from widgets.panes.api import ApiPane
from widgets.panes.api_pods import request_rates
from widgets.panes.base import Pane
from widgets.panes.cache import CachePane
from widgets.panes.certs import CertsPane
from widgets.panes.database import DatabasePane
from widgets.panes.deck import PaneDeck
from widgets.panes.pods import PodsPane
from widgets.selection import row_change
from widgets.toasts import show_newest

if TYPE_CHECKING:
    from cockpit.incidents.engine import IncidentEngine
    from cockpit.lab.lab import Lab
    from cockpit.paging.pager import Pager
    from cockpit.team.link import TeamLink

COMPACT_BELOW = (120, 36)  # (width, height): smaller terminals get the one-pane-focused layout
DATA_PANES: tuple[type[Pane], ...] = (PodsPane, DatabasePane, CachePane, CertsPane, ApiPane)


def _build_sources(cfg: Config) -> BuiltSources:
    from cockpit.sources.registry import build_sources

    return build_sources(cfg)


def _configured_names(cfg: Config) -> tuple[str, ...]:
    # cheap: decides from the config which panes have a source, without importing any client
    from cockpit.sources.registry import configured_names

    return configured_names(cfg)


def _load_engine(
    cfg: Config, audit: AuditLog | None, clock: Callable[[], datetime]
) -> IncidentEngine:
    """The incident engine, recording operator steps into the session's audit log."""
    from cockpit.incidents.engine import IncidentEngine

    return IncidentEngine(cfg, audit=audit, clock=clock)


def _team_link(cfg: Config, audit: AuditLog, wake: Callable[[], None]) -> TeamLink:
    """Team mode's link (imports psycopg: built off the event loop, after the first frame)."""
    from cockpit.team.link import TeamLink

    assert cfg.team is not None
    return TeamLink(cfg.team, cfg, audit, wake=wake)


def monitor_headline(incidents: list[Incident]) -> str:
    """The read-only monitor's big line: the worst incident by name, readable across a room."""
    if not incidents:
        return "ALL CLEAR — no active incidents"
    worst = min(incidents, key=lambda i: (i.severity, i.detected_at))
    more = f"  (+{len(incidents) - 1} more)" if len(incidents) > 1 else ""
    return f"{worst.severity}  {worst.title}{more}"


class CockpitApp(App[int]):
    """The on-call cockpit. Collaborators are injected so tests can use fixed sources and clocks."""

    CSS_PATH = "cockpit.tcss"
    TITLE = "PredictIQ Cockpit"

    def __init__(
        self,
        cfg: Config,
        *,
        sources: dict[str, Source] | None = None,
        clock: Callable[[], datetime] | None = None,
        audit: AuditLog | None = None,
        lab: Lab | None = None,
        state: CockpitState | None = None,
        local_tz: tzinfo | None = None,
        action_specs: Iterable[ActionSpec] | None = None,
        freeze_heap: bool = False,
        app_log: AppLog = NOT_CONFIGURED,
        pane_types: tuple[type[Pane], ...] = DATA_PANES,
        team: TeamLink | None = None,
        page_claim: PageClaim | None = None,
    ) -> None:
        super().__init__()
        self.freeze_heap = freeze_heap  # run_app: see _freeze_heap
        self.cfg = cfg
        self.clock = clock or utcnow
        self.audit = audit
        self.lab = lab
        self.app_log = app_log
        self._fatal = ""  # the error that ended the app, if one did
        self.local_tz = local_tz
        self.state = state or CockpitState(
            cfg.refresh.history_minutes, cfg.refresh.interval_seconds
        )
        # Building the sources imports the client libraries (kubernetes, psycopg, redis, httpx:
        # ~0.25 s), so unless they are injected they are built after the first frame (start()).
        self._sources_pending = sources is None
        self._closing = False
        self.sources = {} if sources is None else dict(sources)
        configured = _configured_names(cfg) if sources is None else tuple(self.sources)
        self.scheduler = self._new_scheduler()
        self.keys = key_registry(cfg.read_only, action_specs, lab=lab is not None)
        self.engine = _load_engine(cfg, audit, self.clock)
        # team mode: given (tests), or built after the first frame when [team] is configured
        self.team: TeamLink | None = None
        self._team_given = team
        self.paging = PagingLink(  # only with [paging], and never read-only
            cfg,
            engine=self.engine,
            audit=audit,
            state=self.state,
            clock=self.clock,
            app_log=app_log,
            post=self.post_message,
            claim=page_claim,
        )
        self.incidents: list[Incident] = []
        self._evaluation_pending = False
        self.flow = ActionFlow(
            self,
            cfg,
            self.state,
            audit,
            self._refresh_source,
            log=app_log,
            incidents=lambda: self.incidents,
            row_check=lambda selection: row_change(self.panes_by_source, selection),
            runbook=self.engine.runbook,
        )
        monitor = cfg.read_only
        panes: list[Pane] = [
            cls(configured=cls.source in configured, monitor=monitor, app_log=app_log)
            for cls in pane_types  # the five data panes in screen order, then the incidents
        ]
        fixes = Fixes(
            self.keys, lambda action_id, incident_id: self.flow.start(action_id, None, incident_id)
        )
        panes.append(
            IncidentsPane(
                self.engine, read_only=cfg.read_only, monitor=monitor, app_log=app_log, fixes=fixes
            )
        )
        self.deck = PaneDeck(panes)
        self.panes, self.panes_by_source = self.deck.panes, self.deck.by_source
        for name, policy in policies_from_config(cfg.refresh, list(self.panes_by_source)).items():
            self.panes_by_source[name].interval = policy.interval
        pods = self.panes_by_source.get("kubernetes")
        if isinstance(pods, PodsPane):  # the Disk% column's colours follow the disk rule
            pods.disk_percent = cfg.thresholds.disk_percent
            pods.disk_critical_percent = cfg.thresholds.disk_critical_percent

    # -- composition ------------------------------------------------------------------------

    def get_default_screen(self) -> Screen[Any]:
        self.main = screen_class_for(self.keys)(
            self.compose_main,
            self.start,
            deck=self.deck,
            flow=self.flow,
            keys=self.keys,
            cfg=self.cfg,
            state=self.state,
            audit=self.audit,
            drills=self.lab.drills if self.lab is not None else None,
            source=lambda name: self.sources.get(name),  # the dict is replaced once built
        )
        return self.main

    def compose_main(self) -> ComposeResult:
        """The main screen's widgets."""
        yield Banner(self.cfg, self.local_tz)
        if self.cfg.team is not None or self._team_given is not None:
            yield Static("team: connecting…", id="team-line")
        yield InterruptedNotice()
        if self.cfg.read_only:
            yield Static(id="monitor-severity")
        with Container(id="panes"):
            yield from self.panes
        yield StableFooter(keys=self.keys, active_source=lambda: self.active_pane.source)

    def start(self) -> None:
        """Once the main screen is composed: first paint, the clock, then the pollers."""
        self.banner = self.screen.query_one(Banner)
        self.interrupted_notice = self.screen.query_one(InterruptedNotice)
        self.screen.set_class(self.cfg.read_only, "-monitor")
        self._apply_layout(self.size.width, self.size.height)
        self._tick()
        self._evaluate_incidents(self.clock())
        self.set_interval(1.0, self._tick)
        if self._team_given is not None or (self.cfg.team is not None and self.audit is not None):
            self.run_worker(
                self._start_team(), name="team store", group="team", exit_on_error=False
            )
        if self.paging.wanted:
            self.call_after_refresh(self._start_pager_later)
        if self._sources_pending:
            self.call_after_refresh(self._build_sources_later)
        else:
            self.scheduler.start()
            self._freeze_heap()
        self.call_after_refresh(self.deck.focus, 1)

    def _show_interrupted(self) -> None:
        """The banner's second line, from the engine (acknowledging clears it)."""
        key = next((k.key for k in self.keys if k.action == "acknowledge_interrupted"), "")
        self.interrupted_notice.show(list(self.engine.interrupted), key)

    def _new_scheduler(self) -> Scheduler:
        return Scheduler(
            self.sources, self._deliver, policies_from_config(self.cfg.refresh, list(self.sources))
        )

    def _build_sources_later(self) -> None:
        """After the first frame: build the sources off the event loop, then start polling."""
        self.run_worker(
            self._start_built_sources(), name="build-sources", group="sources", exit_on_error=False
        )

    async def _start_built_sources(self) -> None:
        # In a thread: the imports take a quarter of a second and keys must answer meanwhile.
        try:
            sources, failures = await asyncio.to_thread(_build_sources, self.cfg)
        except Exception as exc:  # say so on screen rather than die silently
            self.notify(f"could not start the data sources: {exc}", severity="error", timeout=60)
            return
        if self._closing:  # quit meanwhile (the sources have opened nothing yet)
            return
        for name, reason in failures.items():  # that pane says why; the others start below
            self._deliver(name, SourceFailure(name, BUILD_STEP, reason))
        self._sources_pending = False
        self.sources = sources
        self.scheduler = self._new_scheduler()
        self.scheduler.start()
        self._freeze_heap()

    def _freeze_heap(self) -> None:
        """Move every object alive now (modules, classes, widgets, the client libraries: they
        live as long as the app) out of the garbage collector's reach.

        A full collection walked all of them: ~55 ms, seven times in 20 s of pane switches, and
        each one that coincided with a key press made that frame late (the whole p99 tail).
        Only for a real run (run_app): frozen objects are never freed, which a test process
        building many apps must not do.
        """
        if self.freeze_heap:
            gc.collect()
            gc.freeze()

    async def _start_team(self) -> None:
        """Join the team store: the link is built in a thread (psycopg's import), then the
        engine numbers incidents through it and actions take leases through it."""
        link = self._team_given
        if link is None:
            assert self.audit is not None
            link = await asyncio.to_thread(_team_link, self.cfg, self.audit, self._team_wake)
        else:
            link.sync.wake = self._team_wake
        if self._closing:
            return
        from cockpit.team.leases import TeamLeases

        self.engine.ids = link.ids
        if not self.cfg.read_only:
            self.flow.leases = TeamLeases(link.sync)
            self.set_page_claim(link.pages)  # exactly one cockpit of the team sends each page
        self.team = link
        await asyncio.to_thread(link.start, self.clock().strftime("%Y%m%d"))
        self._team_wake()

    def _team_wake(self) -> None:
        # called from the team store's thread: post_message is the thread-safe way in
        self.post_message(TeamChanged())

    def on_team_changed(self, _message: TeamChanged) -> None:
        """Other cockpits' steps: applied to the incidents, then shown."""
        if self.team is None:
            return
        try:
            self.team.apply(self.engine)
        except Exception as exc:  # the boundary: their entries must not end this cockpit
            self.app_log.exception("applying the team's entries", exc)
        self._evaluate_incidents(self.clock())

    def _start_pager_later(self) -> None:
        start = self.paging.start(lambda: self._closing)
        self.run_worker(start, name="start the pager", exit_on_error=False)

    @property
    def pager(self) -> Pager | None:
        """The pager, once started (None without [paging], read-only, or before)."""
        return self.paging.pager

    def set_page_claim(self, claim: PageClaim) -> None:
        """Team mode: the team store decides which cockpit sends each page."""
        self.paging.set_claim(claim)

    def on_page_reported(self, message: PageReported) -> None:
        """A page went out or failed: the incident's timeline says so, and a notification."""
        try:
            note = self.paging.shown(message.report)
            pane = self.panes[-1]
            if isinstance(pane, IncidentsPane):
                pane.show_incidents(self.engine.active(), self.clock())
        except Exception as exc:  # the page's report must not take the screen down
            self.app_log.exception("showing a page's outcome", exc)
            note = (message.report.text, "error")
        if note is not None:
            text, severity = note
            self.notify(text, severity=severity, timeout=30 if severity == "error" else 10)

    @property
    def sources_ready(self) -> bool:
        """Whether the sources exist and their pollers run (built after the first frame)."""
        return not self._sources_pending

    async def on_unmount(self) -> None:
        self._closing = True
        await self.scheduler.stop()
        if self.team is not None:
            await self.team.stop_async()
        await self.paging.close()

    def on_resize(self, event: events.Resize) -> None:
        self._apply_layout(event.size.width, event.size.height)

    def _apply_layout(self, width: int, height: int) -> None:
        compact = width < COMPACT_BELOW[0] or height < COMPACT_BELOW[1]
        self.screen.set_class(compact, "-compact")

    # -- data -------------------------------------------------------------------------------

    def _deliver(self, source: str, result: Snapshot | SourceFailure) -> None:
        self.post_message(SnapshotReady(source, result))

    def _refresh_source(self, source: str) -> None:
        self.scheduler.refresh_now(source)

    def _trends(self, now: datetime) -> dict[str, list[float]]:
        since = now - timedelta(minutes=self.cfg.refresh.history_minutes)
        return {name: self.state.trend(name, since) for name in TRENDS}

    def on_snapshot_ready(self, message: SnapshotReady) -> None:
        pane = self.panes_by_source.get(message.source)
        try:
            self.state.update(message.source, message.result)
            now = self.clock()
            view, trends = self.state.view(message.source), self._trends(now)
        except Exception as exc:  # the boundary: the result cannot become a view
            self._contained(pane, f"reading the {message.source} result", exc)
        else:
            if pane is not None:
                pane.update_view(view, now, trends)  # contains its own drawing failures
        if message.source == "api":
            self._show_pod_request_rates()
        if isinstance(message.result, KubeSnapshot):
            r = message.result
            self.banner.set_target(r.context, r.cluster, r.namespace)
        self._incidents_due()

    def _show_pod_request_rates(self) -> None:
        """The pods pane's Req/s column: each pod's rate while the API is read per pod and
        fresh (a stale or per-URL API leaves the column `-`)."""
        pods = self.panes_by_source.get("kubernetes")
        if not isinstance(pods, PodsPane):
            return
        try:
            pods.show_request_rates(request_rates(self.state.view("api")))
        except Exception as exc:  # the boundary: the pods pane says so, the rest goes on
            pods.contain("showing the pods' request rates", exc)

    def _contained(self, pane: Pane | None, what: str, exc: Exception) -> None:
        """A failure at a pane's boundary: that pane says `render error` (or, with no pane,
        a notification does); the traceback goes to the log file either way."""
        if pane is not None:
            pane.contain(what, exc)
        else:
            self.app_log.exception(what, exc)
            self.notify(
                f"{what} failed: {exc} — {self.app_log.where()}", severity="error", timeout=10
            )

    def _incidents_due(self) -> None:
        """Evaluate the incident rules once for a burst of results, not once per result.

        Sources polled on the same cadence deliver together (and hung ones time out together):
        the evaluation is queued behind the results already waiting, so one pass covers them
        all and a 5,000-pod rule pass does not run five times in a row while keys wait.
        """
        if not self._evaluation_pending:
            self._evaluation_pending = True
            self.call_later(self._evaluate_pending)

    def _evaluate_pending(self) -> None:
        self._evaluation_pending = False
        self._evaluate_incidents(self.clock())

    def _evaluate_incidents(self, now: datetime) -> None:
        pane = self.panes[-1]
        assert isinstance(pane, IncidentsPane)
        try:
            self.incidents = list(self.engine.evaluate(self.state, now))
            pane.show_incidents(self.incidents, now)
        except Exception as exc:  # a bug in the engine must not take the screen down
            pane.contain("evaluating the incident rules", exc)
        for rule, exc in self.engine.rule_failures.items():  # one rule's bug: the rest ran
            pane.contain(f"evaluating the {rule} rule", exc)
        worst = highest_severity(self.incidents)
        self.banner.set_severity(worst)
        if self.cfg.read_only:
            box = self.query_one("#monitor-severity", Static)
            paint(box, monitor_headline(self.incidents))
            for level in ("p1", "p2", "p3", "p4"):
                box.set_class(worst is not None and worst.lower() == level, f"-{level}")

    def _tick(self) -> None:
        now = self.clock()
        self.banner.tick(now)
        self._show_interrupted()
        if self.team is not None:
            try:
                line = self.team.line(now, self.local_tz)
                box = self.main.query_one("#team-line", Static)
                paint(box, line)
                box.set_class(not self.team.status().online, "-offline")
            except Exception as exc:  # the team line must not stop the clock
                self.app_log.exception("updating the team line", exc)
        try:
            self.engine.tick(now)  # a page may be due with nothing else happening
        except Exception as exc:
            self.app_log.exception("the incident engine's tick", exc)
        for pane in self.panes_by_source.values():
            try:
                pane.tick(self.state.view(pane.source), now)
            except Exception as exc:  # one pane's age text must not stop the clock
                pane.contain("updating the age", exc)

    def notify(
        self,
        message: str,
        *,
        title: str = "",
        severity: SeverityLevel = "information",
        timeout: float | None = None,
        markup: bool = False,
    ) -> None:
        """Every notification (the screens' too) is shown as written, never parsed as markup:
        it carries backend text (an error, a reason), and `[/red]` in it must not end the app."""
        super().notify(message, title=title, severity=severity, timeout=timeout, markup=False)

    def _handle_exception(self, error: Exception) -> None:
        # The last line of defence: an exception no boundary caught still ends the app
        # (Textual), but its traceback goes to the log file, masked, and the terminal gets one
        # line, never Textual's traceback with its local variables (config, URLs: secrets).
        # Textual 8.2 has no public hook for an uncaught exception: this one and _fatal_error
        # are pinned by tests/ui/test_textual_hooks.py.
        self.app_log.exception("the cockpit stopped on an unexpected error", error)
        self._fatal = f"{type(error).__name__}: {error}"
        super()._handle_exception(error)

    def _fatal_error(self) -> None:
        self.bell()
        self._exit_renderables.append(
            Text(
                f"cockpit: stopped on an unexpected error ({self._fatal}) — {self.app_log.where()}"
            )
        )
        self._close_messages_no_wait()

    # -- workers ----------------------------------------------------------------------------

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """Every worker the app starts ends here: a failure is told and logged, never silent."""
        worker = event.worker
        if event.state != WorkerState.ERROR or worker.error is None:
            return
        what = worker.name or worker.group or "a background task"
        error = worker.error
        self.app_log.exception(f"worker {what!r} failed", error)
        self.notify(
            f"{what} failed: {type(error).__name__}: {error} — {self.app_log.where()}",
            severity="error",
            timeout=15,
        )

    # -- panes and selection (the deck's, named here for callers and tests) ---------------

    @property
    def active_pane(self) -> Pane:
        """The focused pane."""
        return self.deck.active_pane

    @property
    def active(self) -> int:
        """The index (0..5) of the focused pane."""
        return self.deck.active

    @property
    def actions_in_flight(self) -> int:
        """Actions executing or following up (quitting asks first while there are any)."""
        return self.flow.in_flight

    @property
    def action_requests(self) -> list[tuple[str, dict[str, Any] | None]]:
        """Every action flow started this session (action id, selection)."""
        return self.flow.requests

    def focus_pane(self, number: int) -> None:
        """Make pane `number` (1..6) the active one and focus its main widget."""
        self.deck.focus(number)

    def on_descendant_focus(self, event: events.DescendantFocus) -> None:
        self.deck.follow(event.widget)  # focus moved by other means (a click, a closed dialog)

    def selected_row(self, pane: str | None = None) -> dict[str, Any] | None:
        """The selected row of a pane (default the active one), as plain data for actions."""
        return self.deck.selected_row(pane)

    def _refresh_notifications(self) -> None:
        # At most two toasts at once: a burst must not cover the incident table. Textual 8.2
        # offers no public hook for it; this private one is pinned (widgets/toasts.py,
        # tests/ui/test_textual_hooks.py).
        show_newest(self)

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        """The palette offers exactly the registry's commands (and nothing mutating when
        read-only)."""
        own = getattr(screen, "palette_commands", None)
        if callable(own):  # a screen with its own keys (the log view) offers those
            yield from cast("Iterable[SystemCommand]", own())
            return
        for spec in self.keys:
            if spec.palette:
                yield SystemCommand(
                    spec.description,
                    f"key: {display_key(spec.key)}" if spec.key else "command palette only",
                    partial(self.run_action, spec.action, self.main),
                )


def _open_audit(cfg: Config) -> AuditLog:
    """The session's audit log (AuditLog creates nothing until the first entry)."""
    from cockpit.config import audit_path

    return AuditLog.for_config(cfg, audit_path(cfg))


def run_app(cfg: Config, *, lab: Lab | None = None, audit: AuditLog | None = None) -> int:
    """Run the cockpit full screen until the operator quits; returns the exit code.

    The log file (`[logging] path`) is set up here, not on import: tracebacks go there, masked,
    and never to the screen.
    """
    from cockpit.applog import configure, secret_values
    from cockpit.config import log_path

    app_log = configure(log_path(cfg), secrets=secret_values(cfg))
    trail = audit if audit is not None else _open_audit(cfg)
    try:
        app = CockpitApp(cfg, audit=trail, lab=lab, freeze_heap=True, app_log=app_log)
        result = app.run()
    finally:
        trail.close()  # a clean end: this session's lock goes (its actions have their results)
        app_log.close()
    return int(result or app.return_code or 0)
