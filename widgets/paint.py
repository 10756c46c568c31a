"""Repaint a text widget only when its text changes, and re-lay out the screen only when its size
can change: the difference between a one-line repaint and a full-screen frame on every refresh.
"""

from __future__ import annotations

from rich.cells import cell_len
from textual.widgets import Static


def paint(widget: Static, text: str) -> bool:
    """Show `text` in `widget` only if it differs from what is shown; True when it changed.

    A Static's update() re-lays out the whole screen by default, which repaints every visible
    widget (a full 80x24 frame). Only a change of height (line count) or of the width of an
    auto-width widget needs a layout; anything else repaints just this widget's own cells.
    """
    old = widget.content
    if old == text:
        return False
    layout = (not isinstance(old, str) or old.count("\n") != text.count("\n")
              or (old == "") != (text == ""))
    if not layout and widget.styles.width is not None and widget.styles.width.is_auto:
        layout = cell_len(str(old)) != cell_len(text)
    widget.update(text, layout=layout)
    return True
