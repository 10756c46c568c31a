"""The footer: the keys that matter for the focused pane first, as many as fit, recomposed only
when that choice changes.

At 80 columns the registry's keys do not all fit, and Textual's Footer simply cuts them at the
right edge (`X ter…`, no `D`, `c` or `g`). So the footer chooses: help and quit, then the
focused pane's own actions (the database pane's k, x, X; the pods pane's s, r), then the rest in
registry order while they fit. Every key stays bound, and `?` lists them all.

Textual's Footer also rebuilds all of its key widgets (and restyles each) whenever the focused
widget's bindings change, i.e. on every pane switch; that rebuild was most of a pane switch's
cost. This one recomposes only when the keys it shows change.

And Textual's Footer leaks: each key widget it composes is data-bound to the footer's `compact`,
which registers a watcher on the footer that is never removed, so every rebuild (every focus
change) keeps the old key widgets alive. This one sets `compact` on its keys directly.
Every screen with a footer uses this one (`fit=False` on the screens that show all their keys).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Footer
from textual.widgets._footer import FooterKey  # the key widget Footer itself composes

from widgets.keys import KeySpec

ALWAYS = ("question_mark", "q")  # help and quit, whatever is focused
PALETTE_WIDTH = 12  # "^p palette" at the right edge


def key_width(display: str, description: str) -> int:
    """Cells one footer key takes: ' k description '."""
    return len(display) + len(description) + 3


def pane_actions(pane_source: str, specs: Iterable[KeySpec]) -> list[str]:
    """The keys of the actions that act on this pane's source (from the actions registry);
    on the incident pane, declaring an incident."""
    from actions.registry import ACTIONS

    out = [s.key for s in specs if not pane_source and s.action == "declare_incident"]
    for spec in specs:
        action = ACTIONS.get(spec.action_id or "")
        if action is not None and action.source == pane_source:
            out.append(spec.key)
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


def _no_pane() -> str:
    return ""


class StableFooter(Footer):
    """A Footer that shows the focused pane's keys first, skips needless rebuilds and keeps no
    old key widget alive.

    `keys` (the registry) and `active_source` (the focused pane's source, "" for the incident
    pane) come from the main screen; a screen of its own keys passes neither. `fit=False` shows
    every key as Textual's Footer does (cut at the right edge) instead of choosing those that fit.
    """

    _drawn: tuple[Any, ...] | None = None

    def __init__(
        self,
        *,
        keys: Sequence[KeySpec] = (),
        active_source: Callable[[], str] = _no_pane,
        fit: bool = True,
    ) -> None:
        super().__init__()
        self._keys = tuple(keys)
        self._active_source = active_source
        self._fit = fit

    def _choice(
        self, screen: Screen[Any]
    ) -> tuple[list[tuple[Binding, bool, str]], tuple[Any, ...]]:
        bindings = [
            (b, enabled, tooltip)
            for (_, b, enabled, tooltip) in screen.active_bindings.values()
            if b.show
        ]
        app = self.app
        pane = self._active_source()
        width = (self.size.width or app.size.width) - PALETTE_WIDTH
        by_action: dict[str, tuple[Binding, bool, str]] = {}
        for entry in bindings:  # as Textual's Footer: one key per action (x and ^s: "Save")
            by_action.setdefault(entry[0].action, entry)
        chosen = list(by_action.values())
        if self._fit:
            first = pane_actions(pane, self._keys)
            tools = [s.key for s in self._keys if s.action_id is None]
            sizes = [
                (b.key, key_width(app.get_key_display(b), b.description)) for b, _, _ in bindings
            ]
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
            yield self._key(
                FooterKey(
                    binding.key,
                    self.app.get_key_display(binding),
                    binding.description,
                    binding.action,
                    disabled=not enabled,
                    tooltip=tooltip,
                )
            )
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

    def _key(self, key: FooterKey) -> FooterKey:
        # not `data_bind(compact=Footer.compact)` as Footer does: its watcher outlives the key
        key.set_reactive(FooterKey.compact, self.compact)
        return key

    def watch_compact(self, compact: bool) -> None:
        for key in self.query(FooterKey):
            if not key.has_class("-command-palette"):  # Footer never binds that one either
                key.compact = compact

    def bindings_changed(self, screen: Screen[Any]) -> None:
        _, keys = self._choice(screen)
        if keys == self._drawn and self._bindings_ready:
            return
        if screen.app.app_focus and self.is_attached and screen is self.screen:
            self._drawn = keys  # the base class recomposes now
        super().bindings_changed(screen)

    def on_resize(self) -> None:
        self.bindings_changed(self.screen)
