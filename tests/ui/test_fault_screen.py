"""Issue 20 on the screen at 80x24: a failing source leads with the short cause and Enter shows
the whole error; a 253-character pod name is cut in the middle and Status stays on screen."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC

from cockpit.models import SourceFailure
from tests.ui.fixtures import (
    certs_snapshot,
    fixed_sources,
    frozen_clock,
    kube_snapshot,
    snapshot_config,
    wait_until,
)
from widgets.app import CockpitApp
from widgets.screens.detail import DetailScreen

LONG_NAME = "predictiq-api-" + "x" * 231 + "-ünïcode"
URLLIB3_NOISE = (
    "HTTPConnection(host='127.0.0.1', port=46101): Failed to establish a new "
    "connection: [Errno 111] Connection refused"
)


def _app(**overrides: object) -> tuple[CockpitApp, dict]:
    sources = fixed_sources(**overrides)  # type: ignore[arg-type]
    return CockpitApp(snapshot_config(), sources=sources, clock=frozen_clock, local_tz=UTC), sources


async def test_a_refused_api_server_leads_with_the_cause_and_enter_shows_the_detail() -> None:
    app, sources = _app()
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: len(app.state.samples) == 5)
        sources["kubernetes"].result = SourceFailure(
            "kubernetes",
            "GET /version",
            "connection refused",
            detail=f"MaxRetryError: {URLLIB3_NOISE}",
        )
        app.scheduler.refresh_now("kubernetes")
        await wait_until(pilot, lambda: app.state.failure("kubernetes") is not None)
        pane = app.panes_by_source["kubernetes"]
        assert pane.status_text.endswith("— GET /version: connection refused")
        assert len(pane.status_text) <= 80
        await pilot.press("1", "enter")  # on a row of a stale pane: the row, then why it is stale
        assert isinstance(app.screen, DetailScreen)
        assert "Failed to establish a new connection: [Errno 111]" in app.screen.body
        assert "reason: connection refused" in app.screen.body


async def test_a_253_character_pod_name_is_cut_in_the_middle_and_shown_whole_in_the_detail() -> (
    None
):
    kube = kube_snapshot()
    pods = (replace(kube.pods[0], name=LONG_NAME), *kube.pods[1:])
    app, _ = _app(kubernetes=replace(kube, pods=pods))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: len(app.state.samples) == 5)
        pane = app.panes_by_source["kubernetes"]
        await pilot.press("1")
        row = pane.table.get_row(pods[0].uid)
        shown = str(row[0])
        assert (
            shown.startswith("predictiq-api-xxxx") and shown.endswith("-ünïcode") and "…" in shown
        )
        assert len(shown) < 40
        table = pane.table
        columns = table.ordered_columns
        status_at = sum(
            c.get_render_width(table)
            for c in columns[: [str(c.label) for c in columns].index("Status")]
        )
        assert status_at + len("Running") < 80, status_at  # Status (and Ready) stay on screen
        pane.table.move_cursor(row=pane.table.get_row_index(pods[0].uid))
        await pilot.press("enter")
        assert isinstance(app.screen, DetailScreen) and LONG_NAME in app.screen.title_text


async def test_a_certificate_whose_server_wants_a_client_cert_is_not_counted_ok() -> None:
    certs = certs_snapshot()
    first = replace(certs.certificates[0], client_cert_requested=True)
    app, _ = _app(certificates=replace(certs, certificates=(first, *certs.certificates[1:])))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: len(app.state.samples) == 5)
        pane = app.panes_by_source["certificates"]
        assert pane.summary_text.startswith("0/3 ok")
        assert "1 asked for a client certificate" in pane.summary_text
        assert (
            str(pane.table.get_cell("api.predictiq.example:443", "status"))
            == "ok, wants client cert"
        )
        await pilot.press("4")
        pane.table.move_cursor(row=pane.table.get_row_index("api.predictiq.example:443"))
        await pilot.press("enter")
        assert isinstance(app.screen, DetailScreen)
        assert "server asked for a client certificate" in app.screen.body
