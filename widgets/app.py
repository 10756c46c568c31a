"""CockpitApp: composes the screen, runs the scheduler on the event loop, routes results into the
state, the incident engine and the panes, and routes keys (from the one registry) to views and
actions.

Layout: a grid of six panes when the terminal is at least 120×36; below that (80×24 over SSH)
the compact layout: every pane collapses to its one-line summary and the focused pane takes the
rest of the screen. Tab and the number keys move between panes in both layouts.
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta, tzinfo
from functools import partial
from typing import Any

from textual import events
from textual.app import App, ComposeResult, SystemCommand
from textual.containers import Container
from textual.screen import Screen
from textual.widgets import Static

from cockpit.config import Config
from cockpit.models import KubeSnapshot, SourceFailure, utcnow
from cockpit.scheduler import Scheduler, policies_from_config
from cockpit.sources.base import Source
from cockpit.sources.registry import BUILD_STEP, BuiltSources
from cockpit.state import TRENDS, CockpitState
from widgets.banner import Banner
from widgets.footer import StableFooter
from widgets.incidents.slot import IncidentsPane, highest_severity
from widgets.key_actions import KeyActions
from widgets.keys import KeySpec, bindings, key_registry
from widgets.messages import OpenDetail, SnapshotReady
from widgets.paint import paint
from widgets.panes.api import ApiPane
from widgets.panes.base import Pane
from widgets.panes.cache import CachePane
from widgets.panes.certs import CertsPane
from widgets.panes.database import DatabasePane
from widgets.panes.pods import PodsPane
from widgets.screens.detail import DetailScreen
from widgets.toasts import show_newest

COMPACT_BELOW = (120, 36)  # (width, height): smaller terminals get the one-pane-focused layout
PANE_NAMES = {"pods": "kubernetes", "db": "database", "certs": "certificates"}


def _build_sources(cfg: Config) -> BuiltSources:
    from cockpit.sources.registry import build_sources

    return build_sources(cfg)


def _configured_names(cfg: Config) -> tuple[str, ...]:
    # cheap: decides from the config which panes have a source, without importing any client
    from cockpit.sources.registry import configured_names

    return configured_names(cfg)


def _load_engine(cfg: Config, audit: Any, clock: Callable[[], datetime]) -> Any:
    """The incident engine, recording operator steps into the session's audit log."""
    from cockpit.incidents.engine import IncidentEngine

    return IncidentEngine(cfg, audit=audit, clock=clock)


def monitor_headline(incidents: list[Any]) -> str:
    """The read-only monitor's big line: the worst incident by name, readable across a room."""
    if not incidents:
        return "ALL CLEAR — no active incidents"
    worst = min(incidents, key=lambda i: (str(getattr(i, "severity", "P9")), getattr(i, "detected_at", 0)))
    more = f"  (+{len(incidents) - 1} more)" if len(incidents) > 1 else ""
    return f"{worst.severity}  {getattr(worst, 'title', '')}{more}"


class CockpitScreen(Screen[None]):
    """The main screen. Its bindings are set per mode by `screen_class_for`."""

    def __init__(self, cockpit: CockpitApp) -> None:
        super().__init__(id="main")
        self.cockpit = cockpit

    def compose(self) -> ComposeResult:
        yield from self.cockpit.compose_main()

    def on_mount(self) -> None:
        self.cockpit.start()


def screen_class_for(specs: tuple[KeySpec, ...]) -> type[CockpitScreen]:
    """A CockpitScreen whose BINDINGS are exactly the registry's (tab included, overriding focus)."""
    return type("CockpitScreen", (CockpitScreen,), {"BINDINGS": bindings(specs, prefix="app.")})


class CockpitApp(KeyActions, App[int]):
    """The on-call cockpit. Collaborators are injected so tests can use fixed sources and clocks."""

    CSS_PATH = "cockpit.tcss"
    TITLE = "PredictIQ Cockpit"

    def __init__(self, cfg: Config, *, sources: dict[str, Source] | None = None,
                 clock: Callable[[], datetime] | None = None, audit: Any = None, lab: Any = None,
                 state: CockpitState | None = None, local_tz: tzinfo | None = None,
                 action_specs: Iterable[Any] | None = None, freeze_heap: bool = False) -> None:
        super().__init__()
        self.freeze_heap = freeze_heap  # run_app: see _freeze_heap
        self.cfg = cfg
        self.clock = clock or utcnow
        self.audit = audit
        self.lab = lab
        self.local_tz = local_tz
        self.state = state or CockpitState(cfg.refresh.history_minutes, cfg.refresh.interval_seconds)
        # Building the sources imports the client libraries (kubernetes, psycopg, redis, httpx:
        # ~0.25 s), so unless they are injected they are built after the first frame (start()).
        self._sources_pending = sources is None
        self._closing = False
        self.sources = {} if sources is None else dict(sources)
        configured = _configured_names(cfg) if sources is None else tuple(self.sources)
        self.scheduler = self._new_scheduler()
        self.keys = key_registry(cfg.read_only, action_specs, lab=lab is not None)
        self.engine = _load_engine(cfg, audit, self.clock)
        self.incidents: list[Any] = []
        self._evaluation_pending = False
        self.actions_in_flight = 0  # incremented by the action flow while one runs
        self.action_requests: list[tuple[str, dict | None]] = []  # every action flow started
        self.active = 0
        monitor = cfg.read_only
        self.panes: list[Pane] = [
            cls(configured=(cls.source in configured) if cls.source else True, monitor=monitor)
            for cls in (PodsPane, DatabasePane, CachePane, CertsPane, ApiPane, IncidentsPane)
        ]
        self.panes_by_source = {p.source: p for p in self.panes if p.source}
        for name, policy in policies_from_config(cfg.refresh, list(self.panes_by_source)).items():
            self.panes_by_source[name].interval = policy.interval

    # -- composition ------------------------------------------------------------------------

    def get_default_screen(self) -> Screen[Any]:
        return screen_class_for(self.keys)(self)

    def compose_main(self) -> ComposeResult:
        """The main screen's widgets."""
        yield Banner(self.cfg, self.local_tz)
        if self.cfg.read_only:
            yield Static(id="monitor-severity")
        with Container(id="panes"):
            yield from self.panes
        yield StableFooter()

    def start(self) -> None:
        """Once the main screen is composed: first paint, the clock, then the pollers."""
        self.banner = self.screen.query_one(Banner)
        self.screen.set_class(self.cfg.read_only, "-monitor")
        self._apply_layout(self.size.width, self.size.height)
        self._tick()
        self._evaluate_incidents(self.clock())
        self.set_interval(1.0, self._tick)
        if self._sources_pending:
            self.call_after_refresh(self._build_sources_later)
        else:
            self.scheduler.start()
            self._freeze_heap()
        self.call_after_refresh(self.focus_pane, 1)

    def _new_scheduler(self) -> Scheduler:
        return Scheduler(self.sources, self._deliver,
                         policies_from_config(self.cfg.refresh, list(self.sources)))

    def _build_sources_later(self) -> None:
        """After the first frame: build the sources off the event loop, then start polling."""
        self.run_worker(self._start_built_sources(), name="build-sources", group="sources",
                        exit_on_error=False)

    async def _start_built_sources(self) -> None:
        # In a thread: the imports take a quarter of a second and keys must answer meanwhile.
        try:
            sources, failures = await asyncio.to_thread(_build_sources, self.cfg)
        except Exception as exc:  # noqa: BLE001 - say so on screen rather than die silently
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

    @property
    def sources_ready(self) -> bool:
        """Whether the sources exist and their pollers run (built after the first frame)."""
        return not self._sources_pending

    async def on_unmount(self) -> None:
        self._closing = True
        await self.scheduler.stop()

    def on_resize(self, event: events.Resize) -> None:
        self._apply_layout(event.size.width, event.size.height)

    def _apply_layout(self, width: int, height: int) -> None:
        compact = width < COMPACT_BELOW[0] or height < COMPACT_BELOW[1]
        self.screen.set_class(compact, "-compact")

    # -- data -------------------------------------------------------------------------------

    def _deliver(self, source: str, result: Any) -> None:
        self.post_message(SnapshotReady(source, result))

    def _trends(self, now: datetime) -> dict[str, list[float]]:
        since = now - timedelta(minutes=self.cfg.refresh.history_minutes)
        return {name: self.state.trend(name, since) for name in TRENDS}

    def on_snapshot_ready(self, message: SnapshotReady) -> None:
        self.state.update(message.source, message.result)
        now = self.clock()
        pane = self.panes_by_source.get(message.source)
        if pane is not None:
            pane.update_view(self.state.view(message.source), now, self._trends(now))
        if isinstance(message.result, KubeSnapshot):
            r = message.result
            self.banner.set_target(r.context, r.cluster, r.namespace)
        self._incidents_due()

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
        except Exception as exc:  # noqa: BLE001 - a rule bug must not take the screen down
            self.notify(f"incident engine error: {exc}", severity="error", timeout=10)
        pane.show_incidents(self.incidents, now)
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
        for pane in self.panes_by_source.values():
            pane.tick(self.state.view(pane.source), now)

    # -- panes and selection ----------------------------------------------------------------

    @property
    def active_pane(self) -> Pane:
        """The focused pane."""
        return self.panes[self.active]

    def focus_pane(self, number: int) -> None:
        """Make pane `number` (1..6) the active one and focus its main widget."""
        self.active = (number - 1) % len(self.panes)
        for i, pane in enumerate(self.panes):
            pane.set_class(i == self.active, "-active")
        self.active_pane.focus_target().focus()

    def on_descendant_focus(self, event: events.DescendantFocus) -> None:
        # Focus moved by other means (a click, a closed dialog): follow it.
        for i, pane in enumerate(self.panes):
            if event.widget in pane.walk_children() and i != self.active:
                self.active = i
                for j, other in enumerate(self.panes):
                    other.set_class(j == i, "-active")

    def selected_row(self, pane: str | None = None) -> dict | None:
        """The selected row of a pane ('pods'/'kubernetes', 'database', 'certificates', ...),
        default the active pane, as plain data for actions."""
        if pane is None:
            return self.active_pane.selection()
        target = self.panes_by_source.get(PANE_NAMES.get(pane, pane))
        return target.selection() if target is not None else None

    def on_open_detail(self, message: OpenDetail) -> None:
        self._open_detail(message.pane, message.key)

    def _open_detail(self, source: str, key: str) -> None:
        pane = self.panes_by_source.get(source)
        found = pane.detail(key) if pane is not None else None
        if found is not None:
            self.push_screen(DetailScreen(*found))

    def _refresh_notifications(self) -> None:
        # at most two toasts at once: a burst must not cover the incident table (widgets/toasts.py)
        show_newest(self)

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        """The palette offers exactly the registry's commands (and nothing mutating when read-only)."""
        for spec in self.keys:
            if spec.palette:
                yield SystemCommand(spec.description, f"key: {spec.key}",
                                    partial(self.run_action, spec.action))


def _open_audit(cfg: Config) -> Any:
    """The session's audit log (AuditLog creates nothing until the first entry)."""
    from cockpit.audit.log import AuditLog
    from cockpit.config import audit_path

    return AuditLog(audit_path(cfg))


def run_app(cfg: Config, *, lab: Any = None, audit: Any = None) -> int:
    """Run the cockpit full screen until the operator quits; returns the exit code."""
    app = CockpitApp(cfg, audit=audit if audit is not None else _open_audit(cfg), lab=lab,
                     freeze_heap=True)
    result = app.run()
    return int(result or app.return_code or 0)
