"""Pilot tests of the incident panel and detail: acknowledge, status change, severity, note,
copy and save a template, declare, and the read-only monitor hiding operator steps."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from textual.app import App, ComposeResult

from cockpit.audit.log import AuditLog, read_entries
from cockpit.config import Config, IncidentsConfig
from cockpit.incidents.engine import IncidentEngine
from cockpit.state import CockpitState
from tests.unit.incident_data import T0, cache, certs, db
from widgets.incidents.detail import IncidentDetailScreen
from widgets.incidents.panel import IncidentPanel

CFG = Config(incidents=IncidentsConfig(open_after_samples=1, close_after_samples=1))


class PanelApp(App):
    """The smallest host of the panel: cfg, audit, engine, as the cockpit app provides them."""

    def __init__(self, cfg: Config, audit: AuditLog) -> None:
        super().__init__()
        self.cfg = cfg
        self.audit = audit
        self.now = [T0 + timedelta(minutes=5)]
        self.engine = IncidentEngine(cfg, audit=audit, clock=lambda: self.now[0])
        self.state = CockpitState()

    def compose(self) -> ComposeResult:
        yield IncidentPanel(self.engine, read_only=self.cfg.read_only, id="incidents")

    def feed(self, source: str, result: object) -> None:
        self.state.update(source, result)
        self.query_one(IncidentPanel).update_incidents(
            self.engine.evaluate(self.state, T0), self.now[0]
        )


def events(app: PanelApp) -> list[str]:
    return [e["event"] for e in read_entries(app.audit.path)]


async def test_panel_sorts_by_severity_and_shows_overdue(tmp_path):
    app = PanelApp(CFG, AuditLog(tmp_path / "audit.jsonl"))
    async with app.run_test(size=(120, 30)) as pilot:
        app.feed("certificates", certs(20))  # P4
        app.feed("database", db(idle=93))  # P1, detected at T0: 15 min, now T0+5 min
        panel = app.query_one(IncidentPanel)
        await pilot.pause()
        assert [i.severity for i in panel.incidents] == ["P1", "P4"]
        assert str(panel.get_cell_at((0, 4))) == "10:00"
        app.now[0] = T0 + timedelta(minutes=16)
        panel.update_incidents(app.engine.active(), app.now[0])
        assert str(panel.get_cell_at((0, 4))).startswith("OVERDUE -1:00")


async def test_acknowledge_status_note_severity_and_copy(tmp_path):
    app = PanelApp(CFG, AuditLog(tmp_path / "audit.jsonl"))
    async with app.run_test(size=(120, 40)) as pilot:
        app.feed("cache", cache(10, 90))
        [inc] = app.engine.active()
        app.query_one(IncidentPanel).focus()
        await pilot.press("enter")
        assert isinstance(app.screen, IncidentDetailScreen)
        await pilot.press("a")
        assert app.engine.get(inc.id).acknowledged_by
        await pilot.press("t", "2")  # Identified
        assert app.engine.get(inc.id).status == "Identified"
        await pilot.press("v", "1")
        assert app.engine.get(inc.id).severity == "P1"
        await pilot.press("o", *"Root cause: flush", "enter")
        assert app.engine.get(inc.id).notes[-1].text == "Root cause: flush"
        assert events(app) == [
            "incident.detected",
            "incident.ack",
            "incident.status",
            "incident.severity",
            "incident.note",
        ]
        await pilot.press("m", "2")  # Status Update
        assert "📊 INCIDENT UPDATE" in app.clipboard and "Status: Identified" in app.clipboard
        notes = [n.message for n in app._notifications]
        assert any("OSC 52" in m and "tmux" in m and "save" in m for m in notes)


async def test_save_template_to_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))  # not the current directory
    app = PanelApp(CFG, AuditLog(tmp_path / "audit.jsonl"))
    async with app.run_test(size=(120, 40)) as pilot:
        app.feed("cache", cache(10, 90))
        [inc] = app.engine.active()
        app.push_screen(IncidentDetailScreen(inc.id, app.engine))
        await pilot.pause()
        await pilot.press("m", "1", "x")
        saved = tmp_path / "state" / "predictiq-cockpit" / "exports" / f"{inc.id}-initial.txt"
        assert not (tmp_path / f"{inc.id}-initial.txt").exists()
        assert saved.read_text().startswith("🚨 INCIDENT ALERT")
        assert any(str(saved) in n.message for n in app._notifications)


async def test_declare_by_hand(tmp_path):
    app = PanelApp(CFG, AuditLog(tmp_path / "audit.jsonl"))
    async with app.run_test(size=(120, 40)) as pilot:
        app.query_one(IncidentPanel).action_declare()  # the cockpit binds `D` to this
        await pilot.pause()
        await pilot.press(*"Bets down", "enter", "1", "enter", *"EU", "enter")
        [inc] = app.engine.active()
        assert (inc.title, inc.severity, inc.declared) == ("Bets down", "P1", True)
        assert events(app) == ["incident.declared"]


async def test_read_only_hides_operator_steps(tmp_path):
    app = PanelApp(replace(CFG, read_only=True), AuditLog(tmp_path / "audit.jsonl"))
    async with app.run_test(size=(120, 40)) as pilot:
        app.feed("cache", cache(10, 90))
        [inc] = app.engine.active()
        app.query_one(IncidentPanel).action_declare()  # refused by the panel itself in read-only
        await pilot.pause()
        assert not isinstance(app.screen, IncidentDetailScreen) and len(app.screen_stack) == 1
        await pilot.press("enter", "a", "t", "1")
        assert isinstance(app.screen, IncidentDetailScreen)
        assert app.engine.get(inc.id).acknowledged_by is None
        assert app.engine.get(inc.id).status == "Investigating"
        assert events(app) == ["incident.detected"]
        await pilot.press("m", "3")  # copying a message changes nothing: still allowed
        assert "✅ INCIDENT RESOLVED" in app.clipboard
