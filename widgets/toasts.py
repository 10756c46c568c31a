"""At most two notifications on screen at once, newest first, so stacked toasts never cover the
incident table.

Textual shows every live notification; a burst (a kill, a refresh, a rollout's progress) piled
six toasts over the incident pane at 80×24. The app hands its toast rack only the newest
`VISIBLE` and puts the newest on top; the older ones stay in the app's list until they expire,
as before.

Textual 8.2 has no public hook for this: the app overrides `App._refresh_notifications` (the
one place Textual hands its notifications to the rack) and reads `App._notifications`; the
rack and its toasts live in the private `textual.widgets._toast`. tests/ui/test_textual_hooks.py
fails loudly when a Textual release changes any of them.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from textual.app import App
from textual.css.query import NoMatches
from textual.notifications import Notification, Notifications
from textual.widget import Widget
from textual.widgets._toast import Toast, ToastRack  # the rack every Textual screen carries

VISIBLE = 2


def newest(notifications: Iterable[Notification], limit: int = VISIBLE) -> Notifications:
    """The `limit` newest live notifications, newest last (the rack stacks them bottom up)."""
    shown = Notifications()
    for notification in [n for n in notifications if not n.has_expired][-limit:]:
        shown.add(notification)
    return shown


def show_newest(app: App[Any], limit: int = VISIBLE) -> None:
    """Give the current screen's toast rack only the newest notifications."""
    try:
        rack = app.screen.get_child_by_type(ToastRack)
    except (NoMatches, Exception):  # no screen yet, or one without a rack: nothing to show on
        return

    # chosen when the rack updates, not now: a burst then never mounts the toasts it drops
    def update() -> None:
        rack.show(newest(app._notifications, limit))
        rack.call_after_refresh(_newest_on_top, rack)

    app.call_later(update)


def _raised_at(holder: Widget) -> float:
    return holder.query_one(Toast)._notification.raised_at


def _newest_on_top(rack: Widget) -> None:
    """Order the rack's toasts newest first (Textual appends each new one at the bottom)."""
    if not rack.is_attached:
        return
    holders = [h for h in rack.children if h.query(Toast)]
    ordered = sorted(holders, key=lambda h: -_raised_at(h))
    for index, holder in enumerate(ordered):
        if rack.children.index(holder) != index:
            rack.move_child(holder, before=index)
