"""The pods pane's Disk% at 80×24 with pod names as long as a real deployment's, coloured at the
disk rule's thresholds, and the pod detail's per-volume breakdown; fed by fixed snapshots."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, timedelta

from textual.widgets import DataTable, Static

from cockpit.config import ThresholdsConfig
from cockpit.models import DiskStatus, KubeSnapshot, PodDisk, VolumeUsage
from tests.ui.fixtures import (
    NOW,
    fixed_sources,
    frozen_clock,
    kube_snapshot,
    make_config,
    wait_until,
)
from widgets.app import CockpitApp
from widgets.screens.detail import DetailScreen

GI = 1024**3
DOWN = "node-2"
REASON = "HTTP 503 Service Unavailable: error trying to reach service: dial tcp: refused"


def disk(node: str, data_used: float, stale: bool = False) -> PodDisk:
    capacity = 10 * GI
    return PodDisk(
        node=node,
        read_at=NOW - timedelta(seconds=20),
        volumes=(
            VolumeUsage("ephemeral-storage", GI // 5, 100 * GI, 70 * GI, ephemeral=True),
            VolumeUsage(
                "data",
                int(capacity * data_used),
                capacity,
                int(capacity * (1 - data_used)),
                pvc="claim-of-data",
            ),
            VolumeUsage("kube-api-access-x1", 12288, 31 * GI, 31 * GI - 12288),
        ),
        stale=stale,
    )


def snapshot(status: DiskStatus, with_figures: bool = True) -> KubeSnapshot:
    """The fixture's pods renamed as a Deployment names them (30 characters), with disk use:
    the first at 91 % (over disk_percent), the one on the unread node at 97 % (last read)."""
    base = kube_snapshot()
    pods = []
    for i, pod in enumerate(base.pods):
        used = {0: 0.91, 1: 0.97}.get(i, 0.30)  # the second pod runs on DOWN
        figures = disk(pod.node, used, stale=pod.node == DOWN) if with_figures else None
        pods.append(replace(pod, name=f"predictiq-api-7d9f8c6b5d-{i:05d}", disk=figures))
    return replace(base, pods=tuple(pods), disk=status)


def make_app(kube: KubeSnapshot) -> CockpitApp:
    cfg = replace(make_config(), thresholds=ThresholdsConfig(disk_percent=90.0))
    return CockpitApp(cfg, sources=fixed_sources(kubernetes=kube), clock=frozen_clock, local_tz=UTC)


def lines(table: DataTable) -> list[str]:
    return [table.render_line(y).text for y in range(min(table.size.height, table.row_count + 1))]


def cell_style(app: CockpitApp, row: int) -> str:
    pane = app.panes_by_source["kubernetes"]
    return pane.table.get_row_at(row)[pane.table.get_column_index("disk")].style


def pane_text(app: CockpitApp) -> str:
    pane = app.panes_by_source["kubernetes"]
    return "\n".join(str(s.content) for s in pane.query(Static))


async def test_disk_column_fits_80x24_coloured_at_the_thresholds_and_marks_unread_nodes():
    status = DiskStatus(
        read_at=NOW, nodes_read=("node-0", "node-1"), nodes_failed={DOWN: REASON}, note=None
    )
    app = make_app(snapshot(status))
    async with app.run_test(size=(80, 24)) as pilot:
        pane = app.panes_by_source["kubernetes"]
        await wait_until(pilot, lambda: pane.table.row_count == 5 and pane.table.size.width > 0)
        await pilot.press("1")
        await pilot.pause()
        table = pane.table
        shown = lines(table)
        assert table.max_scroll_x == 0, shown  # fits: nothing ends at the right edge
        assert all(label in shown[0] for label in ("Pod", "Status", "Disk%")), shown[0]
        assert "predictiq-api-7d9f8c6b5d-00000" in shown[1] and shown[1].rstrip().endswith("91")
        assert shown[2].rstrip().endswith("97?")  # its node was not read: the last figure
        assert shown[3].rstrip().endswith("30") and shown[5].rstrip().endswith("30?")
        # the thresholds come from the config: 91 % is over disk_percent = 90, under 95
        assert "yellow" in cell_style(app, 0) and "red" not in cell_style(app, 0)
        assert "bold red" in cell_style(app, 1) and "dim" in cell_style(app, 1)
        assert cell_style(app, 2) == ""
        text = pane_text(app)
        assert f"disk: not read from {DOWN} — HTTP 503" in text, text
        assert "disk 97%" in text  # the summary line, seen when the pane is folded


async def test_the_pod_detail_breaks_disk_use_down_by_volume():
    status = DiskStatus(read_at=NOW, nodes_read=("node-0", "node-1"), nodes_failed={DOWN: REASON})
    app = make_app(snapshot(status))
    async with app.run_test(size=(80, 24)) as pilot:
        pane = app.panes_by_source["kubernetes"]
        await wait_until(pilot, lambda: pane.table.row_count == 5)
        await pilot.press("1", "down", "enter")  # the pod on the unread node
        await wait_until(pilot, lambda: isinstance(app.screen, DetailScreen))
        assert isinstance(app.screen, DetailScreen)
        text = app.screen.body
        assert f"Disk (kubelet summary of {DOWN}, read " in text
        assert f"not read since: {REASON}" in text
        assert "  ephemeral-storage: 30 % full, 204.8M used, 70.0G free of 100.0G" in text
        assert "  data: 97 % full, 9.7G used, 307.2M free of 10.0G" in text, text
        assert "    claim claim-of-data" in text
        assert "kube-api-access-x1: 0 % full" in text
        assert all(len(line) <= 76 for line in text.splitlines() if "full" in line)  # no wrap
        await pilot.press("escape")
        assert not isinstance(app.screen, DetailScreen)


async def test_a_denied_node_proxy_is_a_note_not_a_failure():
    status = DiskStatus(read_at=NOW, note="disk usage needs nodes/proxy")
    app = make_app(snapshot(status, with_figures=False))
    async with app.run_test(size=(80, 24)) as pilot:
        pane = app.panes_by_source["kubernetes"]
        await wait_until(pilot, lambda: pane.table.row_count == 5)
        await pilot.press("1")
        await pilot.pause()
        text = pane_text(app)
        assert "disk: disk usage needs nodes/proxy" in text and "stale" not in text, text
        assert all(line.rstrip().endswith("-") for line in lines(pane.table)[1:]), lines(pane.table)
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, DetailScreen))
        assert "Disk: disk usage needs nodes/proxy" in app.screen.body
