"""At most two notifications on screen at once, newest first, so stacked toasts never cover the
incident table.

Textual shows every live notification; a burst (a kill, a refresh, a rollout's progress) piled
six toasts over the incident pane at 80×24. The app hands its toast rack only the newest
`VISIBLE` and puts the newest on top; the older ones stay in the app's list until they expire,
as before.
"""

from __future__ import annotations

from typing import Any

from textual.css.query import NoMatches
from textual.notifications import Notification
from textual.widget import Widget
from textual.widgets._toast import Toast, ToastRack  # the rack every Textual screen carries

VISIBLE = 2


def newest(notifications: Any, limit: int = VISIBLE) -> list[Notification]:
    """The `limit` newest live notifications, newest last (the rack stacks them bottom up)."""
    live = [n for n in notifications if not n.has_expired]
    return live[-limit:]


def show_newest(app: Any, limit: int = VISIBLE) -> None:
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


def _newest_on_top(rack: Widget) -> None:
    """Order the rack's toasts newest first (Textual appends each new one at the bottom)."""
    if not rack.is_attached:
        return
    holders = [h for h in rack.children if h.query(Toast)]
    ordered = sorted(holders, key=lambda h: -h.query_one(Toast)._notification.raised_at)
    for index, holder in enumerate(ordered):
        if rack.children.index(holder) != index:
            rack.move_child(holder, before=index)
