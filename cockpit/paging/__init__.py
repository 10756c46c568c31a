"""Paging a human when nobody acknowledges: PagerDuty Events API v2 and a generic JSON webhook.

The incident engine knows nothing of HTTP: it tells a `PageSink` (cockpit.paging.sink) about
incidents, and the pager decides when to page and sends off the UI thread.
"""

from cockpit.paging.claim import PAGE_EVENTS, LocalClaim, PageClaim, PageEvent

__all__ = ["PAGE_EVENTS", "LocalClaim", "PageClaim", "PageEvent"]
