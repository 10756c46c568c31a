"""Read-only mode end to end: the real app on the real lab, every key on every pane and every
palette command pressed, and the servers' own records show that nothing was changed.

The lab's Kubernetes simulator logs every mutating request, the API simulator counts requests by
path in /metrics, and PostgreSQL shows whether any idle connection was terminated.
"""

from __future__ import annotations

import dataclasses
import inspect
import string
import time
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from cockpit.audit.log import read_entries
from tests.integration.lab_helpers import client_backends, lab_config, started_lab
from widgets.app import CockpitApp

pytestmark = [pytest.mark.slow, pytest.mark.timeout(480)]  # ~1,000 key presses: 3 min when loaded

KEYS = [
    *string.ascii_letters,
    *string.digits,
    *"/?!@#$%^&*()-_=+[]{};:'\",.<>`~|\\",
    "enter",
    "space",
    "tab",
    "shift+tab",
    "delete",
    "backspace",
    "up",
    "down",
    "ctrl+s",
    "ctrl+r",
    "ctrl+k",
    "ctrl+x",
]


def warm_requests(base_url: str) -> float:
    text = httpx.get(f"{base_url}/metrics", timeout=5).text
    return sum(
        s.value
        for f in text_string_to_metric_families(text)
        for s in f.samples
        if s.name == "http_requests_total" and s.labels.get("path") == "/api/admin/cache/warm"
    )


async def test_read_only_every_key_and_command_changes_nothing(tmp_path: Path) -> None:
    with started_lab(tmp_path, refresh_seconds=1.0) as lab:
        # a query to cancel, then something for kill-idle to kill, if it could (in this order:
        # the exhaustion may take every ordinary slot, and the slow query needs one)
        lab.drills.inject("slow-query")
        lab.drills.inject("connection-exhaustion")
        idle_before = client_backends(lab, lab.app_user)
        warms_before = warm_requests(lab.api.url)  # the lab warmed the cache once at start
        cfg = dataclasses.replace(lab_config(lab), read_only=True)
        app = CockpitApp(cfg)
        audit_path = Path(cfg.audit.path)
        async with app.run_test(size=(80, 24)) as pilot:
            deadline = time.monotonic() + 30
            while not all(app.state.samples.get(n) for n in app.sources):
                assert time.monotonic() < deadline, f"sources delivered: {app.state.samples}"
                await pilot.pause(0.1)
            for pane in ("2", "1", "6"):  # database (queries), pods, incidents
                for key in KEYS:
                    if key == "q":
                        continue  # quitting is allowed; it would end the test
                    if app.active != int(pane) - 1:  # a digit or tab moved the focus away
                        await pilot.press(pane)
                    await pilot.press(key, "y", "escape")  # y would confirm a dialog
            for command in list(app.get_system_commands(app.screen)):
                result = command.callback()
                if inspect.isawaitable(result):
                    await result
                await pilot.pause()
                await pilot.press("escape", "escape")
            await pilot.pause()
            assert app.action_requests == []

        assert lab.kube.mutating_requests == []
        assert warm_requests(lab.api.url) == warms_before
        assert client_backends(lab, lab.app_user) >= idle_before  # nothing terminated or cancelled
        events = [e["event"] for e in read_entries(audit_path)] if audit_path.exists() else []
        assert not {
            "intent",
            "result",
            "incident.ack",
            "incident.status",
            "incident.note",
            "incident.declared",
            "incident.severity",
            "checklist.run",
        } & set(events)
