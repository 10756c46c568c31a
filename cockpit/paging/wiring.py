"""Building the pager from the config: only when `[paging]` is configured and the cockpit may
write (a read-only cockpit, a wall screen, never pages: it writes nothing)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import httpx

from cockpit.applog import AppLog
from cockpit.audit.log import AuditLog, read_entries
from cockpit.config import Config
from cockpit.models import utcnow
from cockpit.paging.claim import PageClaim
from cockpit.paging.delivery import Backoff, Sleep
from cockpit.paging.pager import Pager
from cockpit.paging.report import PageReport


def pager_for(
    cfg: Config,
    *,
    audit: AuditLog | None,
    report: Callable[[PageReport], None],
    source: Callable[[], str],
    claim: PageClaim | None = None,
    log: AppLog | None = None,
    clock: Callable[[], datetime] = utcnow,
    backoff: Backoff | None = None,
    sleep: Sleep | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> Pager | None:
    """The pager for this cockpit, not started; None without `[paging]` or when read-only."""
    if cfg.paging is None or cfg.read_only:
        return None
    history = (lambda: read_entries(audit.path)) if audit is not None else None
    return Pager(
        cfg.paging,
        cfg.response_minutes,
        audit=audit,
        report=report,
        source=source,
        claim=claim,
        history=history,
        log=log,
        clock=clock,
        backoff=backoff,
        sleep=sleep,
        transport=transport,
    )
