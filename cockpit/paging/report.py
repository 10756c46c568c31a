"""How a page went, for the operator: plain data, light to import (the UI's messages carry it;
the pager and its HTTP client load after the first frame)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from cockpit.paging.claim import PageEvent

Outcome = Literal["sent", "failed", "elsewhere"]
Target = Literal["pagerduty", "webhook"]


@dataclass(frozen=True)
class PageReport:
    """One page's outcome, in the operator's words (`text`), for the timeline and a toast."""

    incident_id: str
    event: PageEvent
    target: Target
    outcome: Outcome
    at: datetime
    text: str  # "paged PagerDuty 10:42:13", "page to PagerDuty failed 10:42:13: HTTP 400: ..."
