"""The checklist screen (key `c`): pick a runbook list, watch its verifiable items checked live with
evidence, tick the rest, record the run in the audit trail, export it as Markdown.

Keys: enter picks a list; r re-verifies; space ticks/unticks the selected item (manual items, and
items the cockpit could not verify) wherever the focus is; s records the run ("checklist.run");
e exports the run (the recorded one, else a draft) to a Markdown file in the state directory;
B backs the database up (a list with the backup item; the
action's own confirmation), then re-verifies; l goes back to the lists; g opens the quick reference;
escape closes the screen. Read-only mode: lists can be viewed, verified and exported, but ticking
and recording are hidden — monitor mode writes nothing, not even the audit trail.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.markup import escape
from textual.screen import Screen
from textual.widgets import DataTable, OptionList, Static
from textual.widgets.option_list import Option
from textual.worker import Worker

from cockpit.audit.log import AuditLog
from cockpit.audit.operator import operator_for_entry
from cockpit.checklists.checklists import (
    DONE,
    RUN_EVENT,
    Checklist,
    ItemResult,
    item_results,
    load_checklists,
    record_run,
    render_checklist_markdown,
    summarize,
    verify_checklist,
)
from cockpit.checklists.verifiers import Verdict
from cockpit.config import Config, ConfigError
from cockpit.models import utcnow
from cockpit.state import CockpitState
from widgets.footer import StableFooter
from widgets.incidents.detail import save_text

STYLE = {
    "pass": "bold green",
    "fail": "bold red",
    "unknown": "yellow",
    DONE: "green",
    "open": "dim",
}
MARK = {"pass": "✔ pass", "fail": "✘ FAIL", "unknown": "? unknown", DONE: "☑ done", "open": "☐"}
WRITES = {"tick", "record"}


class ChecklistScreen(Screen[None]):
    """The runbook's checklists, verified against the live state."""

    DEFAULT_CSS = """
    ChecklistScreen #lists { height: auto; max-height: 12; border: round $accent; }
    ChecklistScreen #items { height: 1fr; }
    ChecklistScreen #status { height: auto; padding: 0 1; }
    """
    BINDINGS = [
        Binding("escape", "close", "Close"),
        Binding("l", "back", "Lists"),
        Binding("r", "verify", "Re-verify"),
        # priority: a tick must not need a `tab` into the list first
        Binding("space", "tick", "Tick", priority=True),
        Binding("s", "record", "Record run"),
        Binding("e", "export", "Export"),
        Binding("B", "backup", "Back up the database"),
        Binding("g", "quickref", "Quick ref"),
    ]

    def __init__(
        self,
        cfg: Config,
        state: CockpitState,
        audit: AuditLog | None = None,
        list_id: str | None = None,
        backup: Callable[[], Awaitable[object]] | None = None,
    ) -> None:
        super().__init__()
        self.cfg, self.state, self.audit = cfg, state, audit
        self.backup = backup  # runs "Back up the database" (not in read-only mode), then re-verify
        self.error: str | None = None
        try:
            self.lists = load_checklists(cfg.checklists.path).lists
        except ConfigError as exc:
            self.lists, self.error = {}, str(exc)
        self.initial = list_id
        self.checklist: Checklist | None = None
        self.verdicts: dict[str, Verdict] = {}
        self.verifying = False
        self.ticked: set[str] = set()
        self.recorded: dict[str, Any] | None = None
        self.last_export: Path | None = None

    def compose(self) -> ComposeResult:
        yield OptionList(
            *(
                Option(
                    f"{c.title}  ({len(c.items)} items, "
                    f"{sum(1 for i in c.items if i.check)} verified live)",
                    id=c.id,
                )
                for c in self.lists.values()
            ),
            id="lists",
        )
        table: DataTable[Any] = DataTable(id="items", cursor_type="row", zebra_stripes=True)
        table.add_columns("state", "item", "evidence")
        yield table
        yield Static(id="status")
        yield StableFooter(fit=False)

    def on_mount(self) -> None:
        if self.error:
            self._status(f"[red]{escape(self.error)}[/red]")
        elif self.initial is not None and self.initial in self.lists:
            self.open_list(self.initial)
        else:
            self._status("Pick a checklist (enter).")
            self.query_one("#lists", OptionList).focus()

    # -- state ------------------------------------------------------------------------------

    @property
    def items(self) -> list[ItemResult]:
        """The current list's items with their states now."""
        return item_results(self.checklist, self.verdicts, self.ticked) if self.checklist else []

    def open_list(self, list_id: str) -> None:
        """Show one list and start verifying it."""
        self.checklist, self.verdicts, self.ticked, self.recorded = (
            self.lists[list_id],
            {},
            set(),
            None,
        )
        self._redraw()
        self.query_one("#items", DataTable).focus()
        self.action_verify()

    def _status(self, text: str) -> None:
        self.query_one("#status", Static).update(text)

    def _redraw(self) -> None:
        table = self.query_one("#items", DataTable)
        row = table.cursor_row
        table.clear()
        for item in self.items:
            state = item.state
            if item.check and not self.verdicts and self.verifying:
                state = "checking"
            table.add_row(
                Text(MARK.get(state, "… checking"), style=STYLE.get(state, "dim")),
                Text(item.text),
                Text(item.evidence),
                key=item.id,
            )
        if self.items:
            table.move_cursor(row=min(row, len(self.items) - 1))
        counts = summarize(self.items)
        where = f"[b]{escape(self.checklist.title)}[/b]: " if self.checklist else ""
        done = (
            "recorded as run " + str(self.recorded.get("run_id"))
            if self.recorded
            else "not recorded"
        )
        self._status(
            where
            + ", ".join(f"{n} {s}" for s, n in counts.items())
            + f" · {done}"
            + (" · verifying…" if self.verifying else "")
        )

    # -- actions ----------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Read-only mode hides ticking and recording; list actions need a list."""
        if action in WRITES and self.cfg.read_only:
            return False
        if action in WRITES | {"verify", "export", "back"}:
            return self.checklist is not None
        if action == "backup":
            return (
                self.backup is not None
                and not self.cfg.read_only
                and any(i.check == "backup_completed" for i in self.items)
            )
        return True

    def action_backup(self) -> None:
        if self.check_action("backup", ()):
            self.run_worker(
                self._backup(), group="checklist-backup", exclusive=True, exit_on_error=False
            )

    async def _backup(self) -> None:
        assert self.backup is not None
        await self.backup()
        self.action_verify()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        if event.option.id:
            self.open_list(event.option.id)

    def action_verify(self) -> None:
        if self.checklist is None or self.verifying:
            return
        self.verifying = True
        self._redraw()
        self.run_worker(
            self._verify(self.checklist), group="checklist", exclusive=True, exit_on_error=False
        )

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        # workers tell the node that started them: pass it on to the app's one handler
        self.app.post_message(Worker.StateChanged(event.worker, event.state))

    async def _verify(self, checklist: Checklist) -> None:
        try:
            verdicts = await verify_checklist(checklist, self.state, self.cfg)
        except Exception as exc:  # a verifier bug must not take the screen down
            self.notify(f"verification failed: {exc}", severity="error")
            verdicts = {}
        finally:
            self.verifying = False
        if checklist is self.checklist:
            self.verdicts = verdicts
            self.recorded = None  # new evidence: a new run
            self._redraw()

    def action_tick(self) -> None:  # not `toggle`: DOMNode.action_toggle(attribute) exists
        if not self.check_action("tick", ()):
            return
        table = self.query_one("#items", DataTable)
        if not self.items:
            return
        item = self.items[table.cursor_row]
        if item.by == "cockpit":
            self.notify(
                f"{item.text}: verified by the cockpit ({item.state}); fix it and press r",
                severity="warning",
            )
            return
        self.ticked ^= {item.id}
        self.recorded = None
        self._redraw()

    def action_record(self) -> None:
        if not self.check_action("record", ()) or self.checklist is None:
            return
        if self.verifying:
            self.notify("still verifying; record when the checks are done", severity="warning")
            return
        if self.audit is None:
            self.notify("no audit log: the run cannot be recorded", severity="error")
            return
        try:
            self.recorded = record_run(self.audit, self.checklist, self.items)
        except Exception as exc:  # AuditError and friends: say so, keep the screen
            self.notify(f"run not recorded: {exc}", severity="error")
            return
        self.notify(
            f"{self.checklist.title} run {self.recorded['run_id']} recorded in the audit trail"
        )
        self._redraw()

    def draft_entry(self) -> dict[str, Any]:
        """The run as an audit entry would hold it, for exporting before (or without) recording."""
        assert self.checklist is not None
        return {
            "event": RUN_EVENT,
            "run_id": "draft (not recorded)",
            "checklist": self.checklist.id,
            "title": self.checklist.title,
            "time": utcnow().isoformat().replace("+00:00", "Z"),
            "operator": operator_for_entry(),
            "items": [asdict(i) for i in self.items],
            "summary": summarize(self.items),
        }

    def action_export(self) -> None:
        if self.checklist is None:
            return
        entry = self.recorded or self.draft_entry()
        stamp = utcnow().strftime("%Y%m%d-%H%M%S")
        try:
            path = save_text(
                f"checklist-{self.checklist.id}-{stamp}.md", render_checklist_markdown(entry)
            )
        except OSError as exc:
            self.notify(f"Not exported: {exc}", severity="error")
            return
        self.last_export = path
        self.notify(f"Exported to {path}", timeout=10)
        self._status(f"Exported to {escape(str(path))}")

    def action_back(self) -> None:
        """Back to the lists (`l`)."""
        if self.checklist is not None:
            self.checklist, self.initial = None, None
            self.query_one("#items", DataTable).clear()
            self._status("Pick a checklist (enter).")
            self.query_one("#lists", OptionList).focus()

    def action_close(self) -> None:
        """Back to the cockpit (escape), from a list or from the picker."""
        self.dismiss(None)

    def action_quickref(self) -> None:
        """The quick reference, over the checklist (`g`, as on the main screen)."""
        from widgets.screens.quickref import QuickRefScreen

        self.app.push_screen(QuickRefScreen(self.cfg, self.state))
