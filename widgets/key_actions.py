"""What the cockpit's keys do: one method per entry of the key registry (widgets/keys.py).

A mixin of CockpitApp, kept apart so app.py stays about composition and data flow. Every method
runs on the event loop and returns at once: screens are pushed, actions run in workers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from widgets.dialogs.quit import QuitConfirm
from widgets.incidents.panel import IncidentPanel
from widgets.panes.table import TablePane
from widgets.screens.help import HelpScreen

if TYPE_CHECKING:
    from widgets.app import CockpitApp


class KeyActions:
    """The `action_*` methods the registry's bindings name."""

    def action_next_pane(self: CockpitApp) -> None:
        self.focus_pane(self.active + 2)

    def action_previous_pane(self: CockpitApp) -> None:
        self.focus_pane(self.active)

    def action_focus_pane(self: CockpitApp, number: int) -> None:
        self.focus_pane(number)

    def action_open_detail(self: CockpitApp) -> None:
        pane = self.active_pane
        if isinstance(pane, TablePane) and (key := pane.selected_key()) is not None:
            self._open_detail(pane.source, key)

    def _table_pane(self: CockpitApp) -> TablePane | None:
        pane = self.active_pane
        if isinstance(pane, TablePane) and pane.configured:
            return pane
        self.notify(f"{pane.title} has no table to filter or sort", timeout=3)
        return None

    def action_filter(self: CockpitApp) -> None:
        if (pane := self._table_pane()) is not None:
            pane.open_filter()

    def action_sort_next(self: CockpitApp) -> None:
        if (pane := self._table_pane()) is not None:
            label = pane.sort_next()
            self.notify(f"{pane.title} sorted by {label}", timeout=2)

    def action_sort_reverse(self: CockpitApp) -> None:
        if (pane := self._table_pane()) is not None:
            pane.sort_reverse_order()

    def action_help(self: CockpitApp) -> None:
        self.push_screen(HelpScreen(self.keys, self.cfg.read_only))

    def action_request_quit(self: CockpitApp) -> None:
        if self.actions_in_flight > 0:
            self.push_screen(QuitConfirm(self.actions_in_flight),
                             lambda quit_now: self.exit(0) if quit_now else None)
        else:
            self.exit(0)

    def action_run_action(self: CockpitApp, action_id: str) -> None:
        """Start an action's flow (plan, confirmation, execution) with the current selection."""
        spec = next((k for k in self.keys if k.action_id == action_id), None)
        if spec is None or (self.cfg.read_only and spec.mutating):
            self.notify("read-only: actions are disabled", severity="warning")
            return
        if spec.scope != "global" and self.active_pane.source != spec.scope:
            self.notify(f"{spec.description}: select a row in the {spec.scope} pane first",
                        severity="warning")
            return
        selection = self.selected_row()
        if selection is not None and isinstance(self.active_pane, TablePane):
            self.active_pane.operator_moved()  # acting on a row chooses it: the cursor follows it
        if spec.scope != "global" and selection is None:
            self.notify(f"{spec.description}: nothing selected; move the cursor to a row first",
                        severity="warning")
            return
        from widgets.action_flow import start_action_flow

        start_action_flow(self, action_id, selection)

    def action_checklists(self: CockpitApp) -> None:
        from widgets.screens.checklists import ChecklistScreen

        self.push_screen(ChecklistScreen(self.cfg, self.state, self.audit))

    def action_quickref(self: CockpitApp) -> None:
        from widgets.screens.quickref import QuickRefScreen

        self.push_screen(QuickRefScreen(self.cfg, self.state))

    def action_declare_incident(self: CockpitApp) -> None:
        if self.cfg.read_only:  # not bound in read-only mode; refused here too
            return
        self.focus_pane(6)
        self.query_one(IncidentPanel).action_declare()

    def action_lab_menu(self: CockpitApp) -> None:
        if self.lab is not None:
            from widgets.screens.lab_menu import open_lab_menu

            open_lab_menu(self)
