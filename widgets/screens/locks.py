"""The blocking tree (key `b`): who blocks whom, from the database source's lock sample.

Each chain as a tree, the root blocker first (its state — `idle in transaction` for 3m 10s is
the classic —, its query, how many sessions wait behind it, transitively), the sessions that
wait for it below, indented; a session waiting for several others appears under each, saying
which others it also waits for. `X` on a root offers to terminate it (the confirmation counts
the sessions it would release; not in read-only mode). The sample is taken at most every
[database] locks_seconds; opening the screen and `r` ask for one at the next refresh.
"""

from __future__ import annotations

from collections.abc import Callable

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from cockpit.models import DbActivity
from cockpit.sources.postgres.locks import lock_tree, render_lines
from widgets.footer import StableFooter


class LocksScreen(ModalScreen[None]):
    """The lock chains, the root blockers first."""

    DEFAULT_CSS = """
    LocksScreen { align: center middle; }
    LocksScreen > Vertical { width: 98%; height: 94%; border: thick $accent; background: $surface; }
    LocksScreen OptionList { height: 1fr; }
    """
    BINDINGS = [
        Binding("escape,q,b", "close", "Close"),
        Binding("r", "sample", "Sample now"),
        Binding("X", "terminate", "Terminate the root blocker"),
    ]

    def __init__(
        self,
        latest: Callable[[], DbActivity | None],
        sample_now: Callable[[], None],
        terminate: Callable[[int], None] | None,
    ) -> None:
        super().__init__(id="locks")
        self.latest = latest
        self.sample_now = sample_now
        self.terminate = terminate  # None in read-only mode
        self.lines: list[tuple[int, int, str]] = []
        self._version: object = None

    def compose(self) -> ComposeResult:
        with Vertical() as box:
            box.border_title = "Blocking tree"
            box.border_subtitle = "X terminates a root · r samples now · escape closes"
            yield Static(id="locks-status")
            yield OptionList(id="locks-tree")
        yield StableFooter(fit=False)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return self.terminate is not None if action == "terminate" else True

    def on_mount(self) -> None:
        self.sample_now()
        self.redraw()
        self.set_interval(1.0, self.redraw)

    def redraw(self) -> None:
        """Rebuild the tree when a new sample arrived (the highlight stays on its pid)."""
        db = self.latest()
        status = self.query_one("#locks-status", Static)
        if db is None:
            status.update("no database snapshot yet")
            return
        if db.locks_sampled_at == self._version:
            return
        self._version = db.locks_sampled_at
        trees = lock_tree(db.lock_sessions)
        when = db.locks_sampled_at.strftime("%H:%M:%S UTC") if db.locks_sampled_at else "not yet"
        waiting = sum(1 for c in db.lock_sessions if c.blocked_by)
        status.update(
            Text(
                f"sampled {when} · {waiting} waiting · {len(trees)} root blocker"
                f"{'s' if len(trees) != 1 else ''}" + ("" if trees else " · nobody waits on a lock")
            )
        )
        tree = self.query_one(OptionList)
        keep = self.highlighted_pid()
        self.lines = render_lines(trees)
        tree.clear_options()
        tree.add_options(
            [
                Option(
                    Text(
                        ("    " * depth) + ("└ " if depth else "● ") + text,
                        style="bold red" if depth == 0 else "",
                    )
                )
                for depth, _, text in self.lines
            ]
        )
        pids = [pid for _, pid, _ in self.lines]
        if keep in pids:
            tree.highlighted = pids.index(keep)

    def highlighted_pid(self) -> int | None:
        """The pid of the highlighted line."""
        index = self.query_one(OptionList).highlighted
        return self.lines[index][1] if index is not None and index < len(self.lines) else None

    def action_sample(self) -> None:
        self.sample_now()
        self.notify("lock sample requested", timeout=2)

    def action_terminate(self) -> None:
        index = self.query_one(OptionList).highlighted
        if self.terminate is None or index is None or index >= len(self.lines):
            return
        depth, pid, _ = self.lines[index]
        if depth != 0:
            self.notify(
                f"pid {pid} waits itself: terminate the root of its chain", severity="warning"
            )
            return
        self.terminate(pid)

    def action_close(self) -> None:
        self.dismiss(None)
