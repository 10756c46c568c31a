"""The PostgreSQL diagnosis screens wired to the cockpit: statements (t), explain (e), blocking
tree (b), and the connections table asking the source for more rows as it is scrolled.

`DbTools` gets its collaborators through its constructor: the app (to push screens and say
things), the config and state, the action flow (so every action goes through the executor,
behind its confirmation; none in read-only mode), the database source (for its sampling hooks)
and how to refresh a source now.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from textual.app import App

from cockpit.config import Config
from cockpit.models import DbActivity
from cockpit.state import CockpitState
from widgets.action_flow import ActionFlow


class DbTools:
    """Opens the diagnosis screens and forwards the table's page requests to the source."""

    def __init__(
        self,
        app: App[Any],
        cfg: Config,
        state: CockpitState,
        flow: ActionFlow,
        source: Callable[[], object | None],
        refresh: Callable[[str], object],
    ) -> None:
        self.app, self.cfg, self.state, self.flow = app, cfg, state, flow
        self.source = source  # the database source now (built after the first frame)
        self.refresh = refresh

    def latest(self) -> DbActivity | None:
        """The last database snapshot, if any."""
        db = self.state.latest("database")
        return db if isinstance(db, DbActivity) else None

    def ask(self, hook: str, *args: int) -> None:
        """Call a hook of the database source (sample_locks_now, want_rows, ...) and refresh it
        now; a source without the hook (a fixed one in tests) is only refreshed."""
        method = getattr(self.source(), hook, None)
        if callable(method):
            method(*args)
        self.refresh("database")

    def open_explain(self, query: str) -> None:
        """The explain screen for `query`."""
        if self.cfg.database is None:
            self.app.notify("no [database] configured", severity="warning")
            return
        if not query.strip():
            self.app.notify("Explain: the selected session runs no query", severity="warning")
            return
        from widgets.screens.explain import ExplainScreen

        run = None if self.cfg.read_only else self.flow.run
        self.app.push_screen(ExplainScreen(self.cfg.database, query, run))

    def open_statements(self) -> None:
        """The statements view, with a fresh pg_stat_statements sample at the next refresh."""
        from widgets.screens.statements import StatementsScreen

        self.ask("sample_statements_now")
        analyze = (
            None
            if self.cfg.read_only
            else (lambda q: self.flow.start("explain_analyze", {"query": q}))
        )
        self.app.push_screen(StatementsScreen(self.latest, self.open_explain, analyze))

    def open_blocking_tree(self) -> None:
        """The blocking tree, with a lock sample at the next refresh."""
        from widgets.screens.locks import LocksScreen

        terminate = (
            None
            if self.cfg.read_only
            else (lambda pid: self.flow.start("terminate_blocker", {"pid": pid}))
        )
        self.app.push_screen(
            LocksScreen(self.latest, lambda: self.ask("sample_locks_now"), terminate)
        )

    def more_rows(self, count: int) -> None:
        """The connections table was scrolled near the end of its rows (0: back at the top)."""
        self.ask("want_rows", count)
