"""Read-only monitor mode in the UI: no action key is bound, shown or offered, and pressing every
key and running every palette command starts no action flow. (The server-side half of this test,
which asserts that no mutating request reaches a backend, belongs to the actions tests.)"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC

import pytest
from textual.widgets import Input, Static

from tests.ui.fixtures import fixed_sources, frozen_clock, make_config, wait_until
from widgets.app import CockpitApp
from widgets.keys import VIEW_KEYS, key_registry


@dataclass(frozen=True)
class ActionSpec:
    """The shape of an `actions.registry` entry, for a registry we control in this test."""

    id: str
    key: str
    description: str
    mutating: bool
    scope: str = "global"


SPECS = (
    ActionSpec("scale", "s", "Scale the deployment", True),
    ActionSpec("restart", "r", "Rollout restart", True),
    ActionSpec("kill_idle", "k", "Kill idle connections", True),
    ActionSpec("warm_cache", "w", "Warm cache", True),
)


def make_app(read_only: bool, specs=SPECS) -> CockpitApp:
    return CockpitApp(
        make_config(read_only=read_only),
        sources=fixed_sources(),
        clock=frozen_clock,
        local_tz=UTC,
        action_specs=specs,
    )


def every_key(app: CockpitApp) -> list[str]:
    keys = {s.key for s in VIEW_KEYS} | {s.key for s in key_registry(False, SPECS)}
    keys |= {s.key for s in key_registry(False)}  # the real registry's keys too
    return sorted(keys - {"q"})  # quit is pressed last, on purpose


async def press_everything(app: CockpitApp, pilot) -> None:
    for pane in "126":  # pods, database (scoped actions) and incidents (its own keys)
        await pilot.press(pane)
        for key in every_key(app):
            await pilot.press(key)
            while len(app.screen_stack) > 1:  # close whatever opened (help, detail)
                app.pop_screen()
                await pilot.pause()
            if isinstance(app.focused, Input):  # the filter would swallow the next keys
                await pilot.press("escape")


async def test_live_mode_action_keys_do_start_flows() -> None:
    """The control: the same presses in live mode reach the action flow."""
    app = make_app(read_only=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: len(app.state.samples) == 5)
        await pilot.press("s")
        assert app.action_requests and app.action_requests[0][0] == "scale"


async def test_read_only_binds_shows_and_offers_no_action_and_starts_no_flow() -> None:
    app = make_app(read_only=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: len(app.state.samples) == 5)
        assert not [s for s in app.keys if s.mutating]
        bound = {b.key for (_, b, _, _) in app.screen.active_bindings.values()}
        assert not bound & {"s", "r", "k", "w"}
        assert not [
            c
            for c in app.get_system_commands(app.screen)
            if str(c.callback.args[0]).startswith("run_action(")
        ]
        await pilot.press("question_mark")
        help_text = str(app.screen.query_one("#help-text", Static).content)
        assert "READ-ONLY" in help_text and "Scale the deployment" not in help_text
        await pilot.press("escape")
        assert "READ-ONLY" in str(app.screen.query_one("#banner-mode", Static).content)

        for key in ("s", "r", "k", "w", "x", "X"):
            await pilot.press(key)
        for command in list(app.get_system_commands(app.screen)):
            if command.callback.args[0] == "request_quit":
                continue
            await command.callback()
            await pilot.pause()
            while len(app.screen_stack) > 1:
                app.pop_screen()
                await pilot.pause()
        app.main.action_run_action("scale")  # even a direct call is refused
        await pilot.pause()
        assert app.action_requests == []


@pytest.mark.slow
async def test_read_only_with_the_real_action_registry() -> None:
    app = make_app(read_only=True, specs=None)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: len(app.state.samples) == 5)
        assert not [s for s in app.keys if s.mutating]
        await press_everything(app, pilot)
        assert app.action_requests == []
