"""Pilot tests of the checklist screen (pick a list, live verdicts with evidence, ticks, record
into a real audit log, export to Markdown), its read-only mode, and the quick-reference screen."""

from __future__ import annotations

from dataclasses import replace

from textual.app import App
from textual.widgets import DataTable, Static

from cockpit.audit.log import AuditLog, read_entries
from cockpit.config import ChecklistsConfig, Config
from cockpit.state import CockpitState
from tests.ui.fixtures import fixed_snapshots, make_config, wait_until
from widgets.screens.checklists import ChecklistScreen
from widgets.screens.quickref import QuickRefScreen


class Host(App):
    """The smallest host: cfg, state and audit as the cockpit app holds them."""

    def __init__(self, cfg: Config, audit: AuditLog | None) -> None:
        super().__init__()
        self.cfg, self.audit = cfg, audit
        self.state = CockpitState()
        for name, snap in fixed_snapshots().items():
            self.state.update(name, snap)


def _rows(screen: ChecklistScreen) -> dict[str, tuple[str, str]]:
    table = screen.query_one("#items", DataTable)
    return {
        str(key.value): (str(table.get_row(key)[0]), str(table.get_row(key)[2]))
        for key in table.rows
    }


async def test_pick_verify_tick_record_and_export(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))  # exports go to the state dir
    app = Host(make_config(), AuditLog(tmp_path / "audit.jsonl"))
    async with app.run_test(size=(140, 40)) as pilot:
        screen = ChecklistScreen(app.cfg, app.state, app.audit)
        app.push_screen(screen)
        await pilot.pause()
        await pilot.press("down", "enter")  # the second list: post-deployment
        await wait_until(pilot, lambda: screen.checklist is not None and not screen.verifying)
        assert screen.checklist.id == "post_deployment"
        rows = _rows(screen)
        assert rows["health"][0] == "✔ pass" and "GET /health → 200" in rows["health"][1]
        assert rows["pods"][0] == "✘ FAIL" and "CrashLoopBackOff" in rows["pods"][1]
        assert rows["endpoints"][0] == "? unknown" and "api.endpoints" in rows["endpoints"][1]
        assert rows["logged"][0] == "☐"
        # tick the last item (manual); a verified one refuses the tick
        table = screen.query_one("#items", DataTable)
        table.move_cursor(row=len(table.rows) - 1)
        await pilot.press("space")
        assert _rows(screen)["logged"][0] == "☑ done"
        table.move_cursor(row=0)
        await pilot.press("space")
        assert _rows(screen)["health"][0] == "✔ pass"
        assert any("verified by the cockpit" in n.message for n in app._notifications)
        await pilot.press("s")
        [entry] = read_entries(app.audit.path)
        assert entry["event"] == "checklist.run" and entry["checklist"] == "post_deployment"
        states = {i["id"]: (i["state"], i["by"]) for i in entry["items"]}
        assert states["logged"] == ("done", "operator") and states["health"] == ("pass", "cockpit")
        assert "recorded as run" in str(screen.query_one("#status", Static).render())
        await pilot.press("e")
        path = screen.last_export
        assert (
            path is not None
            and path.parent == (tmp_path / "state" / "predictiq-cockpit" / "exports").resolve()
        )
        text = path.read_text()
        assert (
            f"run {entry['run_id']}" in text and "| Deployment logged | ☑ done | operator |" in text
        )
        assert any(str(path) in n.message for n in app._notifications)
        await pilot.press("l")  # back to the lists
        assert screen.checklist is None and app.screen is screen
        await pilot.press("escape")
        assert app.screen is not screen


async def test_read_only_shows_and_exports_but_never_ticks_or_records(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    app = Host(make_config(read_only=True), AuditLog(tmp_path / "audit.jsonl"))
    async with app.run_test(size=(140, 40)) as pilot:
        screen = ChecklistScreen(app.cfg, app.state, app.audit, list_id="daily")
        app.push_screen(screen)
        await wait_until(pilot, lambda: screen.verdicts and not screen.verifying)
        assert _rows(screen)["certificates"][0] == "✘ FAIL"
        table = screen.query_one("#items", DataTable)
        table.move_cursor(row=0)  # a manual item
        await pilot.press("space", "s")
        assert _rows(screen)["dashboard"][0] == "☐"
        assert not app.audit.path.exists()  # monitor mode writes nothing to the trail
        shown = {key for key, active in screen.active_bindings.items() if active.binding.show}
        assert "s" not in shown and "space" not in shown and "e" in shown  # hidden from the footer
        await pilot.press("e")
        assert "draft (not recorded)" in screen.last_export.read_text()


async def test_bad_team_file_is_named_on_screen(tmp_path):
    bad = tmp_path / "ours.toml"
    bad.write_text("[lists.x]\ntitle = 3\n")
    cfg = replace(make_config(), checklists=ChecklistsConfig(path=str(bad)))
    app = Host(cfg, None)
    async with app.run_test(size=(120, 30)) as pilot:
        screen = ChecklistScreen(app.cfg, app.state, app.audit)
        app.push_screen(screen)
        await pilot.pause()
        status = str(screen.query_one("#status", Static).render())
        assert str(bad) in status and "lists.x.title" in status


async def test_quick_reference_screen(tmp_path):
    app = Host(make_config(context="prod-eu"), None)
    async with app.run_test(size=(140, 40)) as pilot:
        app.push_screen(QuickRefScreen(app.cfg, app.state))
        await pilot.pause()
        body = str(app.screen.query_one("#quickref", Static).render())
        assert "kubectl --context prod-eu -n predictiq get pods -l app=predictiq-api" in body
        assert "no [[contacts]] configured: add the on-call rota" in body
        await pilot.press("escape")
        assert not isinstance(app.screen, QuickRefScreen)
