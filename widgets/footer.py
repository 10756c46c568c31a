"""The footer, recomposed only when the keys it shows change.

Textual's Footer rebuilds all of its key widgets (and restyles each) whenever the focused
widget's bindings change, i.e. on every pane switch, although the cockpit's footer shows the
same app-level keys whatever is focused. That rebuild was most of a pane switch's cost (the key
latency tail, with every backend hung or not).
"""

from __future__ import annotations

from typing import Any

from textual.screen import Screen
from textual.widgets import Footer


def shown_keys(screen: Screen[Any]) -> tuple[tuple[Any, ...], ...]:
    """What the footer would draw for this screen: its shown bindings and their state."""
    return tuple((binding.key, binding.action, binding.description, enabled, tooltip)
                 for (_, binding, enabled, tooltip) in screen.active_bindings.values()
                 if binding.show)


class StableFooter(Footer):
    """A Footer that skips the rebuild when the shown keys are the same as last time."""

    _drawn: tuple[tuple[Any, ...], ...] | None = None

    def bindings_changed(self, screen: Screen[Any]) -> None:
        keys = shown_keys(screen)
        if keys == self._drawn and self._bindings_ready:
            return
        if screen.app.app_focus and self.is_attached and screen is self.screen:
            self._drawn = keys  # the base class recomposes now
        super().bindings_changed(screen)
