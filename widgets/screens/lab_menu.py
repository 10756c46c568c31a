"""The demo's lab menu: inject and clear drills from inside the cockpit (only on a lab).

`open_lab_menu(app, drills)` pushes the menu. Enter on a drill injects it, or clears it when it is
active; the work runs in a thread (connection-exhaustion opens ~50 connections) and the result comes
back as a notification. Escape or `L` closes the menu. The states follow the lab once a second (a
drill cleared elsewhere, or ended by itself, stops showing ACTIVE), and the list scrolls inside
the box so every drill, and the highlighted one, stays reachable at 80×24.
"""

from __future__ import annotations

from typing import Any

from textual import work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.notifications import SeverityLevel
from textual.screen import ModalScreen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option
from textual.worker import Worker

from cockpit.lab.drills import DRILLS, DrillRunner


class LabMenu(ModalScreen[None]):
    """The drill list with each drill's state, description and fix."""

    BINDINGS = [Binding("escape,L", "close", "Close")]
    DEFAULT_CSS = """
    LabMenu { align: center middle; }
    #lab-menu-box { width: 90%; max-width: 110; height: 90%;
                    border: round $warning; background: $surface; padding: 0 1; }
    #lab-menu-help { height: auto; }
    #lab-menu-drills { height: 1fr; }
    """

    def __init__(self, drills: DrillRunner) -> None:
        super().__init__(id="lab-menu")
        self.drills = drills
        self._busy = False
        self._shown: frozenset[str] = frozenset()  # the drills shown as active

    def on_mount(self) -> None:
        self.set_interval(1.0, self._follow_lab)

    def _follow_lab(self) -> None:
        if frozenset(self.drills.active()) != self._shown:
            self.refresh_options()

    def compose(self) -> ComposeResult:
        with Vertical(id="lab-menu-box") as box:
            box.border_title = "Lab drills (demo only)"
            yield Static(
                "enter: inject, or clear an active drill   escape: close", id="lab-menu-help"
            )
            yield OptionList(*self._options(), id="lab-menu-drills")

    def _options(self) -> list[Option]:
        active = frozenset(self.drills.active())
        self._shown = active
        return [
            Option(
                f"{'[b red]ACTIVE[/]' if d.name in active else '      '}  [b]{d.name}[/b]"
                f"  {d.description}\n          fix: {d.fix}",
                id=d.name,
            )
            for d in DRILLS
        ]

    def refresh_options(self) -> None:
        """Redraw the states, keeping the highlighted drill."""
        options = self.query_one("#lab-menu-drills", OptionList)
        highlighted = options.highlighted
        options.clear_options()
        options.add_options(self._options())
        options.highlighted = highlighted
        if highlighted is not None:
            options.scroll_to_highlight()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        if self._busy or event.option.id is None:
            return
        self._busy = True
        self.toggle(event.option.id, event.option.id in self.drills.active())

    @work(thread=True, exclusive=True, group="lab-drill", exit_on_error=False)
    def toggle(self, name: str, active: bool) -> None:
        """Inject or clear off the event loop; report back on it."""
        try:
            detail = self.drills.clear(name) if active else self.drills.inject(name)
            self.app.call_from_thread(self._done, detail, "information")
        except Exception as exc:  # the operator sees why the drill failed
            self.app.call_from_thread(self._done, f"{name}: {exc}", "error")

    def _done(self, message: str, severity: SeverityLevel) -> None:
        self._busy = False
        self.app.notify(message, title="lab", severity=severity, timeout=6)
        if self.is_attached:
            self.refresh_options()

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        # workers tell the node that started them: pass it on to the app's one handler
        self.app.post_message(Worker.StateChanged(event.worker, event.state))

    def action_close(self) -> None:
        self.dismiss(None)


def open_lab_menu(app: App[Any], drills: DrillRunner | None) -> None:
    """Push the lab menu when the app runs on a lab (its drills); otherwise say there is none."""
    if drills is None:
        app.notify("no lab: the lab menu exists only in `cockpit demo`", severity="warning")
        return
    app.push_screen(LabMenu(drills))
