"""The template actions' prompts and confirmations at 80×24, by keys only, against the
Kubernetes simulator: what the operator is asked, what the confirmation says (and that its answer
stays on screen), and what the server holds afterwards."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from textual.app import App
from textual.widgets import Input, Label, Static

from actions import executor
from actions.registry import ACTIONS
from cockpit.audit.log import AuditLog, read_entries
from cockpit.incidents.runbook import load_runbook
from cockpit.lab.kubesim.sim import KubeSim
from cockpit.lab.lab import api_env
from cockpit.state import CockpitState
from tests.integration.actions_helpers import make_config
from widgets.action_flow import ActionFlow
from widgets.dialogs.choice import ChoiceDialog
from widgets.dialogs.confirm import ConfirmDialog, TypeToConfirmDialog
from widgets.dialogs.text import TextDialog
from widgets.keys import key_registry


class Host(App[None]):
    """A bare app with the action flow, the built-in runbook naming the variables."""

    def __init__(self, cfg: Any, audit: AuditLog) -> None:
        super().__init__()
        self.flow = ActionFlow(
            self, cfg, CockpitState(), audit, lambda _name: None, runbook=load_runbook()
        )


@pytest.fixture
def sim() -> Iterator[KubeSim]:
    with KubeSim(replicas=3, delay=0.02, hpa=None, env=api_env(40)) as s:
        yield s


def _app(sim: KubeSim, tmp_path: Path) -> Host:
    kubeconfig = sim.write_kubeconfig(tmp_path / "kubeconfig", context="lab")
    cfg = make_config(
        kubernetes={"context": "lab", "namespace": "predictiq", "kubeconfig": str(kubeconfig)},
        actions={"rollout_timeout_seconds": 30},
    )
    return Host(cfg, AuditLog(tmp_path / "audit.jsonl", "ui"))


async def _settle(pilot: Any, condition: Any, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met"
        await pilot.pause(0.05)
    await pilot.pause()  # the dialog composed


def _text(app: App[None]) -> str:
    return "\n".join(str(w.render()) for w in app.screen.query(Static))


def _answer_on_screen(app: App[None]) -> None:
    """The buttons and the hint (and the typed-name input) are inside 80×24 and not covered."""
    screen = app.screen
    wanted = ["#cancel", "#confirm", "#confirm-hint"]
    if isinstance(screen, TypeToConfirmDialog):
        wanted.append("#confirm-name")
    for selector in wanted:
        widget = screen.query_one(selector)
        region = widget.region
        assert region.height >= 1 and region.bottom <= 24 and region.right <= 80, selector
        assert screen.get_widget_at(region.x + 1, region.y)[0] in (widget, *widget.query("*"))


async def test_set_env_from_the_runbook_variables_to_a_rollout(
    sim: KubeSim, tmp_path: Path
) -> None:
    app = _app(sim, tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        worker = app.run_worker(app.flow.run("set_env", None))
        await _settle(pilot, lambda: isinstance(app.screen, ChoiceDialog))
        options = [str(label.render()) for label in app.screen.query(Label)]
        # the runbook's variables first, with their kind; the Secret reference as such
        assert "1  RATE_LIMIT_GLOBAL = 40  (new value)" in options[1]
        assert "2  ADMIN_WHITELIST_IPS = 10.0.0.5,10.0.0.6  (add a value)" in options[2]
        assert "3  ADMIN_TOKEN = from Secret predictiq-api  (replace: name typed)" in options[3]
        await pilot.press("1")
        await _settle(pilot, lambda: isinstance(app.screen, TextDialog))
        assert "New value for RATE_LIMIT_GLOBAL (now 40)" in str(
            app.screen.query(Label).first().render()
        )
        await pilot.press(*"200", "enter")
        await _settle(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        text = _text(app)
        assert "RATE_LIMIT_GLOBAL: '40' → '200'" in text and "starts a rollout" in text
        assert "set env deployment/predictiq-api -c api RATE_LIMIT_GLOBAL=200" in text
        _answer_on_screen(app)
        await pilot.press("y")
        await worker.wait()  # through the executor, then the rollout followed to the end
    env = sim.deployment()["spec"]["template"]["spec"]["containers"][0]["env"]
    assert {"name": "RATE_LIMIT_GLOBAL", "value": "200"} in env
    events = [e["event"] for e in read_entries(tmp_path / "audit.jsonl")]
    assert events == ["intent", "result"]


async def test_adding_an_address_then_cancelling_changes_nothing(
    sim: KubeSim, tmp_path: Path
) -> None:
    app = _app(sim, tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        worker = app.run_worker(app.flow.run("set_env", None))
        await _settle(pilot, lambda: isinstance(app.screen, ChoiceDialog))
        await pilot.press("2")
        await _settle(pilot, lambda: isinstance(app.screen, TextDialog))
        await pilot.press(*"203.0.113.7", "enter")
        await _settle(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        assert "(adds 203.0.113.7)" in _text(app)
        _answer_on_screen(app)
        await pilot.press("n")
        await worker.wait()
    assert sim.mutating_requests == []
    assert [e["event"] for e in read_entries(tmp_path / "audit.jsonl")] == ["cancelled"]


async def test_replacing_a_secret_reference_needs_the_variable_typed(
    sim: KubeSim, tmp_path: Path
) -> None:
    app = _app(sim, tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        worker = app.run_worker(app.flow.run("set_env", None))
        await _settle(pilot, lambda: isinstance(app.screen, ChoiceDialog))
        await pilot.press("3")
        await _settle(pilot, lambda: isinstance(app.screen, TextDialog))
        assert app.screen.query_one(Input).password  # a secret's value is not echoed
        await pilot.press(*"hunter2", "enter")
        await _settle(pilot, lambda: isinstance(app.screen, TypeToConfirmDialog))
        assert "Type ADMIN_TOKEN to confirm" in _text(app) and "hunter2" not in _text(app)
        _answer_on_screen(app)
        await pilot.press(*"predictiq-api", "enter")  # the deployment's name is not enough
        await pilot.pause()
        assert isinstance(app.screen, TypeToConfirmDialog)
        app.screen.query_one("#confirm-name", Input).value = ""
        await pilot.press(*"ADMIN_TOKEN", "enter")
        await worker.wait()
    env = sim.deployment()["spec"]["template"]["spec"]["containers"][0]["env"]
    assert {"name": "ADMIN_TOKEN", "value": "hunter2"} in env


async def test_resources_offers_the_next_step_and_confirms_it(sim: KubeSim, tmp_path: Path) -> None:
    app = _app(sim, tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        worker = app.run_worker(app.flow.run("resources", None))
        await _settle(pilot, lambda: isinstance(app.screen, TextDialog))
        assert app.screen.query_one(Input).value == "memory=2Gi"
        await pilot.press("enter")
        await _settle(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        text = _text(app)
        assert "memory: limit 1Gi → 2Gi, request 512Mi → 1Gi" in text and "room for" in text
        _answer_on_screen(app)
        await pilot.press("y")
        await worker.wait()
    limits = sim.deployment()["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]
    assert limits["memory"] == "2Gi"


async def test_roll_back_shows_revisions_and_the_diff(sim: KubeSim, tmp_path: Path) -> None:
    app = _app(sim, tmp_path)
    ctx = app.flow._context(AuditLog(tmp_path / "setup.jsonl", "ui"))
    plan = await ACTIONS["set_env"].plan(ctx, {"set": {"LOG_LEVEL": "debug"}})
    assert (await executor.execute(ctx, ACTIONS["set_env"], plan)).ok
    async with app.run_test(size=(80, 24)) as pilot:
        worker = app.run_worker(app.flow.run("rollback", None))
        await _settle(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        text = _text(app)
        assert "revision 2 → 1" in text and "env LOG_LEVEL: 'debug' → 'info'" in text
        assert "rollout undo deployment/predictiq-api --to-revision=1" in text
        _answer_on_screen(app)
        await pilot.press("y")
        await worker.wait()
    env = sim.deployment()["spec"]["template"]["spec"]["containers"][0]["env"]
    assert {"name": "LOG_LEVEL", "value": "info"} in env


@pytest.mark.parametrize(
    ("action_id", "typed", "check"),
    [
        ("contain", "predictiq-api", lambda dep: dep["spec"]["replicas"] == 0),
        ("pause_rollout", None, lambda dep: dep["spec"]["paused"] is True),
    ],
)
async def test_contain_and_pause_confirmations(
    sim: KubeSim, tmp_path: Path, action_id: str, typed: str | None, check: Any
) -> None:
    app = _app(sim, tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        worker = app.run_worker(app.flow.run(action_id, None))
        kind = TypeToConfirmDialog if typed else ConfirmDialog
        await _settle(pilot, lambda: type(app.screen) is kind)
        _answer_on_screen(app)
        await pilot.press(*(typed or "y"))
        if typed:
            await pilot.press("enter")
        await worker.wait()
    assert check(sim.deployment())


def test_the_keys_and_palette_titles_and_none_in_read_only() -> None:
    specs = {s.action_id: s for s in key_registry(False) if s.action_id}
    titles = {
        "set_env": ("V", "Set environment…"),
        "resources": ("M", "Resources…"),
        "rollback": ("H", "Roll back…"),
        "contain": ("Z", "Contain…"),
        "pause_rollout": ("", "Pause rollout"),
        "resume_rollout": ("", "Resume rollout"),
    }
    for action_id, (key, title) in titles.items():
        assert specs[action_id].key == key and specs[action_id].description.startswith(title)
    keys = [s.key for s in key_registry(False) if s.key]
    assert len(keys) == len(set(keys)), "a key bound twice"
    assert not {s.action_id for s in key_registry(True)} & set(titles)


async def test_declaring_a_security_incident_by_its_runbook_entry() -> None:
    from widgets.dialogs.declare import DeclareDialog

    class DeclareHost(App[None]):
        def __init__(self) -> None:
            super().__init__()
            self.results: list[object] = []

    app = DeclareHost()
    async with app.run_test(size=(80, 24)) as pilot:
        app.push_screen(DeclareDialog(("security",)), app.results.append)
        await pilot.pause()
        await pilot.press(*"Admin API abused", "enter", "enter", *"users", "tab", *"secu")
        await pilot.press("enter")
        await pilot.pause()
        assert app.results == [] and "one of security" in _text(app)  # a typo is refused
        await pilot.press(*"rity", "enter")
        await pilot.pause()
    assert app.results == [("Admin API abused", "P2", "users", "security")]


@pytest.mark.parametrize(
    ("action_id", "asked"), [("set_env", ChoiceDialog), ("resources", TextDialog)]
)
async def test_the_row_under_the_cursor_is_not_taken_for_the_answer(
    sim: KubeSim, tmp_path: Path, action_id: str, asked: type
) -> None:
    # V / M pressed on the pods pane start the flow with the pod row as the selection: the
    # question is still asked (it used to plan at once and fail with "needs at least one variable")
    app = _app(sim, tmp_path)
    pod_row = {"pod": "predictiq-api-0", "uid": "u-0"}
    async with app.run_test(size=(80, 24)) as pilot:
        worker = app.run_worker(app.flow.run(action_id, pod_row))
        await _settle(pilot, lambda: isinstance(app.screen, asked))
        await pilot.press("escape")
        await worker.wait()
    assert not (tmp_path / "audit.jsonl").exists() or read_entries(tmp_path / "audit.jsonl") == []
