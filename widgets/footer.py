"""The footer: the keys that matter for the focused pane first, as many as fit, recomposed only
when that choice changes.

At 80 columns the registry's keys do not all fit, and Textual's Footer simply cuts them at the
right edge (`X ter…`, no `D`, `c` or `g`). So the footer chooses: help and quit, then the
focused pane's own actions (the database pane's k, x, X; the pods pane's s, r), then the rest in
registry order while they fit. Every key stays bound, and `?` lists them all.

Textual's Footer also rebuilds all of its key widgets (and restyles each) whenever the focused
widget's bindings change, i.e. on every pane switch; that rebuild was most of a pane switch's
cost. This one recomposes only when the keys it shows change.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Footer
from textual.widgets._footer import FooterKey  # the key widget Footer itself composes

ALWAYS = ("question_mark", "q")  # help and quit, whatever is focused
PALETTE_WIDTH = 12  # "^p palette" at the right edge


def key_width(display: str, description: str) -> int:
    """Cells one footer key takes: ' k description '."""
    return len(display) + len(description) + 3


def pane_actions(pane_source: str, specs: Iterable[Any]) -> list[str]:
    """The keys of the actions that act on this pane's source (from the actions registry);
    on the incident pane, declaring an incident."""
    from actions.registry import ACTIONS

    out = [
        str(s.key)
        for s in specs
        if not pane_source and getattr(s, "action", "") == "declare_incident"
    ]
    for spec in specs:
        action = ACTIONS.get(getattr(spec, "action_id", None) or "")
        if action is not None and action.source == pane_source:
            out.append(str(spec.key))
    return out


def choose_keys(
    keys: Sequence[tuple[str, int]], first: Sequence[str], width: int, then: Sequence[str] = ()
) -> list[str]:
    """Which of `keys` ((key, width) in registry order) the footer shows in `width` cells:
    ALWAYS, then `first` (the focused pane's actions), then `then` (the screens and table
    tools), then the rest in order, while they fit; shown in registry order."""
    order = [k for k, _ in keys]
    sizes = dict(keys)
    wanted = [k for k in ALWAYS if k in sizes]
    for group in (first, then, order):
        wanted += [k for k in group if k in sizes and k not in wanted]
    chosen: set[str] = set()
    used = 0
    for key in wanted:
        if used + sizes[key] > width:
            if key in ALWAYS:
                chosen.add(key)
            continue
        chosen.add(key)
        used += sizes[key]
    return [k for k in order if k in chosen]


def shown_keys(screen: Screen[Any]) -> tuple[tuple[Any, ...], ...]:
    """What the footer would draw for this screen: its shown bindings and their state."""
    return tuple(
        (binding.key, binding.action, binding.description, enabled, tooltip)
        for (_, binding, enabled, tooltip) in screen.active_bindings.values()
        if binding.show
    )


class StableFooter(Footer):
    """A Footer that shows the focused pane's keys first and skips needless rebuilds."""

    _drawn: tuple[Any, ...] | None = None

    def _choice(
        self, screen: Screen[Any]
    ) -> tuple[list[tuple[Binding, bool, str]], tuple[Any, ...]]:
        bindings = [
            (b, enabled, tooltip)
            for (_, b, enabled, tooltip) in screen.active_bindings.values()
            if b.show
        ]
        app = self.app
        pane = getattr(getattr(app, "active_pane", None), "source", "") or ""
        specs = list(getattr(app, "keys", ()))
        first = pane_actions(pane, specs)
        tools = [str(s.key) for s in specs if getattr(s, "action_id", None) is None]
        width = (self.size.width or app.size.width) - PALETTE_WIDTH
        sizes = [(b.key, key_width(app.get_key_display(b), b.description)) for b, _, _ in bindings]
        keep = set(choose_keys(sizes, first, width, tools))
        chosen = [entry for entry in bindings if entry[0].key in keep]
        signature = (
            pane,
            width,
            tuple((b.key, b.action, b.description, e, t) for b, e, t in chosen),
        )
        return chosen, signature

    def compose(self) -> ComposeResult:
        if not self._bindings_ready:
            return
        chosen, _ = self._choice(self.screen)
        self.styles.grid_size_columns = len(chosen)
        for binding, enabled, tooltip in chosen:
            yield FooterKey(
                binding.key,
                self.app.get_key_display(binding),
                binding.description,
                binding.action,
                disabled=not enabled,
                tooltip=tooltip,
            ).data_bind(compact=Footer.compact)
        if self.show_command_palette and self.app.ENABLE_COMMAND_PALETTE:
            found = self.screen.active_bindings.get(self.app.COMMAND_PALETTE_BINDING)
            if found is not None:
                _node, binding, enabled, tooltip = found
                yield FooterKey(
                    binding.key,
                    self.app.get_key_display(binding),
                    binding.description,
                    binding.action,
                    classes="-command-palette",
                    disabled=not enabled,
                    tooltip=tooltip or binding.description,
                )

    def bindings_changed(self, screen: Screen[Any]) -> None:
        _, keys = self._choice(screen)
        if keys == self._drawn and self._bindings_ready:
            return
        if screen.app.app_focus and self.is_attached and screen is self.screen:
            self._drawn = keys  # the base class recomposes now
        super().bindings_changed(screen)

    def on_resize(self) -> None:
        self.bindings_changed(self.screen)
