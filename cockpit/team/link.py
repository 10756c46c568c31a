"""Team mode for one cockpit, as the app (or a headless engine) uses it: the sync thread, the
incident ids, the page claim, and the line the banner shows.

The owner of the incident engine calls `apply(engine)` on its own thread whenever `wake` says
other cockpits' entries arrived (and may call it any time: it is cheap when nothing came).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections import Counter
from collections.abc import Callable
from datetime import datetime, tzinfo

from cockpit.audit.log import AuditLog
from cockpit.config import Config, TeamConfig
from cockpit.incidents.engine import IncidentEngine
from cockpit.team import store
from cockpit.team.ids import TeamIncidentIds
from cockpit.team.sync import TeamStatus, TeamSync


def context_of(cfg: Config) -> str:
    """The Kubernetes context this cockpit watches, as its presence shows it."""
    kube = cfg.kubernetes
    return (kube.context or "(current context)") if kube else ""


def team_line(status: TeamStatus, now: datetime, tz: tzinfo | None = None) -> str:
    """The banner's team line: offline since when and why, or who else is on."""
    del now
    if not status.online:
        if status.offline_since is None:
            return f"team: {status.reason or 'connecting'}…"
        since = status.offline_since.astimezone(tz) if tz else status.offline_since
        return f"team: offline since {since:%H:%M:%S} — {status.reason}"
    live = Counter(p.who for p in status.others if p.mode == "live")
    walls = len([p for p in status.others if p.mode != "live"])
    others = [who if n == 1 else f"{who} ×{n}" for who, n in sorted(live.items())]
    text = "on call: " + ", ".join(others) if others else "no one else on call"
    if walls:
        text += f" · {walls} wall screen{'s' if walls > 1 else ''}"
    return f"team: {text}"


class TeamPageClaim:
    """`cockpit.paging.PageClaim` on the team store: the first cockpit to claim
    (incident, event) sends that page. Called off the UI thread; bounded by the store's
    timeouts; raises when the store cannot be asked (the pager then does not send)."""

    def __init__(self, sync: TeamSync) -> None:
        self.sync = sync

    def claim(self, incident_id: str, event: str) -> bool:
        """Whether this cockpit sends `event` for `incident_id` (True once team-wide)."""
        future = self.sync.submit(
            lambda c: store.claim_page(c, incident_id, event, self.sync.session, self.sync.who)
        )
        try:
            return future.result(self.sync.op_timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise TimeoutError(
                f"the team store gave no answer within {self.sync.op_timeout:g} s"
            ) from None


class TeamLink:
    """One cockpit in team mode: start() after the app's first frame, stop() at exit."""

    def __init__(
        self,
        team: TeamConfig,
        cfg: Config,
        audit: AuditLog,
        *,
        wake: Callable[[], None] | None = None,
        operator: str | None = None,
    ) -> None:
        self.sync = TeamSync(
            team,
            audit,
            read_only=cfg.read_only,
            context=context_of(cfg),
            wake=wake,
            operator=operator,
        )
        self.ids = TeamIncidentIds(self.sync)
        self.pages = TeamPageClaim(self.sync)

    def start(self, today: str) -> TeamLink:
        """Start the sync thread and reserve a declared incident's id for `today`."""
        self.sync.start()
        self.ids.reserve(today)
        return self

    def stop(self) -> None:
        """Leave the team (presence removed) and end the thread."""
        self.sync.stop()

    async def stop_async(self) -> None:
        """stop() from an event loop, without blocking it."""
        await asyncio.to_thread(self.sync.stop)

    def apply(self, engine: IncidentEngine) -> list[str]:
        """Apply what other cockpits did to `engine`; the ids of the incidents it changed."""
        items = self.sync.drain_marked()
        return engine.apply_remote_marked(items) if items else []

    def status(self) -> TeamStatus:
        """Online or offline, why, and who else is on."""
        return self.sync.status()

    def line(self, now: datetime, tz: tzinfo | None = None) -> str:
        """The banner's team line."""
        return team_line(self.status(), now, tz)
