"""The main screen and what its keys do: one `action_*` method per entry of the key registry
(widgets/keys.py), whose bindings this screen carries (`screen_class_for`).

The screen gets its collaborators through the constructor (the pane deck, the action flow,
the config, state and audit log for the screens it opens, the lab's drills in the demo); it
never reaches into the app for them. Every handler runs on the event loop and returns at once:
screens are pushed, actions run in workers. A handler that fails on one pane's data is
contained there: that pane says `render error`, the keys go on.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from textual.app import ComposeResult
from textual.screen import Screen

from cockpit.audit.log import AuditLog
from cockpit.config import Config
from cockpit.state import CockpitState
from widgets.action_flow import ActionFlow
from widgets.db_tools import DbTools
from widgets.dialogs.quit import QuitConfirm
from widgets.incidents.panel import IncidentPanel
from widgets.keys import KeySpec, bindings
from widgets.messages import MoreRows, OpenDetail
from widgets.panes.deck import PaneDeck
from widgets.panes.table import TablePane
from widgets.screens.detail import DetailScreen
from widgets.screens.help import HelpScreen

if TYPE_CHECKING:
    from cockpit.lab.drills import DrillRunner


class CockpitScreen(Screen[None]):
    """The panes, the banner and the footer; the registry's keys. Bindings: `screen_class_for`."""

    def __init__(
        self,
        content: Callable[[], ComposeResult],
        started: Callable[[], None],
        *,
        deck: PaneDeck,
        flow: ActionFlow,
        keys: tuple[KeySpec, ...],
        cfg: Config,
        state: CockpitState,
        audit: AuditLog | None,
        drills: DrillRunner | None = None,
    ) -> None:
        super().__init__(id="main")
        self.content, self.started = content, started
        self.deck, self.flow, self.keys = deck, flow, keys
        self.cfg, self.state, self.audit, self.drills = cfg, state, audit, drills
        self._db_tools: DbTools | None = None

    def compose(self) -> ComposeResult:
        yield from self.content()

    def on_mount(self) -> None:
        self.started()

    # -- navigation -------------------------------------------------------------------------

    def action_next_pane(self) -> None:
        self.deck.focus(self.deck.active + 2)

    def action_previous_pane(self) -> None:
        self.deck.focus(self.deck.active)

    def action_focus_pane(self, number: int) -> None:
        self.deck.focus(number)

    def on_open_detail(self, message: OpenDetail) -> None:
        self.open_detail(message.pane, message.key)

    def action_open_detail(self) -> None:
        pane = self.deck.active_pane
        if isinstance(pane, TablePane) and (key := pane.selected_key()) is not None:
            self.open_detail(pane.source, key)
        elif (found := pane.failure_detail()) is not None:
            # no row to open (or no table): the pane's failure in full (issue 20)
            self.app.push_screen(DetailScreen(*found))

    def open_detail(self, source: str, key: str) -> None:
        """The detail view of row `key` of the pane of `source`."""
        pane = self.deck.by_source.get(source)
        if pane is None:
            return
        try:
            found = pane.detail(key)
        except Exception as exc:  # bad data in one row: that pane says so
            pane.contain(f"the detail of {key}", exc)
            return
        if found is not None:
            failing = pane.failure_detail()
            if failing is not None:  # a stale row: why, in full, under what it showed last
                found = (found[0], f"{found[1]}\n\n{failing[1]}")
            self.app.push_screen(DetailScreen(*found))

    # -- table tools ------------------------------------------------------------------------

    def _table_pane(self) -> TablePane | None:
        pane = self.deck.active_pane
        if isinstance(pane, TablePane) and pane.configured:
            return pane
        self.notify(f"{pane.title} has no table to filter or sort", timeout=3)
        return None

    def action_filter(self) -> None:
        if (pane := self._table_pane()) is not None:
            pane.open_filter()

    def action_sort_next(self) -> None:
        if (pane := self._table_pane()) is not None:
            try:
                label = pane.sort_next()
            except Exception as exc:  # rows that cannot be sorted: the pane says so
                pane.contain("sorting", exc)
                return
            self.notify(f"{pane.title} sorted by {label}", timeout=2)

    def action_sort_reverse(self) -> None:
        if (pane := self._table_pane()) is not None:
            try:
                pane.sort_reverse_order()
            except Exception as exc:  # as above
                pane.contain("sorting", exc)

    # -- screens and actions ----------------------------------------------------------------

    def action_help(self) -> None:
        self.app.push_screen(HelpScreen(self.keys, self.cfg.read_only))

    def action_request_quit(self) -> None:
        in_flight = self.flow.in_flight
        if in_flight > 0:
            self.app.push_screen(
                QuitConfirm(in_flight), lambda quit_now: self.app.exit(0) if quit_now else None
            )
        else:
            self.app.exit(0)

    def action_run_action(self, action_id: str) -> None:
        """Start an action's flow (plan, confirmation, execution) with the current selection."""
        spec = next((k for k in self.keys if k.action_id == action_id), None)
        if spec is None or (self.cfg.read_only and spec.mutating):
            self.notify("read-only: actions are disabled", severity="warning")
            return
        if spec.scope != "global" and self.deck.active_pane.source != spec.scope:
            self.notify(
                f"{spec.description}: select a row in the {spec.scope} pane first",
                severity="warning",
            )
            return
        selection = self.deck.selected_row()
        pane = self.deck.active_pane
        if selection is not None and isinstance(pane, TablePane):
            pane.operator_moved()  # acting on a row chooses it: the cursor follows it from now on
        if spec.scope != "global" and selection is None:
            self.notify(
                f"{spec.description}: nothing selected; move the cursor to a row first",
                severity="warning",
            )
            return
        self.flow.start(action_id, selection)

    def action_checklists(self) -> None:
        from widgets.screens.checklists import ChecklistScreen

        backup = None
        if not self.cfg.read_only and self.cfg.database is not None:
            flow = self.flow

            async def run_backup() -> object:
                return await flow.run("backup_database", {})

            backup = run_backup
        self.app.push_screen(ChecklistScreen(self.cfg, self.state, self.audit, backup=backup))

    # -- PostgreSQL diagnosis (widgets/db_tools.py) -------------------------------------------

    @property
    def db_tools(self) -> DbTools:
        """The diagnosis screens' collaborator (built on first use)."""
        if self._db_tools is None:
            app = self.app
            self._db_tools = DbTools(
                app,
                self.cfg,
                self.state,
                self.flow,
                lambda: getattr(app, "sources", {}).get("database"),
                self.flow.refresh,
            )
        return self._db_tools

    def action_statements(self) -> None:
        self.db_tools.open_statements()

    def action_explain(self) -> None:
        selection = self.deck.selected_row() if self.deck.active_pane.source == "database" else None
        if selection is None:
            self.notify(
                "Explain: select a connection in the database pane (or a statement in t)",
                severity="warning",
            )
            return
        self.db_tools.open_explain(str(selection.get("query") or ""))

    def action_blocking_tree(self) -> None:
        self.db_tools.open_blocking_tree()

    def on_more_rows(self, message: MoreRows) -> None:
        self.db_tools.more_rows(message.count)

    def action_quickref(self) -> None:
        from widgets.screens.quickref import QuickRefScreen

        self.app.push_screen(QuickRefScreen(self.cfg, self.state))

    def action_declare_incident(self) -> None:
        if self.cfg.read_only:  # not bound in read-only mode; refused here too
            return
        self.deck.focus(6)
        self.query_one(IncidentPanel).action_declare()

    def action_acknowledge_interrupted(self) -> None:
        """`U`: the actions the banner says ended with an unknown result have been seen."""
        if self.cfg.read_only:  # not bound in read-only mode; refused here too
            return
        self.query_one(IncidentPanel).acknowledge_interrupted()

    def action_pod_logs(self) -> None:
        """`l`: the selected pod's logs (the pods pane), else the whole deployment's."""
        from widgets.screens.logs import open_logs

        row = (
            self.deck.selected_row("pods") if self.deck.active_pane.source == "kubernetes" else None
        )
        name = row.get("name") if row else None
        open_logs(self.app, self.cfg, self.audit, name if isinstance(name, str) and name else None)

    def action_deployment_logs(self) -> None:
        """`A`: every pod of the deployment merged by time."""
        from widgets.screens.logs import open_logs

        open_logs(self.app, self.cfg, self.audit, None)

    def action_lab_menu(self) -> None:
        from widgets.screens.lab_menu import open_lab_menu

        open_lab_menu(self.app, self.drills)


def screen_class_for(specs: tuple[KeySpec, ...]) -> type[CockpitScreen]:
    """A CockpitScreen whose BINDINGS are exactly the registry's (tab included, overriding
    focus)."""
    return type("CockpitScreen", (CockpitScreen,), {"BINDINGS": bindings(specs)})
