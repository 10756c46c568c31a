"""The volume-filling drill: one pod's data volume fills step by step, as a runaway log or cache
would, as its node's kubelet summary reports it (kubesim/disk.py).

The first step is already past the cockpit's default `disk_percent` (85 %): the disk rule opens
P3 within two disk refreshes; a few steps later it is past `disk_critical_percent` (95 %) and the
incident goes to P2, while the node is still nowhere near DiskPressure. From 97 % the pod logs
`No space left on device`. Clearing the drill is the runbook's "clean old logs": the volume is
back at its usual level and the incident closes.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from cockpit.lab.kubesim.disk import DATA_VOLUME
from cockpit.lab.kubesim.logs import DISK_LINE

if TYPE_CHECKING:
    from cockpit.lab.kubesim.sim import KubeSim

FILL_STEPS = (0.88, 0.91, 0.94, 0.97, 0.985)  # fraction of the volume, one per step
STEP_SECONDS = 3.0  # between steps: each level is seen by a disk refresh or two in the lab
FULL_ENOUGH_TO_FAIL = 0.97  # from here the app's writes fail and it says so in its log


class VolumeFill:
    """Fills the data volume of `target` (a pod, or a deployment's first running pod) in a
    thread, one step every `step_seconds`, until stopped."""

    def __init__(
        self,
        kube: KubeSim,
        target: str,
        steps: tuple[float, ...] = FILL_STEPS,
        step_seconds: float = STEP_SECONDS,
    ) -> None:
        self.kube, self.target, self.steps, self.step_seconds = kube, target, steps, step_seconds
        self.pod = ""  # resolved by start()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="drill-disk", daemon=True)

    def start(self) -> VolumeFill:
        """Set the first step at once, then climb in the thread."""
        self.pod = self.kube.fill_volume(self.target, self.steps[0], DATA_VOLUME)
        self._thread.start()
        return self

    def _run(self) -> None:
        level = 0
        while not self._stop.wait(self.step_seconds):
            level = min(level + 1, len(self.steps) - 1)
            self.kube.fill_volume(self.pod, self.steps[level], DATA_VOLUME)
            if self.steps[level] >= FULL_ENOUGH_TO_FAIL:
                self.kube.logs.write(self.kube.namespace, self.pod, DISK_LINE)

    def stop(self) -> None:
        """Stop climbing and free the volume (old logs cleaned)."""
        self._stop.set()
        self._thread.join(5)
        self.kube.clear_volume_fill(self.pod)
