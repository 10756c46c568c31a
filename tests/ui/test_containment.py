"""Failures stay where they happen (issue 13): a pane that cannot draw one result says
`render error` with the log file's path and keeps its last good view, while the other panes,
the keys and the app go on; worker failures and plans built from bad data are told and logged."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import DataTable, Static

from actions.base import ActionContext, Plan
from actions.kube_common import read_deployment
from actions.restart import RestartAction
from cockpit.applog import AppLog, configure
from cockpit.audit.log import AuditLog, read_entries
from cockpit.config import KubernetesConfig
from cockpit.lab.kubesim.sim import KubeSim
from cockpit.models import DbActivity, SourceFailure, StatementStat
from tests.ui.fixtures import (
    NOW,
    cache_snapshot,
    db_snapshot,
    fixed_sources,
    frozen_clock,
    kube_snapshot,
    make_config,
    wait_until,
)
from tests.ui.test_confirm import _flow_app
from widgets.action_flow import ActionFlow
from widgets.app import CockpitApp
from widgets.dialogs.confirm import ConfirmDialog, ReplicaPrompt
from widgets.panes.api import ApiPane
from widgets.panes.cache import CachePane
from widgets.panes.certs import CertsPane
from widgets.panes.database import DatabasePane
from widgets.panes.pods import PodsPane
from widgets.panes.table import Row


class DatabasePaneWithABug(DatabasePane):
    """The database pane, with a bug that fires on the results of one database."""

    def rows(self, db: DbActivity, now: datetime) -> Iterable[Row]:
        if db.database == "lying":
            raise RuntimeError("row builder bug: lying snapshot")
        return super().rows(db, now)


class DatabasePaneWithABuggyHandler(DatabasePane):
    """The database pane, with a bug in a message handler (the cursor moved)."""

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.cursor_row > 0:
            raise KeyError("cursor handler bug")


@pytest.fixture
def app_log(tmp_path: Path) -> Iterator[AppLog]:
    log = configure(tmp_path / "state" / "cockpit.log", secrets=("s3cret-token",))
    yield log
    log.close()


def text(app: CockpitApp, source: str, part: str = ".summary") -> str:
    return str(app.panes_by_source[source].query_one(part, Static).content)


async def test_a_pane_that_cannot_draw_says_render_error_and_the_rest_goes_on(
    app_log: AppLog,
) -> None:
    sources = fixed_sources()
    app = CockpitApp(
        make_config(),
        sources=sources,
        clock=frozen_clock,
        local_tz=UTC,
        app_log=app_log,
        pane_types=(PodsPane, DatabasePaneWithABug, CachePane, CertsPane, ApiPane),
    )
    async with app.run_test(size=(80, 24)) as pilot:
        database = app.panes_by_source["database"]
        await wait_until(pilot, lambda: database.row_total == 12)
        # one result the pane cannot draw
        sources["database"].result = replace(
            db_snapshot(), database="lying", collected_at=NOW, connections=()
        )
        app.scheduler.refresh_now("database")
        await wait_until(pilot, lambda: "render error" in text(app, "database"))
        status = text(app, "database", ".status")
        assert "render error: drawing database data: RuntimeError: row builder bug" in status
        assert f"details in {app_log.path}" in status
        assert database.row_total == 12 and database.table.row_count == 12  # the last good view
        # every other pane goes on updating
        sources["cache"].result = replace(
            cache_snapshot(), hit_rate_interval=0.25, collected_at=NOW
        )
        app.scheduler.refresh_now("cache")
        await wait_until(pilot, lambda: "hit 25.0%" in text(app, "cache"))
        assert "render error" not in text(app, "cache")
        # and the keys
        await pilot.press("2")
        assert app.active_pane is database
        await pilot.press("tab", "question_mark")
        assert app.active_pane.title == "Cache" and app.screen.id != "main"
        await pilot.press("escape")
        # the next good result clears it
        sources["database"].result = replace(db_snapshot(), collected_at=NOW + timedelta(seconds=1))
        app.scheduler.refresh_now("database")
        await wait_until(pilot, lambda: "render error" not in text(app, "database"))
        assert database.row_total == 12
        await pilot.press("q")
    assert app.return_code == 0
    assert app_log.path is not None
    logged = app_log.path.read_text(encoding="utf-8")
    assert "Database pane: drawing database data" in logged
    assert "Traceback (most recent call last)" in logged and "row builder bug" in logged


async def test_a_rule_that_raises_says_render_error_on_the_incident_pane_and_the_rest_goes_on(
    app_log: AppLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cockpit.incidents import engine as engine_module
    from cockpit.incidents import rules as rules_module

    def bug(*_: object) -> list:
        raise KeyError("oom rule bug")

    patched = tuple(replace(s, check=bug) if s.rule == "oom" else s for s in rules_module.RULES)
    monkeypatch.setattr(rules_module, "RULES", patched)
    monkeypatch.setattr(engine_module, "RULES", patched)
    sources = fixed_sources()
    app = CockpitApp(
        make_config(), sources=sources, clock=frozen_clock, local_tz=UTC, app_log=app_log
    )
    async with app.run_test(size=(80, 24)) as pilot:
        incidents = app.panes[-1]
        await wait_until(pilot, lambda: "render error" in str(incidents.render_problem))
        assert "evaluating the oom rule: KeyError" in incidents.render_problem
        # the other rules ran: the fixtures' breaching data still opens their incidents
        await wait_until(pilot, lambda: any(i.rule != "oom" for i in app.incidents))
        sources["cache"].result = replace(
            cache_snapshot(), hit_rate_interval=0.25, collected_at=NOW
        )
        app.scheduler.refresh_now("cache")
        await wait_until(pilot, lambda: "hit 25.0%" in text(app, "cache"))
        await pilot.press("6", "question_mark")
        assert app.screen.id != "main"
        await pilot.press("escape", "q")
    assert app.return_code == 0
    assert app_log.path is not None and "oom rule bug" in app_log.path.read_text()


async def test_a_pane_handler_that_raises_is_contained_in_that_pane(app_log: AppLog) -> None:
    app = CockpitApp(
        make_config(),
        sources=fixed_sources(),
        clock=frozen_clock,
        local_tz=UTC,
        app_log=app_log,
        pane_types=(PodsPane, DatabasePaneWithABuggyHandler, CachePane, CertsPane, ApiPane),
    )
    async with app.run_test(size=(80, 24)) as pilot:
        database = app.panes_by_source["database"]
        await wait_until(pilot, lambda: database.row_total == 12)
        await pilot.press("2", "down")
        await wait_until(pilot, lambda: "render error" in text(app, "database", ".status"))
        assert "handling RowHighlighted: KeyError" in text(app, "database", ".status")
        await pilot.press("down", "tab")
        assert app.is_running and app.active_pane.title == "Cache"
        await pilot.press("q")
    assert app.return_code == 0
    assert app_log.path is not None and "cursor handler bug" in app_log.path.read_text()


async def test_backend_text_that_looks_like_markup_is_shown_as_it_is() -> None:
    # a PostgreSQL error and a statement quoting `[/red]`: text from a backend, not markup
    db = replace(
        db_snapshot(),
        top_by_mean=(StatementStat(9, "SELECT '[/red]' || tags[1] FROM t", 3, 30.0, 10.0, 3),),
    )
    sources = fixed_sources(
        database=db, cache=SourceFailure("cache", "connect", "ERR [/b] unknown [bold]", at=NOW)
    )
    app = CockpitApp(make_config(), sources=sources, clock=frozen_clock, local_tz=UTC)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(
            pilot,
            lambda: (
                app.state.failure("cache") is not None
                and app.panes_by_source["database"].row_total == 12
            ),
        )
        app.notify("cannot plan: [/i] closing tag")
        await pilot.pause()
        assert "ERR [/b] unknown [bold]" in text(app, "cache")
        assert "SELECT '[/red]' || tags[1]" in text(app, "database", ".statements")
        [note] = [n for n in app._notifications if "closing tag" in n.message]
        assert not note.markup  # the toast shows it as written: parsing it would raise
        assert app.is_running


async def test_a_failed_worker_is_told_and_logged_never_silent(app_log: AppLog) -> None:
    app = CockpitApp(
        make_config(), sources=fixed_sources(), clock=frozen_clock, local_tz=UTC, app_log=app_log
    )

    async def follow_up() -> None:
        raise LookupError("the rollout vanished, token s3cret-token")

    async with app.run_test(size=(80, 24)) as pilot:
        app.run_worker(follow_up(), name="rollout follow-up", exit_on_error=False)
        await wait_until(
            pilot, lambda: any("rollout follow-up failed" in n.message for n in app._notifications)
        )
        message = next(n.message for n in app._notifications if "follow-up failed" in n.message)
        assert "LookupError" in message and f"details in {app_log.path}" in message
        assert app.is_running
    assert app_log.path is not None
    logged = app_log.path.read_text(encoding="utf-8")
    assert "worker 'rollout follow-up' failed" in logged and "Traceback" in logged
    assert "s3cret-token" not in logged and "***" in logged  # the log holds no secret


@pytest.fixture
def sim() -> Iterator[KubeSim]:
    with KubeSim(replicas=3, delay=0.02, hpa=None) as s:
        yield s


class RestartReadingAnAnnotationNotThere(RestartAction):
    """The restart action with a bug: it reads an annotation the API server does not send
    before the first restart (a KeyError while planning, on live data)."""

    async def plan(self, ctx: ActionContext, selection: Mapping[str, Any] | None) -> Plan:
        dep = await read_deployment(ctx)
        template: Any = dep["spec"]
        _ = template["template"]["metadata"]["annotations"]["kubectl.kubernetes.io/restartedAt"]
        return await super().plan(ctx, selection)


async def test_a_plan_that_cannot_be_built_from_bad_data_says_why_and_runs_nothing(
    sim: KubeSim, tmp_path: Path, app_log: AppLog
) -> None:
    app = _flow_app(sim, tmp_path)
    buggy = RestartReadingAnAnnotationNotThere()
    app.flow = ActionFlow(
        app,
        app.cfg,
        app.state,
        app.audit,
        app.scheduler.refresh_now,
        log=app_log,
        lookup=lambda _id: buggy,
    )
    async with app.run_test(size=(100, 30)) as pilot:
        worker = app.run_worker(app.flow.run("restart", None))
        await worker.wait()
        await pilot.pause()
        assert not isinstance(app.screen, ConfirmDialog)  # nothing to confirm: nothing planned
        [message] = [n.message for n in app._notifications]
        assert "cannot plan, the data it needs is incomplete (KeyError" in message
        assert "nothing was run" in message and f"details in {app_log.path}" in message
    assert sim.mutating_requests == []
    assert not (tmp_path / "audit.jsonl").exists() or read_entries(tmp_path / "audit.jsonl") == []
    assert app_log.path is not None and "restart: cannot build the plan" in app_log.path.read_text()


async def test_the_api_server_gone_while_a_rollout_is_followed_is_told_not_silent(
    tmp_path: Path, app_log: AppLog
) -> None:
    # follow_rollout raises a non-ActionError (urllib3's connection error): the worker fails,
    # and the app's one handler says so (it used to end without a word)
    with KubeSim(replicas=3, delay=0.5, hpa=None) as sim:
        kubeconfig = sim.write_kubeconfig(tmp_path / "kubeconfig", context="lab")
        cfg = replace(
            make_config(),
            kubernetes=KubernetesConfig(
                context="lab", namespace="predictiq", kubeconfig=str(kubeconfig)
            ),
        )
        kube = replace(kube_snapshot(), context="lab", cluster="kubesim")
        app = CockpitApp(
            cfg,
            sources=fixed_sources(kubernetes=kube),
            clock=frozen_clock,
            local_tz=UTC,
            audit=AuditLog(tmp_path / "audit.jsonl"),
            app_log=app_log,
        )

        def said(text: str) -> bool:
            return any(text in n.message for n in app._notifications)

        async with app.run_test(size=(100, 30)) as pilot:
            await wait_until(pilot, lambda: app.state.kube is not None)
            await pilot.press("1", "r")
            await wait_until(pilot, lambda: isinstance(app.screen, ConfirmDialog), timeout=15)
            await pilot.press("y")
            await wait_until(pilot, lambda: said("rollout:"), timeout=15)
            sim.stop()  # the API server goes away mid-rollout
            await wait_until(pilot, lambda: said("action restart failed"), timeout=60)
            assert app.flow.in_flight == 0 and app.is_running
    assert app_log.path is not None and "worker 'action restart' failed" in app_log.path.read_text()


async def test_an_action_key_typed_before_the_first_is_answered_starts_nothing(
    tmp_path: Path,
) -> None:
    app = CockpitApp(
        make_config(),
        sources=fixed_sources(),
        clock=frozen_clock,
        local_tz=UTC,
        audit=AuditLog(tmp_path / "audit.jsonl"),
    )
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: app.state.kube is not None)
        app.main.action_run_action("scale")
        app.main.action_run_action("restart")  # typed ahead of the scale prompt
        await wait_until(pilot, lambda: isinstance(app.screen, ReplicaPrompt))
        assert [a for a, _ in app.action_requests] == ["scale"]
        assert any("scale: answer its confirmation first" in n.message for n in app._notifications)
        await pilot.press("escape")
        await wait_until(pilot, lambda: app.flow.preparing is None)
        app.main.action_run_action("restart")  # answered: the next action may start
        assert [a for a, _ in app.action_requests] == ["scale", "restart"]


async def test_an_error_no_boundary_caught_ends_the_app_with_one_line_and_no_secret_on_screen(
    app_log: AppLog, capfd: pytest.CaptureFixture[str]
) -> None:
    app = CockpitApp(
        make_config(), sources=fixed_sources(), clock=frozen_clock, local_tz=UTC, app_log=app_log
    )

    def escaped_bug() -> None:
        password = "s3cret-token"  # a local Textual's traceback would have printed
        raise RuntimeError(f"bug outside every boundary ({len(password)})")

    with pytest.raises(RuntimeError, match="outside every boundary"):
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_until(pilot, lambda: app.state.kube is not None)
            app.call_later(escaped_bug)
            await wait_until(pilot, lambda: not app.is_running or bool(app._exit_renderables))
    err = capfd.readouterr().err  # what the terminal got after the app (wrapped to its width)
    printed = " ".join(err.split())
    assert printed.startswith("cockpit: stopped on an unexpected error (RuntimeError: bug outside")
    assert "Traceback" not in printed and "s3cret" not in printed
    assert f"detailsin{app_log.path}" in "".join(err.split())
    assert app_log.path is not None
    logged = app_log.path.read_text()
    assert "Traceback" in logged and "escaped_bug" in logged and "s3cret-token" not in logged
