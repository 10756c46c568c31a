"""The explain screen (key `e`): the plan of a query read for the operator, then the fixes.

On open it runs EXPLAIN (FORMAT JSON) in a read-only session (GENERIC_PLAN, or a generic
prepared plan below PostgreSQL 16, for a statement with $n parameters) and shows the findings
first, then the tree, one node per line, the node with the most self time marked. Actions (not
in read-only mode, each through the executor behind its confirmation): `E` explain analyze
(runs the query inside BEGIN … ROLLBACK), `I` create index concurrently on the first
sequential-scan finding's columns, with a progress bar, `c` cancelling the build, and the plan
explained again afterwards; `D` drops an invalid index a failed build left.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import ProgressBar, Static

from actions.base import Outcome
from cockpit.config import DatabaseConfig
from cockpit.sources.base import describe_error
from cockpit.sources.postgres.explain import ExplainedPlan, first_seq_scan, render_lines
from cockpit.sources.postgres.plans import connect_read_only, explain
from widgets.footer import StableFooter

RunAction = Callable[..., Awaitable[Outcome | None]]


def styled(lines: list[str]) -> Text:
    """Findings in yellow, the hottest node in bold red, the rest plain (never markup)."""
    out = Text()
    for line in lines:
        style = (
            "yellow"
            if line.startswith("! ")
            else "bold red"
            if line.endswith("◀ most time")
            else ""
        )
        out.append(line + "\n", style=style)
    out.rstrip()
    return out


async def explain_text(cfg: DatabaseConfig, query: str) -> tuple[str, ExplainedPlan]:
    """(title, plan) of EXPLAIN in a read-only session."""
    conn = await connect_read_only(cfg)
    try:
        explained = await explain(conn, query)
    finally:
        await conn.close()
    return explained.how, explained.plan


class ExplainScreen(ModalScreen[None]):
    """A query's plan, its findings, and the fixes."""

    DEFAULT_CSS = """
    ExplainScreen { align: center middle; }
    ExplainScreen > VerticalScroll { width: 96%; height: 92%; border: thick $accent; padding: 0 1;
                                     background: $surface; }
    ExplainScreen #explain-progress { display: none; }
    ExplainScreen #explain-progress.-building { display: block; }
    """
    BINDINGS = [
        Binding("escape,q", "close", "Close"),
        Binding("E", "analyze", "Explain analyze"),
        Binding("I", "create_index", "Create index"),
        Binding("c", "cancel_build", "Cancel build"),
        Binding("D", "drop_invalid", "Drop invalid index"),
    ]

    def __init__(self, cfg: DatabaseConfig, query: str, run_action: RunAction | None) -> None:
        super().__init__(id="explain")
        self.cfg = cfg
        self.sql = query
        self.act = run_action  # None in read-only mode: no action is offered at all
        self.plan: ExplainedPlan | None = None
        self.invalid_index: str | None = None
        self._cancel: asyncio.Event | None = None
        self.shown: list[str] = []

    def compose(self) -> ComposeResult:
        with VerticalScroll() as box:
            box.border_title = "Explain"
            box.border_subtitle = "escape closes" + (
                "" if self.act is None else " · E analyze · I create index · D drop invalid"
            )
            yield Static(Text(" ".join(self.sql.split())[:400], style="dim"), id="explain-query")
            yield ProgressBar(total=100, id="explain-progress", show_eta=False)
            yield Static("explaining…", id="explain-status")
            yield Static(id="explain-text")
        yield StableFooter(fit=False)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("analyze", "create_index", "drop_invalid", "cancel_build"):
            return self.act is not None
        return True

    def on_mount(self) -> None:
        self.run_worker(self._explain("EXPLAIN"), group="explain", exit_on_error=False)

    def _status(self, text: str) -> None:
        self.query_one("#explain-status", Static).update(Text(text))

    def show(self, title: str, lines: list[str]) -> None:
        """Put a plan on screen under a title line."""
        self.shown = [title, "", *lines]
        self.query_one("#explain-text", Static).update(styled(self.shown))

    async def _explain(self, heading: str) -> None:
        try:
            how, plan = await explain_text(self.cfg, self.sql)
        except Exception as exc:  # any failure is shown in the screen, never raised
            self._status(f"cannot explain: {describe_error(exc)}")
            return
        self.plan = plan
        finding = first_seq_scan(plan)
        hint = (
            f" · I proposes an index on {finding.relation} ({', '.join(finding.columns)})"
            if finding is not None and self.act is not None
            else ""
        )
        self._status(f"{heading}: {how}{hint}")
        self.show(how, render_lines(plan))

    def action_close(self) -> None:
        if self._cancel is not None and not self._cancel.is_set():
            self.notify("an index build is running: c cancels it first", severity="warning")
            return
        self.dismiss(None)

    def action_analyze(self) -> None:
        self.run_worker(
            self._analyze(), group="explain-action", exclusive=True, exit_on_error=False
        )

    async def _analyze(self) -> None:
        assert self.act is not None
        outcome = await self.act("explain_analyze", {"query": self.sql})
        if outcome is not None and outcome.ok:
            self.show(
                "EXPLAIN (ANALYZE, BUFFERS), rolled back", list(outcome.after.get("lines") or ())
            )
            self._status(outcome.message)

    def action_create_index(self) -> None:
        finding = first_seq_scan(self.plan) if self.plan is not None else None
        if finding is None or finding.relation is None:
            self.notify("no sequential-scan finding to index in this plan", severity="warning")
            return
        self.run_worker(
            self._create_index(finding.relation, list(finding.columns)),
            group="explain-action",
            exclusive=True,
            exit_on_error=False,
        )

    def _progress(self, line: str) -> None:
        bar = self.query_one("#explain-progress", ProgressBar)
        bar.add_class("-building")
        try:
            bar.update(progress=float(line[1 : line.index("%")]))
        except ValueError:
            pass  # a line without a percentage: the status says it
        self._status(line)

    async def _create_index(self, table: str, columns: list[str]) -> None:
        assert self.act is not None
        self._cancel = asyncio.Event()
        try:
            outcome = await self.act(
                "create_index",
                {"table": table, "columns": columns},
                progress=self._progress,
                cancel=self._cancel,
            )
        finally:
            self._cancel = None
            self.query_one("#explain-progress", ProgressBar).remove_class("-building")
        if outcome is None:
            return
        invalid: object = outcome.after.get("invalid_index")
        self.invalid_index = str(invalid) if invalid else None
        if outcome.ok:
            await self._explain("after the index")
        else:
            self._status(outcome.message + (" · D drops it" if self.invalid_index else ""))

    def action_cancel_build(self) -> None:
        if self._cancel is None:
            self.notify("no index build is running")
            return
        self._cancel.set()
        self._status("cancelling the build (pg_cancel_backend)…")

    def action_drop_invalid(self) -> None:
        finding = first_seq_scan(self.plan) if self.plan is not None else None
        selection = (
            {"index": self.invalid_index}
            if self.invalid_index
            else {"table": finding.relation}
            if finding is not None and finding.relation
            else {}
        )
        self.run_worker(
            self._drop(selection), group="explain-action", exclusive=True, exit_on_error=False
        )

    async def _drop(self, selection: dict[str, Any]) -> None:
        assert self.act is not None
        outcome = await self.act("drop_invalid_index", selection)
        if outcome is not None and outcome.ok:
            self.invalid_index = None
            self._status(outcome.message)
