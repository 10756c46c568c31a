"""The app's side of the pager: built after the first frame (httpx's import, off the event
loop), told about the incidents by the engine, its outcomes brought back to the UI thread.

Only when `[paging]` is configured and the cockpit is not read-only: a wall screen never pages.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

from textual.message import Message
from textual.notifications import SeverityLevel

from cockpit.applog import AppLog
from cockpit.audit.log import AuditLog
from cockpit.config import Config
from cockpit.paging.claim import PageClaim
from cockpit.paging.report import PageReport
from cockpit.state import CockpitState
from widgets.messages import PageReported

if TYPE_CHECKING:
    from cockpit.incidents.engine import IncidentEngine
    from cockpit.paging.pager import Pager


def _load_pager(link: PagingLink) -> Pager | None:
    from cockpit.paging.wiring import pager_for

    return pager_for(
        link.cfg,
        audit=link.audit,
        report=link.report,
        source=link.source,
        claim=link.claim,
        log=link.app_log,
        clock=link.clock,
    )


class PagingLink:
    """Starts and stops the pager for the app, and turns its reports into what the operator
    sees (a timeline line; a notification for a trigger sent or any failure)."""

    def __init__(
        self,
        cfg: Config,
        *,
        engine: IncidentEngine,
        audit: AuditLog | None,
        state: CockpitState,
        clock: Callable[[], datetime],
        app_log: AppLog,
        post: Callable[[Message], object],
        claim: PageClaim | None = None,
    ) -> None:
        self.cfg = cfg
        self.engine = engine
        self.audit = audit
        self.state = state
        self.clock = clock
        self.app_log = app_log
        self.post = post
        self.claim = claim  # the team store's, in team mode; else the local one
        self.wanted = cfg.paging is not None and not cfg.read_only
        self.pager: Pager | None = None

    async def start(self, closing: Callable[[], bool]) -> None:
        """Build the pager in a thread, start it, and let the engine tell it the incidents."""
        if not self.wanted:
            return
        pager = await asyncio.to_thread(_load_pager, self)
        if pager is None or closing():
            return
        await asyncio.to_thread(pager.start)
        if closing():  # quit while it started: close() did not see it
            await asyncio.to_thread(pager.close)
            return
        self.pager = pager
        self.engine.watch(pager)
        self.engine.tick(self.clock())

    async def close(self) -> None:
        """Stop the pager's thread (a page in flight is abandoned)."""
        if self.pager is not None:
            await asyncio.to_thread(self.pager.close)

    def set_claim(self, claim: PageClaim) -> None:
        """Team mode, once the store is linked: it decides who sends each page (the pager reads
        the claim for every page, so this applies to the next one)."""
        self.claim = claim
        if self.pager is not None:
            self.pager.claim = claim

    def report(self, report: PageReport) -> None:
        """Called on the pager's thread: post_message is the thread-safe way in."""
        self.post(PageReported(report))

    def source(self) -> str:
        """The page's `source`: the Kubernetes context (and cluster) the cockpit watches."""
        kube = self.state.kube
        if kube is not None and (kube.context or kube.cluster):
            cluster = f"/{kube.cluster}" if kube.cluster and kube.cluster != kube.context else ""
            return f"{kube.context or '(current context)'}{cluster}"
        k = self.cfg.kubernetes
        if k is not None and k.context:
            return k.context
        return socket.gethostname()

    def shown(self, report: PageReport) -> tuple[str, SeverityLevel] | None:
        """Put the outcome in the incident's timeline; the notification to show, if any."""
        self.engine.add_timeline(report.incident_id, "page", report.text, report.at)
        text = f"{report.incident_id}: {report.text}"
        if report.outcome == "failed":
            return text, "error"
        if report.outcome == "sent" and report.event == "trigger":
            return text, "information"
        return None
