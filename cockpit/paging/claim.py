"""Who sends a page: the seam between the pager and the team store.

In team mode several cockpits watch the same incident, and exactly one of them may send each
page (the trigger, the acknowledge, the resolve). Before sending, the pager asks its `PageClaim`
whether this cockpit is the one: the team store answers with an atomic claim on
(incident id, event) shared by every cockpit; alone on one machine, `LocalClaim` always claims.

This interface is a contract with the team store (branch `team`): keep it stable.
"""

from __future__ import annotations

from typing import Literal, Protocol, runtime_checkable

PageEvent = Literal["trigger", "acknowledge", "resolve"]
"""The Events API v2 `event_action` a claim is for (one claim per incident and event)."""

PAGE_EVENTS: tuple[PageEvent, ...] = ("trigger", "acknowledge", "resolve")


@runtime_checkable
class PageClaim(Protocol):
    """Decides whether this cockpit sends the page `event` for `incident_id`.

    `claim` returns True exactly once per (incident_id, event) across every cockpit sharing
    the claim (the first caller wins; later and concurrent callers get False). It is called
    off the UI thread, from the pager's sending task, and may block briefly (a database round
    trip): an implementation bounds its own time. Raising means "could not decide" (the store
    unreachable): the pager then sends anyway and says so in the audit trail and to the
    operator, since a human not paged is worse than a page sent twice (PagerDuty merges events
    with the same dedup_key, the incident id). Return False only when another cockpit has it.
    """

    def claim(self, incident_id: str, event: str) -> bool:
        """Whether this cockpit should send `event` (trigger | acknowledge | resolve) for
        `incident_id`; True at most once per pair among all cockpits sharing the claim."""
        ...


class LocalClaim:
    """The claim of a cockpit alone: it always sends (the pager itself sends each page once)."""

    def claim(self, incident_id: str, event: str) -> bool:
        """Always True: no other cockpit shares this one's pages."""
        return True
