"""Actions belong to their incident and incidents keep their identity (issue 14), at 80×24,
driven by keys on the real cockpit screen.

The database pane is fed a fixed snapshot at 95 % of max_connections (a P1 connection
exhaustion); kill-idle runs for real against the harness's PostgreSQL, on idle sessions of a
role of the test's own.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.conninfo import make_conninfo
from rich.text import Text
from textual.widgets import Static

from cockpit.audit.log import AuditLog, read_entries
from cockpit.config import DatabaseConfig, IncidentsConfig
from cockpit.incidents.postmortem import render_postmortem
from tests.ui.fixtures import FixedSource, db_snapshot, frozen_clock, make_config, wait_until
from tests.waiting import wait_for
from widgets.app import CockpitApp
from widgets.dialogs.choice import ChoiceDialog
from widgets.dialogs.confirm import ConfirmDialog, TypeToConfirmDialog
from widgets.incidents.detail import IncidentDetailScreen
from widgets.incidents.panel import IncidentPanel

_IDLE = tuple(c for c in db_snapshot().connections if c.state == "idle")
_CALM = replace(
    db_snapshot(),
    connections=_IDLE,
    longest_queries=(),
    lock_waits=(),
    top_by_mean=(),
    by_state={"idle": len(_IDLE)},
    total=len(_IDLE),
)
EXHAUSTED = replace(_CALM, total=94)  # 95 of 100 with the cockpit's own: P1, nothing else
HEALTHY = _CALM


class Role:
    """A login role of the test's own and idle sessions opened as it."""

    def __init__(self, pg: Any) -> None:
        self.pg = pg
        self.name = f"cockpit_trust_{secrets.token_hex(3)}"
        self.conns: list[psycopg.Connection] = []
        with psycopg.connect(pg.admin_url, autocommit=True, connect_timeout=5) as admin:
            admin.execute(f"CREATE ROLE {self.name} LOGIN")
            admin.execute(f'GRANT CONNECT ON DATABASE "{pg.dbname}" TO {self.name}')

    def idle(self, n: int) -> list[int]:
        for _ in range(n):
            conn = psycopg.connect(
                make_conninfo(self.pg.url, user=self.name, application_name="leaky"),
                autocommit=True,
                connect_timeout=5,
            )
            conn.execute("SELECT 1")
            self.conns.append(conn)
        return [c.info.backend_pid for c in self.conns]

    def drop(self) -> None:
        for conn in self.conns:
            conn.close()
        with psycopg.connect(self.pg.admin_url, autocommit=True, connect_timeout=5) as admin:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s",
                [self.name],
            )
            wait_for(
                lambda: (
                    not admin.execute(
                        "SELECT 1 FROM pg_stat_activity WHERE usename = %s", [self.name]
                    ).fetchall()
                ),
                10,
                what="role sessions gone",
            )
            admin.execute(f'REVOKE CONNECT ON DATABASE "{self.pg.dbname}" FROM {self.name}')
            admin.execute(f"DROP ROLE {self.name}")


@pytest.fixture
def role(pg: Any) -> Iterator[Role]:
    r = Role(pg)
    try:
        yield r
    finally:
        r.drop()


def make_app(
    tmp_path: Path, pg: Any = None, role: Role | None = None, database: Any = EXHAUSTED
) -> CockpitApp:
    """The cockpit with the database source only (the other panes say not configured)."""
    cfg = replace(
        make_config(), incidents=IncidentsConfig(open_after_samples=1, close_after_samples=2)
    )
    if pg is not None and role is not None:
        cfg = replace(
            cfg,
            database=DatabaseConfig(url=pg.url, app_user=role.name, app_database=pg.dbname),
            thresholds=replace(cfg.thresholds, idle_connection_seconds=1),
        )
    sources = {"database": FixedSource("database", database)}
    return CockpitApp(
        cfg,
        sources=sources,
        clock=frozen_clock,
        local_tz=UTC,
        audit=AuditLog(tmp_path / "audit.jsonl", "test"),
    )


def body(app: CockpitApp) -> str:
    return Text.from_markup(str(app.screen.query_one("#body", Static).content)).plain


def notes(app: CockpitApp) -> list[str]:
    return [n.message for n in app._notifications]


async def one_incident(app: CockpitApp, pilot: Any) -> str:
    await wait_until(pilot, lambda: len(app.incidents) == 1)
    return app.incidents[0].id


async def confirm(app: CockpitApp, pilot: Any) -> None:
    await wait_until(pilot, lambda: isinstance(app.screen, ConfirmDialog), timeout=10)
    screen = app.screen
    if isinstance(screen, TypeToConfirmDialog):  # a production context: the name is typed
        await pilot.press(*screen.expected, "enter")
    else:
        await pilot.press("y")


async def test_the_detail_names_fixes_by_key_and_k_there_kills_for_that_incident(
    pg: Any, role: Role, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    pids = role.idle(3)
    app = make_app(tmp_path, pg, role)
    async with app.run_test(size=(80, 24)) as pilot:
        incident_id = await one_incident(app, pilot)
        await pilot.press("6", "enter")
        await wait_until(pilot, lambda: isinstance(app.screen, IncidentDetailScreen))
        text = body(app)
        assert "k  Kill idle database connections" in text and "kill_idle" not in text
        await wait_for_idle(pg, pids)
        await pilot.press("k")
        await confirm(app, pilot)
        await wait_until(pilot, lambda: any("terminated" in n for n in notes(app)), timeout=15)
        assert isinstance(app.screen, IncidentDetailScreen)
        await pilot.press("p")  # the post-mortem, saved from the detail
        await wait_until(pilot, lambda: any("post-mortem" in n for n in notes(app)))
    acted = [
        e for e in read_entries(tmp_path / "audit.jsonl") if e["event"] in ("intent", "result")
    ]
    assert [e["event"] for e in acted] == ["intent", "result"]
    assert {e.get("incident_id") for e in acted} == {incident_id}
    saved = tmp_path / "state" / "predictiq-cockpit" / "exports" / f"{incident_id}-postmortem.md"
    taken = saved.read_text().split("## Actions taken", 1)[1].split("##", 1)[0]
    assert "kill_idle on" in taken and "plan: terminate 3 idle connections" in taken
    assert "result: ok (terminated 3" in taken


async def wait_for_idle(pg: Any, pids: list[int]) -> None:
    def idle_long_enough() -> bool:
        with psycopg.connect(pg.admin_url, autocommit=True, connect_timeout=5) as admin:
            n = admin.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE pid = ANY(%s) AND state = 'idle'"
                " AND now() - state_change > interval '1.5 seconds'",
                [pids],
            ).fetchone()[0]
        return n == len(pids)

    wait_for(idle_long_enough, 10, what="idle over the threshold")


async def test_k_on_the_main_screen_belongs_to_the_one_incident_that_lists_it(
    pg: Any, role: Role, tmp_path: Path
) -> None:
    pids = role.idle(2)
    app = make_app(tmp_path, pg, role)
    async with app.run_test(size=(80, 24)) as pilot:
        incident_id = await one_incident(app, pilot)
        await wait_for_idle(pg, pids)
        await pilot.press("k")
        await confirm(app, pilot)
        await wait_until(pilot, lambda: any("terminated" in n for n in notes(app)), timeout=15)
    entries = read_entries(tmp_path / "audit.jsonl")
    result = next(e for e in entries if e["event"] == "result")
    assert result["incident_id"] == incident_id
    assert (
        "none recorded" not in render_postmortem(incident_id, entries).split("## Actions taken")[1]
    )


async def test_resolving_a_still_breaching_incident_asks_and_a_redetection_reopens_it(
    tmp_path: Path,
) -> None:
    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        incident_id = await one_incident(app, pilot)
        await pilot.press("6", "enter")
        await wait_until(pilot, lambda: isinstance(app.screen, IncidentDetailScreen))
        await pilot.press("o", *"pool doubled", "enter")
        await pilot.press("t", "4")  # Resolved
        await wait_until(pilot, lambda: isinstance(app.screen, ChoiceDialog))
        assert "still breaches" in app.screen.title_text
        await pilot.press("2")  # yes, resolve anyway
        # the resolution is in the timeline (not "no active incident": the scheduler's next
        # breaching sample may already have reopened it by the time this looks)
        await wait_until(
            pilot,
            lambda: any(e.event == "resolved" for e in app.engine.get(incident_id).timeline),
        )
        await pilot.press("escape")
        app.scheduler.refresh_now("database")  # the rule breaches again at the next sample
        await wait_until(pilot, lambda: bool(app.engine.active()))
        [again] = app.engine.active()
        assert again.id == incident_id and again.status == "Investigating"
        assert again.timeline[-1].text == "reopened: still breaching"
        assert again.notes[0].text == "pool doubled"
        panel = app.query_one(IncidentPanel)
        assert [
            panel.coordinate_to_cell_key((i, 0)).row_key.value for i in range(panel.row_count)
        ] == [incident_id]


async def test_a_resolved_incident_stays_listed_dimmed_with_its_duration_and_opens(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    app = make_app(tmp_path)
    sources = app.sources
    async with app.run_test(size=(80, 24)) as pilot:
        incident_id = await one_incident(app, pilot)
        sources["database"].result = HEALTHY
        for _ in range(2):  # close_after_samples healthy samples close it
            n = app.state.samples.get("database", 0)
            app.scheduler.refresh_now("database")
            await wait_until(pilot, lambda n=n: app.state.samples.get("database", 0) > n)
        await wait_until(pilot, lambda: not app.engine.active())
        panel = app.query_one(IncidentPanel)
        keys = [panel.coordinate_to_cell_key((i, 0)).row_key.value for i in range(panel.row_count)]
        assert keys == ["__none__", incident_id]
        status = panel.get_cell(incident_id, "status")
        assert str(status) == "Resolved" and "dim" in str(status.style)
        assert str(panel.get_cell(incident_id, "clock")).startswith("lasted ")
        await pilot.press("6", "down", "enter")
        await wait_until(pilot, lambda: isinstance(app.screen, IncidentDetailScreen))
        assert app.screen.incident_id == incident_id and "Resolved" in body(app)
        await pilot.press("p")  # the post-mortem, from the resolved incident's detail
        saved = (
            tmp_path / "state" / "predictiq-cockpit" / "exports" / f"{incident_id}-postmortem.md"
        )
        await wait_until(pilot, saved.exists)
        text = saved.read_text()
        assert "(closed)" in text and "Database connection exhaustion" in text


async def test_the_details_say_what_is_true_an_expired_cert_and_no_running_query(
    tmp_path: Path,
) -> None:
    from tests.ui.fixtures import certs_snapshot

    app = make_app(tmp_path)
    app.sources["certificates"] = FixedSource("certificates", certs_snapshot())
    app.scheduler = app._new_scheduler()
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: len(app.incidents) >= 2)
        await pilot.press("6", "enter")  # P1s first: the expired certificate, then the database
        await wait_until(pilot, lambda: isinstance(app.screen, IncidentDetailScreen))
        seen = {app.screen.incident.rule: body(app)}
        await pilot.press("escape", "down", "enter")
        await wait_until(pilot, lambda: isinstance(app.screen, IncidentDetailScreen))
        seen[app.screen.incident.rule] = body(app)
        assert "get TLS errors now: it expired 2 days ago" in seen["certificate"]
        assert "once it expires" not in seen["certificate"]
        assert "no query running" in seen["connection_exhaustion"]
        assert "n/a s (pid n/a)" not in seen["connection_exhaustion"]


async def test_the_detail_footer_shows_every_step_at_80_columns(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await one_incident(app, pilot)
        await pilot.press("6", "enter")
        await wait_until(pilot, lambda: isinstance(app.screen, IncidentDetailScreen))
        await pilot.pause()
        footer = app.screen.query_one("Footer")
        keys = footer.query("FooterKey")
        assert {str(k.key_display) for k in keys} >= {"a", "t", "v", "o", "m", "x", "p"}
        assert all(k.region.right <= 80 for k in keys)  # none cut at the right edge
