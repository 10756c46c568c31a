"""Repaint a text widget only when its text changes, and re-lay out the screen only when its size
can change: the difference between a one-line repaint and a full-screen frame on every refresh.
"""

from __future__ import annotations

from rich.cells import cell_len
from textual.content import Content
from textual.widgets import Static


def paint(widget: Static, text: str) -> bool:
    """Show `text` in `widget` only if it differs from what is shown; True when it changed.

    A Static's update() re-lays out the whole screen by default, which repaints every visible
    widget (a full 80x24 frame). Only a change of height (line count) or of the width of an
    auto-width widget needs a layout; anything else repaints just this widget's own cells.

    `text` is shown as it is, never parsed as markup: it carries what backends send (an error
    reason, a query, a pod name), and `[/red]` in a PostgreSQL error must not end the app.
    """
    old = widget.content
    if old == text:  # a Content compares by its plain text
        return False
    before = old.plain if isinstance(old, Content) else old if isinstance(old, str) else None
    layout = (
        before is None or before.count("\n") != text.count("\n") or (before == "") != (text == "")
    )
    if (
        not layout
        and before is not None
        and widget.styles.width is not None
        and widget.styles.width.is_auto
    ):
        layout = cell_len(before) != cell_len(text)
    widget.update(Content(text), layout=layout)
    return True
