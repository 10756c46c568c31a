"""Paging a human when nobody acknowledges: PagerDuty Events API v2 and a generic JSON webhook.

The incident engine knows nothing of HTTP: it tells an `IncidentWatch`
(cockpit.incidents.watch) about its incidents, and the `Pager` (an IncidentWatch) decides when
to page (cockpit.paging.policy), builds the bodies (cockpit.paging.events) and sends them off
the UI thread (cockpit.paging.delivery). In team mode a `PageClaim` decides which cockpit sends.
"""

from cockpit.paging.claim import PAGE_EVENTS, LocalClaim, PageClaim, PageEvent

__all__ = ["PAGE_EVENTS", "LocalClaim", "PageClaim", "PageEvent"]
