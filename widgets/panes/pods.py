"""Pods pane: the deployment's rollout line, a CPU trend, and one row per pod keyed by its uid."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from textual.app import ComposeResult
from textual.widgets import Static

from cockpit.durations import duration
from cockpit.models import DiskStatus, KubeSnapshot, PodDisk, PodInfo
from widgets.paint import paint
from widgets.panes.common import Cell, middle, number, samples, size, spark
from widgets.panes.table import Row, TablePane

NAME_WIDTH = 36  # cells of the Pod column: longer names are cut in the middle (full in the detail)

# kubectl's longer reasons, in a short form that still says which one it is (the detail view
# and the filter keep the full word)
SHORT_STATUS = {
    "CrashLoopBackOff": "CrashLoop",
    "ContainerCreating": "Creating",
    "ImagePullBackOff": "ImagePull",
    "ErrImagePull": "ErrImage",
    "CreateContainerConfigError": "ConfigErr",
    "CreateContainerError": "CreateErr",
    "PodInitializing": "Init",
    "ContainerStatusUnknown": "Unknown",
}
STATUS_WIDTH = 11  # "Terminating", the longest word shown whole


def pod_status(pod: PodInfo) -> str:
    """What a pod is doing, in kubectl's words: the telling reason, else the phase."""
    if pod.deleting:
        return "Terminating"
    return pod.reason or pod.phase


def short_status(status: str) -> str:
    """The status as the table shows it: never cut into something ambiguous (`CrashL…`)."""
    return SHORT_STATUS.get(status, status)


def _status_style(pod: PodInfo) -> str:
    status = pod_status(pod)
    if status in ("Running", "Succeeded") and pod.ready == pod.total:
        return ""
    initializing = status.startswith("Init:") and status[5:6].isdigit()  # Init:1/2, not Init:Error
    if status in ("Pending", "ContainerCreating", "Terminating") or initializing:
        return "yellow"
    return "bold red"


class PodsPane(TablePane[KubeSnapshot]):
    """Pods matching the selector, with readiness, restarts and usage against limits."""

    source = "kubernetes"
    title = "Pods"
    number = 1
    COLUMNS = (
        ("name", "Pod"),
        ("status", "Status"),
        ("ready", "Ready"),
        ("restarts", "Restarts"),
        ("cpu", "CPU%"),
        ("mem", "Mem%"),
        ("disk", "Disk%"),
        ("age", "Age"),
        ("node", "Node"),
    )
    MONITOR_COLUMNS = ("name", "status", "ready", "restarts")
    DEFAULT_SORT = ("name", False)
    # long pod names in a 53-column grid pane: the summary line says how many are ready. Disk%
    # outlasts CPU%: the CPU rule is deployment-wide (the summary line's `cpu 25%`), a full
    # volume is one pod's (at 80 columns: Pod, Status, Ready, Restarts, Disk%)
    DROP_FIRST = ("node", "mem", "age", "cpu", "disk", "restarts", "ready")
    WIDTHS = {"status": STATUS_WIDTH}
    # when the Disk% column turns yellow / red: the app sets them from [thresholds]
    disk_percent = 85.0
    disk_critical_percent = 95.0

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        # uid -> (pod, its cells but the age, age text, its row)
        self._row_cache: dict[str, tuple[PodInfo, dict[str, Cell], str, Row]] = {}

    def compose_body(self) -> ComposeResult:
        yield Static(classes="rollout")
        yield from self.compose_table()

    def summarize(self, snapshot: KubeSnapshot, trends: dict[str, list[float]]) -> str:
        restarts = sum(p.restarts for p in snapshot.pods)
        bad = sum(1 for p in snapshot.pods if _status_style(p) == "bold red")
        text = f"{snapshot.ready_pods}/{len(snapshot.pods)} ready"
        if bad:
            text += f" · {bad} failing"
        if restarts:
            text += f" · {restarts} restarts"
        cpu = trends.get("kube.cpu_percent") or []
        if cpu:
            text += f" · cpu {cpu[-1]:.0f}% {spark(samples(cpu), 8)}"
        fullest = max((p.disk.percent or 0.0 for p in snapshot.pods if p.disk), default=0.0)
        if fullest >= self.disk_percent:  # a disk filling up shows on the one-line summary
            text += f" · disk {fullest:.0f}%"
        return text

    def render_body(
        self, snapshot: KubeSnapshot, now: datetime, trends: dict[str, list[float]]
    ) -> None:
        d = snapshot.deployment
        lines = []
        if d is not None:
            state = "PAUSED · " if d.paused else ""
            lines.append(
                f"{d.name}: {state}{d.ready}/{d.desired} ready, {d.updated} updated, "
                f"rollout {d.rollout}"
                + (f" (HPA {d.hpa.min_replicas}-{d.hpa.max_replicas})" if d.hpa else "")
            )
        cpu = trends.get("kube.cpu_percent") or []
        if cpu:
            lines.append(f"CPU {cpu[-1]:5.1f}% of limit  {spark(samples(cpu), 30)}")
        notes = [
            n
            for n in (
                snapshot.watch_error and f"watch: {snapshot.watch_error}",
                snapshot.metrics_error and f"metrics: {snapshot.metrics_error}",
                disk_note(snapshot.disk),
            )
            if n
        ]
        lines.extend(notes)
        paint(self.query_one(".rollout", Static), "\n".join(lines))
        super().render_body(snapshot, now, trends)

    def rows(self, snapshot: KubeSnapshot, now: datetime) -> Iterable[Row]:
        # A pod whose PodInfo and age text are unchanged keeps its row object: the table then
        # skips its sort (all rows the same), its cells and its diff (the same cells dict). A
        # changed age alone (every refresh in a pod's first minute) costs one new cell.
        cache = self._row_cache
        fresh: dict[str, tuple[PodInfo, dict[str, Cell], str, Row]] = {}
        for pod in snapshot.pods:
            created = (now - pod.created_at).total_seconds() if pod.created_at else None
            age_text = duration(created, coarse=True)
            known = cache.get(pod.uid)
            if known is None or not (known[0] is pod or known[0] == pod):
                cells = self._pod_cells(pod, self.disk_percent, self.disk_critical_percent)
                known = (pod, cells, "", ("", None, {}))
            if known[2] != age_text:
                # sorted by creation time (oldest = largest age): it does not move with `now`
                cells = {
                    **known[1],
                    "age": Cell(age_text, -pod.created_at.timestamp() if pod.created_at else None),
                }
                known = (pod, known[1], age_text, (pod.uid, pod, cells))
            fresh[pod.uid] = known
            yield known[3]
        self._row_cache = fresh

    @staticmethod
    def _disk_cell(disk: PodDisk | None, warn: float, critical: float) -> Cell:
        pct = disk.percent if disk is not None else None
        if disk is None or pct is None:
            return Cell("-", None)
        style = "bold red" if pct >= critical else "yellow" if pct >= warn else ""
        if disk.stale:  # its node could not be read: the figure is the last one read
            style = f"{style} dim".strip()
        return Cell(f"{pct:.0f}{'?' if disk.stale else ''}", pct, style)

    @staticmethod
    def _pod_cells(
        pod: PodInfo, disk_warn: float = 85.0, disk_critical: float = 95.0
    ) -> dict[str, Cell]:
        """Every cell but the age (minutes after the first minute: an age that ticked every
        refresh would rewrite every row); Disk% coloured at the disk rule's thresholds."""
        return {
            "name": Cell(middle(pod.name, NAME_WIDTH), pod.name),
            "status": Cell(short_status(pod_status(pod)), pod_status(pod), _status_style(pod)),
            "ready": Cell(f"{pod.ready}/{pod.total}", pod.ready - pod.total),
            "restarts": Cell(str(pod.restarts), pod.restarts, "yellow" if pod.restarts else ""),
            "cpu": Cell(number(pod.cpu_percent_of_limit, "{:.0f}"), pod.cpu_percent_of_limit),
            "mem": Cell(number(pod.memory_percent_of_limit, "{:.0f}"), pod.memory_percent_of_limit),
            "disk": PodsPane._disk_cell(pod.disk, disk_warn, disk_critical),
            "node": Cell(pod.node),
        }

    def detail(self, key: str) -> tuple[str, str] | None:
        pod: PodInfo | None = self.items.get(key)
        if pod is None:
            return None
        lines = [
            f"Phase {pod.phase}   status {pod_status(pod)}   node {pod.node or '-'}",
            f"Ready {pod.ready}/{pod.total}   restarts {pod.restarts}",
            f"CPU {number(pod.cpu_m, '{:.0f}m')} / limit {number(pod.cpu_limit_m, '{:.0f}m')}"
            f"   memory {size(pod.memory_bytes)} / limit {size(pod.memory_limit)}",
        ]
        for c in pod.containers:
            heading = "Init containers:" if c.init else "Containers:"
            if heading not in lines:
                lines += ["", heading]
            lines.append(
                f"  {c.name}: {c.state}{' (' + c.reason + ')' if c.reason else ''}, "
                f"ready={'yes' if c.ready else 'no'}, restarts {c.restart_count}"
            )
            if c.message:
                lines.append(f"    message: {c.message}")
            if c.last_state_reason or c.last_exit_code is not None:
                finished = (
                    c.last_finished_at.strftime("%Y-%m-%d %H:%M:%S UTC")
                    if c.last_finished_at
                    else "-"
                )
                lines.append(
                    f"    last state: terminated ({c.last_state_reason or '-'}), "
                    f"exit code {'-' if c.last_exit_code is None else c.last_exit_code}, "
                    f"finished {finished}"
                )
            lines.append(
                f"    limits: cpu {number(c.cpu_limit_m, '{:.0f}m')}, memory {size(c.memory_limit)}"
            )
        lines += ["", *disk_lines(pod.disk, self._disk_status)]
        events = [e for e in self._events if e.object_name == pod.name]
        lines += ["", "Recent events:" if events else "Recent events: none"]
        for e in events[-10:]:
            seen = e.last_seen.strftime("%H:%M:%S") if e.last_seen else "-"
            lines.append(f"  {seen} {e.type} {e.reason} (x{e.count}): {e.message}")
        return f"Pod {pod.name}", "\n".join(lines)

    @property
    def _disk_status(self) -> DiskStatus | None:
        snap = self._drawn
        return snap.disk if isinstance(snap, KubeSnapshot) else None

    @property
    def _events(self) -> tuple:
        snap = self._drawn  # the snapshot the pane shows: its events go with its pods
        return snap.events if isinstance(snap, KubeSnapshot) else ()

    def selection(self) -> dict | None:
        pod: PodInfo | None = self.selected_item()
        if pod is None:
            return None
        return {
            "pane": "pods",
            "source": self.source,
            "key": pod.uid,
            "identity": self.identity(pod.uid),
            "uid": pod.uid,
            "name": pod.name,
            "namespace": pod.namespace,
        }


def disk_note(status: DiskStatus | None) -> str:
    """The pane's line about the kubelet summaries: RBAC, or the nodes that could not be read
    (their pods keep the figures read before, marked `?`); "" when all is well."""
    if status is None:
        return ""
    if status.note:
        return f"disk: {status.note}"
    failed = [f"{node} — {reason}" for node, reason in sorted(status.nodes_failed.items())]
    return f"disk: not read from {'; '.join(failed)}" if failed else ""


def disk_lines(disk: PodDisk | None, status: DiskStatus | None) -> list[str]:
    """The pod detail's disk breakdown: each volume (and the ephemeral storage) with its use."""
    if disk is None:
        why = (
            status.note
            if status is not None and status.note
            else "not read yet"
            if status is None or status.read_at is None
            else "its node's kubelet summary does not list this pod"
        )
        return [f"Disk: {why}"]
    when = disk.read_at.strftime("%H:%M:%S UTC")
    lines = [f"Disk (kubelet summary of {disk.node}, read {when}):"]
    if disk.stale and status is not None and disk.node in status.nodes_failed:
        lines.append(f"  not read since: {status.nodes_failed[disk.node]}")
    for v in disk.volumes:
        pct = "-" if v.percent is None else f"{v.percent:.0f} %"
        lines.append(
            f"  {v.name}: {pct} full, {size(v.used_bytes)} used, "
            f"{size(v.available_bytes)} free of {size(v.capacity_bytes)}"
        )
        if v.pvc:
            lines.append(f"    claim {v.pvc}")
    if not disk.volumes:
        lines.append("  no volumes reported")
    return lines
