"""The incident detail screen.

Evidence and the runbook entry (diagnosis rendered from live data, with the equivalent commands)
redraw once a second from the engine the screen is given (with the read-only flag and what to
tell after a step: it never reaches into the app). Operator keys: a acknowledge, t status,
v severity, o note, m communication template (copied with OSC 52), x / ctrl+s save it to a file,
p save the post-mortem skeleton (both in the state directory's exports/). The fixes are listed
by their keys (`k  Kill idle connections`) and those keys start them from here, on behalf of
this incident (through the `fixes` the screen is given).
"""

from __future__ import annotations

import getpass
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.markup import escape
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from cockpit.config import default_state_dir
from cockpit.durations import response_clock
from cockpit.incidents.comms import TEMPLATES, render_template
from cockpit.incidents.log_evidence import LogEvidence
from cockpit.incidents.model import STATUSES, Incident, countdown
from cockpit.incidents.runbook import render_commands, render_diagnosis
from cockpit.incidents.severity import SEVERITIES, WRITE_STEPS
from widgets.dialogs.choice import ChoiceDialog
from widgets.dialogs.text import TextDialog
from widgets.footer import StableFooter
from widgets.incidents.log_evidence import log_evidence_section, start_log_evidence

if TYPE_CHECKING:
    from cockpit.incidents.engine import IncidentEngine

COPY_WARNING = (
    "Copied via OSC 52 — your terminal may have ignored it (inside tmux it needs "
    "`set -g set-clipboard on`). Press x to save it to a file instead."
)


def operator_name() -> str:
    """The login name recorded as who acknowledged (the audit log adds the full identity)."""
    try:
        from cockpit.audit.operator import current_operator

        return str(current_operator().get("login") or getpass.getuser())
    except Exception:  # no password entry (containers): the environment's word is all we have
        return os.environ.get("USER", "operator")


def exports_dir() -> Path:
    """Where saved messages and checklist exports go: the state directory's exports/
    (~/.local/state/predictiq-cockpit/exports/), never the current directory."""
    return default_state_dir() / "exports"


def save_text(name: str, text: str) -> Path:
    """Write text to exports_dir()/name and return its full path (OSError when it cannot)."""
    directory = exports_dir()
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(text, encoding="utf-8")
    return path.resolve()


@dataclass(frozen=True)
class Fixes:
    """The key registry (to name fixes by key and title) and how to start one for an incident
    (the app's action flow): what the detail needs to offer an incident's fixes."""

    keys: Sequence[Any]  # widgets.keys.KeySpec
    start: Callable[[str, str], None]  # (action id, incident id)

    def of(self, inc: Incident) -> list[tuple[str, str, str]]:
        """(key, description, action id) of the incident's fixes this cockpit can run (none in
        read-only mode: the key registry leaves mutating actions out)."""
        out: list[tuple[str, str, str]] = []
        for action_id in inc.actions:
            spec = next((k for k in self.keys if getattr(k, "action_id", None) == action_id), None)
            if spec is not None and spec.key:  # a fix with no key is in the palette only
                out.append((str(spec.key), str(spec.description), action_id))
        return out


def evidence_value(value: object) -> str:
    """An evidence number as an operator reads it: '—' for missing, 2 decimals, k=v lists."""
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.2f}".rstrip("0").rstrip(".") if value != int(value) else f"{value:.0f}"
    if isinstance(value, dict):
        return ", ".join(f"{k} {evidence_value(v)}" for k, v in value.items()) or "—"
    if isinstance(value, list | tuple):
        return ", ".join(evidence_value(v) for v in value) or "—"
    return str(value)


class IncidentDetailScreen(ModalScreen[None]):
    """One incident: evidence, runbook entry, the actions that fix it, and the operator steps."""

    DEFAULT_CSS = """
    IncidentDetailScreen { align: center middle; }
    IncidentDetailScreen > VerticalScroll { width: 90%; height: 90%; border: thick $accent;
                                            padding: 0 1; background: $surface; }
    """
    BINDINGS = [
        Binding("escape,q", "close", "Back"),
        # short labels: at 80 columns every one of them fits in the footer
        Binding("a", "acknowledge", "Ack"),
        Binding("t", "status", "Status"),
        Binding("v", "severity", "Sev"),
        Binding("o", "note", "Note"),
        Binding("m", "template", "Msg"),
        Binding("x,ctrl+s", "save", "Save"),
        Binding("p", "postmortem", "Post-mortem"),
    ]

    def __init__(
        self,
        incident_id: str,
        engine: IncidentEngine,
        *,
        read_only: bool = False,
        on_change: Callable[[], None] | None = None,
        fixes: Fixes | None = None,
    ) -> None:
        super().__init__()
        self.fixes = fixes  # the fixes by key, and how to start one for this incident
        self.incident_id = incident_id
        self.engine = engine
        self.read_only = read_only  # a monitor: the steps that write are hidden
        self.on_change = on_change  # told after each operator step (the panel redraws)
        self.last_template: str | None = None  # the text last copied, saved by x
        self.last_kind = "update"
        self.log_evidence: LogEvidence | str | None = None  # widgets/incidents/log_evidence.py

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Static(id="body")
        yield StableFooter(fit=False)

    def on_mount(self) -> None:
        fetch = start_log_evidence(self)  # the lines the runbook greps for, fetched once
        if fetch is not None:
            self.run_worker(fetch, group="log-evidence", exit_on_error=False)
        self.refresh_body()
        self.set_interval(1.0, self.refresh_body)

    @property
    def incident(self) -> Incident:
        """The incident as the engine holds it now (open or closed)."""
        return self.engine.get(self.incident_id)

    def refresh_body(self) -> None:
        """Redraw from live data."""
        self.query_one("#body", Static).update(self.render_text(self.incident))

    def render_text(self, inc: Incident) -> str:
        """The detail as Rich markup."""
        now = self.engine.clock()
        left, overdue = countdown(inc, now)
        clock = (
            f"[bold reverse red] OVERDUE {response_clock(left)} [/]"
            if overdue
            else f"respond within {response_clock(left)}"
        )
        ack = (
            f"acknowledged by {escape(inc.acknowledged_by)} at {inc.acknowledged_at:%H:%M:%S}"
            if inc.acknowledged_by and inc.acknowledged_at
            else "not acknowledged"
        )
        out = [
            f"[b]{inc.id}  {inc.severity}  {escape(inc.title)}[/b]",
            f"{inc.status} · detected {inc.detected_at:%Y-%m-%d %H:%M:%S} UTC · {clock} · {ack}",
            f"Impact: {escape(inc.impact or 'being assessed')}",
            f"Affected: {escape(', '.join(inc.affected) or 'not yet known')}",
            "",
            "[b]Evidence[/b]",
        ]
        out += [
            f"  {escape(str(k).replace('_', ' '))}: {escape(evidence_value(v))}"
            for k, v in inc.evidence.items()
        ] or ["  none"]
        if inc.runbook:
            rb = inc.runbook
            out += ["", f"[b]Runbook: {escape(rb.title)}[/b]", "Symptoms:"]
            out += [f"  • {escape(s)}" for s in rb.symptoms]
            out += [
                "Diagnosis (live):",
                f"  {escape(render_diagnosis(rb, inc.evidence, inc.context))}",
                "Equivalent commands:",
            ]
            out += [
                f"  [dim]$[/dim] {escape(c)}"
                for c in render_commands(rb, inc.evidence, inc.context)
            ]
            out += ["Resolution:"] + [f"  • {escape(s)}" for s in rb.resolution]
            out += ["Prevention:"] + [f"  • {escape(s)}" for s in rb.prevention]
        fixes = self._fixes(inc)
        if fixes:
            out += ["", "[b]Actions that fix it[/b] (press the key here or on the main screen)"]
            out += [f"  [b]{escape(key)}[/b]  {escape(text)}" for key, text, _ in fixes]
        if inc.notes:
            out += ["", "[b]Notes[/b]"] + [
                f"  {n.at:%H:%M:%S} {escape(n.author)}: {escape(n.text)}" for n in inc.notes
            ]
        out += log_evidence_section(self)
        out += ["", "[b]Timeline[/b]"] + [
            f"  {t.at:%H:%M:%S} {t.event}: {escape(t.text)}" for t in inc.timeline
        ]
        return "\n".join(out)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Hide the steps that write in read-only mode, and on a resolved incident."""
        if action in WRITE_STEPS:
            if self.read_only:
                return False
            return self.incident.active
        return True

    def _step(self, what: str, call: Callable[..., Incident], *args: str) -> None:
        try:
            inc = call(self.incident_id, *args)
        except Exception as exc:  # audit log unwritable, incident closed meanwhile: say so
            self.notify(f"{what} failed: {exc}", severity="error")
            return
        self.notify(f"{inc.id}: {what}")
        self.refresh_body()
        self._refresh_panel()

    def _refresh_panel(self) -> None:
        if self.on_change is not None:
            self.on_change()

    def action_close(self) -> None:
        self.dismiss(None)

    def _fixes(self, inc: Incident) -> list[tuple[str, str, str]]:
        if self.fixes is None or self.read_only or not inc.active:
            return []
        return self.fixes.of(inc)

    def on_key(self, event: events.Key) -> None:
        """A fix's key starts it from here, recorded as done for this incident."""
        fix = next((f for f in self._fixes(self.incident) if f[0] == event.key), None)
        if fix is None or self.fixes is None:
            return
        event.stop()
        self.fixes.start(fix[2], self.incident_id)

    def action_acknowledge(self) -> None:
        if self.check_action("acknowledge", ()):
            self._step("acknowledged", self.engine.acknowledge, operator_name())

    def action_status(self) -> None:
        if not self.check_action("status", ()):
            return

        def resolve_anyway(yes: str | None) -> None:
            if yes == "yes":
                self._step(
                    "resolved (it reopens if detected again)",
                    self.engine.set_status,
                    "Resolved",
                    operator_name(),
                )

        def chosen(status: str | None) -> None:
            if status == "Resolved" and self.engine.still_breaching(self.incident_id):
                self.app.push_screen(
                    ChoiceDialog(
                        f"{self.incident_id} still breaches its rule. Resolve anyway? If it is "
                        "detected again soon, this same incident reopens.",
                        [("no", "No, keep it open"), ("yes", "Yes, resolve it")],
                    ),
                    resolve_anyway,
                )
            elif status:
                self._step(f"status {status}", self.engine.set_status, status, operator_name())

        self.app.push_screen(
            ChoiceDialog(
                f"Status of {self.incident_id} (now {self.incident.status})",
                [(s, s) for s in STATUSES],
            ),
            chosen,
        )

    def action_severity(self) -> None:
        if not self.check_action("severity", ()):
            return

        def chosen(severity: str | None) -> None:
            if severity:
                self._step(
                    f"severity {severity}", self.engine.set_severity, severity, operator_name()
                )

        self.app.push_screen(
            ChoiceDialog(
                f"Severity of {self.incident_id} (now {self.incident.severity})",
                [(s, s) for s in SEVERITIES],
            ),
            chosen,
        )

    def action_note(self) -> None:
        if not self.check_action("note", ()):
            return

        def entered(text: str | None) -> None:
            if text:
                self._step("note added", self.engine.add_note, text, operator_name())

        self.app.push_screen(
            TextDialog(f"Note for {self.incident_id} (start with 'Root cause:' to name it)"),
            entered,
        )

    def _entries(self) -> list[dict[str, Any]]:
        """The incident's audit entries, as the engine keeps them (no scan of the log)."""
        try:
            return self.engine.entries_of(self.incident_id)
        except Exception:  # an unreadable trail must not break the screen; templates say "none"
            return []

    def _template_text(self, kind: str) -> str:
        return render_template(
            kind,
            self.incident,
            self._entries(),
            now=self.engine.clock(),
        )

    def action_template(self) -> None:
        """Choose a communication template, copy it with OSC 52, and say it may not have worked."""

        def chosen(kind: str | None) -> None:
            if not kind:
                return
            self.last_kind, self.last_template = kind, self._template_text(kind)
            self.app.copy_to_clipboard(self.last_template)
            self.notify(f"{TEMPLATES[kind]} for {self.incident_id}: {COPY_WARNING}", timeout=10)

        self.app.push_screen(
            ChoiceDialog("Communication template", list(TEMPLATES.items())), chosen
        )

    def action_save(self) -> None:
        """Save the last chosen template (or a Status Update) to a file and show where."""
        text = self.last_template or self._template_text(self.last_kind)
        try:
            path = save_text(f"{self.incident_id}-{self.last_kind}.txt", text)
        except OSError as exc:
            self.notify(f"Not saved: {exc}", severity="error")
            return
        self.notify(f"Saved {TEMPLATES[self.last_kind]} to {path}", timeout=10)

    def action_postmortem(self) -> None:
        """Save the post-mortem skeleton (from the audit trail) and say where."""
        from cockpit.incidents.postmortem import render_postmortem

        text = render_postmortem(self.incident, self._entries())
        try:
            path = save_text(f"{self.incident_id}-postmortem.md", text)
        except OSError as exc:
            self.notify(f"Not saved: {exc}", severity="error")
            return
        self.notify(f"Saved the post-mortem of {self.incident_id} to {path}", timeout=10)
