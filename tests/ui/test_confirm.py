"""The confirmation dialogs and the action flow, driven by Textual's Pilot.

The flow tests run against the Kubernetes simulator: confirming scales the deployment for
real; cancelling changes nothing on the server and is audited.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from textual.app import App
from textual.widgets import Input, Static

from actions.base import Plan, Rbac
from cockpit.audit.log import AuditLog, read_entries
from cockpit.lab.kubesim.sim import KubeSim
from cockpit.state import CockpitState
from tests.integration.actions_helpers import make_config
from widgets.action_flow import ActionFlow
from widgets.dialogs.confirm import ConfirmDialog, ReplicaPrompt, TypeToConfirmDialog

PLAN = Plan(
    action="scale",
    title="Scale deployment/predictiq-api to 5",
    target="deployment/predictiq-api",
    effect=("deployment/predictiq-api: replicas 3 → 5",),
    command="kubectl --context lab -n predictiq scale deployment/predictiq-api --replicas=5",
    danger="medium",
    source="kubernetes",
    context="lab",
    cluster="kubesim",
    namespace="predictiq",
    rbac=Rbac(True),
)


class RefreshLog:
    """Records which sources the flow asked to refresh (the app's scheduler interface)."""

    def __init__(self) -> None:
        self.names: list[str] = []

    def refresh_now(self, name: str) -> bool:
        self.names.append(name)
        return True


class Host(App):
    """A bare app exposing what the action flow uses: cfg, state, audit, scheduler."""

    def __init__(self, cfg=None, audit: AuditLog | None = None) -> None:
        super().__init__()
        self.cfg, self.state, self.audit = cfg, CockpitState(), audit
        self.scheduler = RefreshLog()
        self.flow = ActionFlow(self, cfg, self.state, audit, self.scheduler.refresh_now)
        self.results: list[object] = []

    def ask(self, screen) -> None:
        self.push_screen(screen, self.results.append)


async def _settle(pilot, condition, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met"
        await pilot.pause(0.05)


@pytest.mark.parametrize(
    ("keys", "expected"), [(["y"], True), (["n"], False), (["escape"], False), (["enter"], False)]
)
async def test_confirm_dialog_keys_and_default_focus_on_cancel(
    keys: list[str], expected: bool
) -> None:
    app = Host()
    async with app.run_test(size=(100, 30)) as pilot:
        app.ask(ConfirmDialog(PLAN))
        await pilot.pause()
        assert app.focused is not None and app.focused.id == "cancel"
        text = " ".join(str(s.render()) for s in app.screen.query(Static))
        assert (
            "replicas 3 → 5" in text and "kubectl --context lab" in text and "RBAC: allowed" in text
        )
        assert "namespace predictiq" in text and "PRODUCTION" not in text
        await pilot.press(*keys)
        await pilot.pause()
    assert app.results == [expected]


async def test_production_is_unmistakable_and_needs_the_name_typed() -> None:
    plan = Plan(
        **{
            **PLAN.__dict__,
            "production": True,
            "context": "eu-prod-1",
            "requires_typed_name": "predictiq-api",
        }
    )
    app = Host()
    async with app.run_test(size=(100, 30)) as pilot:
        app.ask(TypeToConfirmDialog(plan))
        await pilot.pause()
        where = app.screen.query_one("#confirm-where", Static)
        assert "PRODUCTION" in str(where.render()) and where.has_class("-production")
        await pilot.press("y", "enter")  # y is only a letter here; a wrong name does not confirm
        await pilot.pause()
        assert app.results == [] and app.screen.query_one("#confirm-name", Input).value == "y"
        app.screen.query_one("#confirm-name", Input).value = ""
        await pilot.press(*"predictiq-api", "enter")
        await pilot.pause()
    assert app.results == [True]


async def test_type_to_confirm_escape_cancels() -> None:
    plan = Plan(**{**PLAN.__dict__, "requires_typed_name": "predictiq-api"})
    app = Host()
    async with app.run_test(size=(100, 30)) as pilot:
        app.ask(TypeToConfirmDialog(plan))
        await pilot.pause()
        await pilot.press(*"predictiq", "escape")
        await pilot.pause()
    assert app.results == [False]


@pytest.mark.parametrize("dialog", [ConfirmDialog, TypeToConfirmDialog])
async def test_a_long_plan_at_80x24_keeps_the_answer_on_screen(dialog) -> None:
    """Terminating 200 idle connections lists 200 lines: they scroll, the buttons stay visible."""
    effect = (
        "terminate 200 idle connections",
        *(f"  pid {10000 + i}  predictiq  predictiq-api  idle 12m" for i in range(200)),
    )
    plan = Plan(**{**PLAN.__dict__, "effect": effect, "requires_typed_name": "predictiq"})
    app = Host()
    async with app.run_test(size=(80, 24)) as pilot:
        app.ask(dialog(plan))
        await pilot.pause()
        screen = app.screen
        wanted = ["#cancel", "#confirm", "#confirm-hint"] + (
            ["#confirm-name"] if dialog is TypeToConfirmDialog else []
        )
        for selector in wanted:
            widget = screen.query_one(selector)
            region = widget.region
            assert region.height >= 1 and region.bottom <= 24, (selector, region)
            assert screen.get_widget_at(region.x + 1, region.y)[0] in (
                widget,
                *widget.query("*"),
            ), selector
        assert screen.query_one("#confirm-body").max_scroll_y > 0  # the rest scrolls
        await pilot.press("escape")
        await pilot.pause()
    assert app.results == [False]


async def test_replica_prompt_validates_the_range() -> None:
    app = Host()
    async with app.run_test(size=(100, 30)) as pilot:
        app.ask(ReplicaPrompt("predictiq-api", 3, 0, 10))
        await pilot.pause()
        await pilot.press("backspace", "9", "9", "enter")
        await pilot.pause()
        assert app.results == []
        assert "outside 0..10" in str(app.screen.query_one("#replicas-error", Static).render())
        await pilot.press("backspace", "backspace", "4", "enter")
        await pilot.pause()
    assert app.results == [4]


@pytest.fixture
def sim() -> Iterator[KubeSim]:
    with KubeSim(replicas=3, delay=0.02, hpa=None) as s:
        yield s


def _flow_app(sim: KubeSim, tmp_path: Path) -> Host:
    kubeconfig = sim.write_kubeconfig(tmp_path / "kubeconfig", context="lab")
    cfg = make_config(
        kubernetes={"context": "lab", "namespace": "predictiq", "kubeconfig": str(kubeconfig)},
        actions={"scale_max_replicas": 10},
    )
    return Host(cfg, AuditLog(tmp_path / "audit.jsonl", "ui"))


async def test_cancelling_the_confirmation_changes_nothing_and_is_audited(
    sim: KubeSim, tmp_path: Path
) -> None:
    app = _flow_app(sim, tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        worker = app.run_worker(app.flow.run("scale", {"replicas": 6}))
        await _settle(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        await pilot.press("n")
        await worker.wait()
    assert sim.mutating_requests == [] and sim.deployment()["spec"]["replicas"] == 3
    entries = read_entries(tmp_path / "audit.jsonl")
    assert [e["event"] for e in entries] == ["cancelled"] and entries[0]["params"] == {
        "replicas": 6
    }


async def test_confirming_runs_the_action_and_refreshes_the_source(
    sim: KubeSim, tmp_path: Path
) -> None:
    app = _flow_app(sim, tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        worker = app.run_worker(app.flow.run("scale", None))
        await _settle(pilot, lambda: isinstance(app.screen, ReplicaPrompt))
        await pilot.press("backspace", "5", "enter")
        await _settle(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        assert "replicas 3 → 5" in str(app.screen.query_one("#confirm-effect", Static).render())
        await pilot.press("y")
        await worker.wait()
        assert app.flow.in_flight == 0
    assert sim.deployment()["spec"]["replicas"] == 5
    assert app.scheduler.names == ["kubernetes"]
    assert [e["event"] for e in read_entries(tmp_path / "audit.jsonl")] == ["intent", "result"]


@pytest.mark.parametrize("dialog", [ConfirmDialog, TypeToConfirmDialog])
async def test_a_kill_of_46_uses_the_dialogs_height_and_arrows_scroll_to_the_command(
    dialog,
) -> None:
    """The plan body takes the screen's height (no blank lines under the buttons), and ↓ /
    PgDn scroll it straight away, down to the equivalent psql command."""
    effect = (
        "terminate 46 idle connections",
        *(f"  pid {21667 + i}  predictiq  idle 12m" for i in range(46)),
    )
    plan = Plan(**{**PLAN.__dict__, "effect": effect, "requires_typed_name": "predictiq"})
    app = Host()
    async with app.run_test(size=(80, 24)) as pilot:
        app.ask(dialog(plan))
        await pilot.pause()
        await pilot.pause()
        screen = app.screen
        body = screen.query_one("#confirm-body")
        box = screen.query_one("#confirm-box")
        assert body.region.height >= 12, body.region  # not 4 of 46 pids
        assert box.region.bottom - screen.query_one("#confirm-buttons").region.bottom <= 1
        await pilot.press("down")
        assert body.scroll_y > 0  # no tab first
        for _ in range(10):
            await pilot.press("pagedown")
        command = screen.query_one("#confirm-command")
        visible = body.scroll_y + body.scrollable_content_region.height
        assert command.virtual_region.y < visible and body.scroll_y == body.max_scroll_y
        await pilot.press("escape")
    assert app.results == [False]
