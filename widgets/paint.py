"""Repaint a text widget only when its text changes, only the cells that changed, and re-lay out
the screen only when its size can change: the difference between a one-line repaint and a
full-screen frame on every refresh.
"""

from __future__ import annotations

from rich.cells import cell_len, set_cell_size
from textual.content import Content
from textual.geometry import Region
from textual.widgets import Static


def paint(widget: Static, text: str) -> bool:
    """Show `text` in `widget` only if it differs from what is shown; True when it changed.

    A Static's update() re-lays out the whole screen by default, which repaints every visible
    widget (a full 80x24 frame). Only a change of height (line count) or of the width of an
    auto-width widget needs a layout; anything else repaints just this widget's own cells, and
    of a left-aligned text whose lines do not wrap, just the cells that changed
    (`_changed_spans`): the clock's last digit, not the clock.

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
    spans = None if layout or before is None else _changed_spans(widget, before, text)
    widget.update(Content(text), layout=layout)
    if spans is not None:
        _repaint_only(widget, spans)
    return True


def _changed_spans(widget: Static, before: str, text: str) -> list[Region] | None:
    """The regions (in the widget's content) whose cells look different, when repainting only
    them shows the new text: the widget is on screen, nothing else of it waits for a repaint,
    its text is left-aligned and no line wraps (line i is then row i, character cells from the
    left edge). A line that changed only past the widget's width (under the ellipsis) looks the
    same. None: repaint the whole widget."""
    width = widget.size.width
    if (
        not widget.is_mounted
        or width <= 0
        or widget._repaint_required
        or widget.styles.text_align not in ("left", "start")
    ):
        return None
    old_lines, new_lines = before.split("\n"), text.split("\n")
    if widget.styles.text_wrap != "nowrap" and any(
        cell_len(line) > width for line in (*old_lines, *new_lines)
    ):
        return None  # a line that wraps moves every row under it
    spans: list[Region] = []
    for y, (a, b) in enumerate(zip(old_lines, new_lines, strict=True)):
        span = _changed_cells(a, b, width)
        if span is not None:
            spans.append(Region(span[0], y, span[1] - span[0], 1))
    return spans


def _changed_cells(a: str, b: str, width: int) -> tuple[int, int] | None:
    """The cells [start, end) of a `width`-cell line that differ between texts `a` and `b`;
    None when they look the same. A line longer than the width is drawn cut, with an ellipsis
    in its last cell: that cell counts as changed with anything before it."""
    cut_a, cut_b = cell_len(a) > width, cell_len(b) > width
    seen_a, seen_b = set_cell_size(a, width), set_cell_size(b, width)  # padded or cut
    if seen_a == seen_b and cut_a == cut_b:
        return None
    prefix = 0
    for x, y in zip(seen_a, seen_b, strict=False):
        if x != y:
            break
        prefix += 1
    suffix = 0
    for x, y in zip(reversed(seen_a), reversed(seen_b), strict=False):
        if x != y or suffix >= min(len(seen_a), len(seen_b)) - prefix:
            break
        suffix += 1
    start = cell_len(seen_a[:prefix])
    end = width - cell_len(seen_a[len(seen_a) - suffix :]) if suffix else width
    if cut_a or cut_b:
        end = width  # the ellipsis cell
    return (min(start, end - 1), end) if end > 0 else (0, width)


def _repaint_only(widget: Static, spans: list[Region]) -> None:
    """Narrow the whole-widget repaint that `Static.update` asked for to `spans`.

    Textual 8 keeps what a widget wants repainted in `_dirty_regions` / `_repaint_regions`
    (`Widget._set_dirty`); `update` put the widget's whole region there. The content is
    re-rendered as a whole either way (its line cache was dropped); only the cells written to
    the terminal shrink. The same mechanism as DataTable's own `refresh_row`.
    """
    widget._dirty_regions.clear()
    widget._repaint_regions.clear()
    if spans:  # none: the new text looks as the old did (it differs only under the ellipsis)
        widget.refresh(*spans)
