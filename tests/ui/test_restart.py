"""Restart the cockpit mid-incident (an SSH drop on a jump host): the next one shows the same
incident, same id, same clock, same notes and acknowledgement; and an action whose cockpit died
is on the line under the banner until `U`. At 80×24, driven by keys."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from dataclasses import replace
from datetime import UTC
from pathlib import Path

from rich.text import Text
from textual.widgets import Static

from cockpit.audit.log import AuditLog, read_entries
from cockpit.config import IncidentsConfig
from cockpit.durations import response_clock
from cockpit.incidents.replay import INTERRUPTED_ACK, UNKNOWN_ENDED
from tests.ui.fixtures import FixedSource, frozen_clock, make_config, wait_until
from tests.ui.test_incident_trust import EXHAUSTED
from widgets.app import CockpitApp
from widgets.banner import InterruptedNotice
from widgets.incidents.detail import IncidentDetailScreen

ROOT = Path(__file__).resolve().parents[2]


def make_app(log: Path) -> CockpitApp:
    cfg = replace(
        make_config(), incidents=IncidentsConfig(open_after_samples=1, close_after_samples=2)
    )
    return CockpitApp(
        cfg,
        sources={"database": FixedSource("database", EXHAUSTED)},
        clock=frozen_clock,
        local_tz=UTC,
        audit=AuditLog(log),  # a new session each time, as a new process would be
    )


def body(app: CockpitApp) -> str:
    return Text.from_markup(str(app.screen.query_one("#body", Static).content)).plain


async def test_a_restarted_cockpit_shows_the_same_incident_clock_ack_and_notes(
    tmp_path: Path,
) -> None:
    log = tmp_path / "audit.jsonl"
    first = make_app(log)
    async with first.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: len(first.incidents) == 1)
        incident_id = first.incidents[0].id
        await pilot.press("6", "enter")
        await wait_until(pilot, lambda: isinstance(first.screen, IncidentDetailScreen))
        await pilot.press("a")
        await pilot.press("o", *"pool leak in the API", "enter")
        await wait_until(pilot, lambda: bool(first.engine.get(incident_id).notes))
        before = first.engine.get(incident_id)
        clock_before = response_clock(first.engine.countdown(before)[0])
        text_before = body(first)
    second = make_app(log)
    async with second.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: len(second.incidents) == 1)
        # more breaching samples after the restart follow the same incident, no duplicate
        second.scheduler.refresh_now("database")
        await wait_until(pilot, lambda: second.state.samples.get("database", 0) >= 2)
        assert [i.id for i in second.engine.active()] == [incident_id]
        await pilot.press("6", "enter")
        await wait_until(pilot, lambda: isinstance(second.screen, IncidentDetailScreen))
        after = second.engine.get(incident_id)
        assert (after.detected_at, after.response_deadline) == (
            before.detected_at,
            before.response_deadline,
        )
        assert (after.acknowledged_by, after.acknowledged_at) == (
            before.acknowledged_by,
            before.acknowledged_at,
        )
        assert response_clock(second.engine.countdown(after)[0]) == clock_before
        text = body(second)
        assert incident_id in text and "pool leak in the API" in text
        assert f"acknowledged by {before.acknowledged_by}" in text
        assert text == text_before
    detected = [e for e in read_entries(log) if e["event"] == "incident.detected"]
    assert len(detected) == 1


DIED = textwrap.dedent("""
    import sys
    from cockpit.audit.log import AuditLog
    log = AuditLog(sys.argv[1])
    log.record("intent", action="rollout_restart", target="deployment/predictiq-api",
               **log.liveness())
    # the process ends here without a result (and without a clean close): as if killed
""")


async def test_an_action_whose_cockpit_died_is_under_the_banner_until_u(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    subprocess.run([sys.executable, "-c", DIED, str(log)], check=True, timeout=60, cwd=ROOT)
    app = make_app(log)
    async with app.run_test(size=(80, 24)) as pilot:
        notice = app.screen.query_one(InterruptedNotice)
        await wait_until(pilot, lambda: notice.display)
        shown = str(notice.content)
        assert "rollout_restart deployment/predictiq-api" in shown
        assert UNKNOWN_ENDED in shown
        assert shown.startswith("! [U: seen] ")  # first: a cut at 80 columns never hides the key
        assert app.screen.query_one(InterruptedNotice).region.y == 1  # right under the banner
        await pilot.press("U")
        await wait_until(pilot, lambda: not notice.display)
    events = [e["event"] for e in read_entries(log) if not e["event"].startswith("incident.")]
    assert events == ["intent", "result", INTERRUPTED_ACK]
    # seen: the next start does not show it again
    again = make_app(log)
    async with again.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert again.engine.interrupted == []
        assert not again.screen.query_one(InterruptedNotice).display
