"""The PostgreSQL diagnosis screens wired to the app: statements (t), explain (e), blocking tree
(b), and the connections table asking the source for more rows as it is scrolled.

Each screen gets its collaborators through its constructor: how to read the latest database
snapshot, how to ask the source for a sample at the next refresh, and how to run an action
(widgets/action_flow.py, so through the executor like every action; None in read-only mode).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import partial
from typing import Any, Protocol

from textual.screen import Screen

from cockpit.config import Config
from cockpit.models import DbActivity
from cockpit.scheduler import Scheduler
from cockpit.state import CockpitState
from widgets.messages import MoreRows


class CockpitApp(Protocol):
    """What these screens need of the app (a Protocol: no import of widgets.app, no circle)."""

    cfg: Config
    state: CockpitState
    scheduler: Scheduler
    action_requests: list[tuple[str, dict[str, Any] | None]]

    @property
    def sources(self) -> Mapping[str, object]: ...

    def notify(self, message: str, *, title: str = "", severity: Any = "information",
               timeout: float | None = None, markup: bool = True) -> None: ...

    def push_screen(self, screen: Screen[Any]) -> Any: ...

    def run_worker(self, work: Any, name: str | None = "", group: str = "default",
                   description: str = "", exit_on_error: bool = True,
                   start: bool = True, exclusive: bool = False, thread: bool = False) -> Any: ...


def latest_db(app: CockpitApp) -> DbActivity | None:
    """The last database snapshot, if any."""
    db = app.state.latest("database")
    return db if isinstance(db, DbActivity) else None


def _ask_source(app: CockpitApp, method: str) -> None:
    """Call `method` on the database source (sample_locks_now, ...) and refresh it now."""
    hook = getattr(app.sources.get("database"), method, None)
    if callable(hook):
        hook()
    app.scheduler.refresh_now("database")


def _runner(app: CockpitApp) -> Callable[..., Any] | None:
    if app.cfg.read_only:
        return None
    from widgets.action_flow import run_action_flow

    return partial(run_action_flow, app)


def _start(app: CockpitApp, action_id: str, selection: dict[str, Any]) -> None:
    from widgets.action_flow import run_action_flow

    app.action_requests.append((action_id, selection))
    app.run_worker(run_action_flow(app, action_id, selection), group="action", exit_on_error=False)


def open_explain(app: CockpitApp, query: str) -> None:
    """The explain screen for `query` (needs [database])."""
    if app.cfg.database is None:
        app.notify("no [database] configured", severity="warning")
        return
    if not query.strip():
        app.notify("Explain: the selected session runs no query", severity="warning")
        return
    from widgets.screens.explain import ExplainScreen

    app.push_screen(ExplainScreen(app.cfg.database, query, _runner(app)))


def open_statements(app: CockpitApp) -> None:
    """The statements view, with a fresh pg_stat_statements sample at the next refresh."""
    from widgets.screens.statements import StatementsScreen

    _ask_source(app, "sample_statements_now")
    analyze = None if app.cfg.read_only else (lambda q: _start(app, "explain_analyze", {"query": q}))
    app.push_screen(StatementsScreen(partial(latest_db, app), partial(open_explain, app), analyze))


def open_blocking_tree(app: CockpitApp) -> None:
    """The blocking tree, with a lock sample at the next refresh."""
    from widgets.screens.locks import LocksScreen

    terminate = None if app.cfg.read_only else (
        lambda pid: _start(app, "terminate_blocker", {"pid": pid}))
    app.push_screen(LocksScreen(partial(latest_db, app), partial(_ask_source, app, "sample_locks_now"),
                                terminate))


def more_rows(app: CockpitApp, message: MoreRows) -> None:
    """The connections table was scrolled near the end of its rows (or back to the top)."""
    hook = getattr(app.sources.get("database"), "want_rows", None)
    if callable(hook):
        hook(message.count)
        app.scheduler.refresh_now("database")
