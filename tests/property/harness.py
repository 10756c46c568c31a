"""What every property test does with a generated snapshot: through the state, the incident
rules and the real app (`run_test` at 80×24, fixed sources), and what it reports back.

Hypothesis drives synchronous tests; each example runs its own event loop (`asyncio.run`), so
one example's app never leaks into the next.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC

from hypothesis import HealthCheck, Phase, settings
from textual.widgets import Static

from cockpit.incidents.engine import IncidentEngine
from cockpit.models import Snapshot
from cockpit.state import CockpitState
from tests.ui.fixtures import fixed_sources, frozen_clock, make_config, wait_until
from widgets.app import CockpitApp

# Bounded so the whole property suite stays within a minute or two on two shared cores.
PROPERTY = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
# Each example starts the whole app (~0.5 s); a failing one is reported as found, unshrunk:
# shrinking through app start-ups takes minutes.
PANE_EXAMPLES = settings(
    PROPERTY, max_examples=8, phases=(Phase.explicit, Phase.reuse, Phase.generate)
)

PANE_NUMBER = {"kubernetes": "1", "database": "2", "cache": "3", "certificates": "4", "api": "5"}


def through_state_and_rules(source: str, snapshot: Snapshot) -> CockpitState:
    """Record the snapshot twice (rates and trends need two samples) and evaluate every rule."""
    state = CockpitState()
    engine = IncidentEngine(make_config(), clock=frozen_clock)
    for _ in range(2):
        state.update(source, snapshot)
        engine.evaluate(state)
    return state


@dataclass(frozen=True)
class PaneReport:
    """What the pane of one source showed."""

    summary: str  # the one-line summary (the pane's own figures)
    item_keys: frozenset[str]  # every row the pane holds (filtered or scrolled out or not)
    rows_in_view: int
    details: dict[str, str]  # row key -> the detail view's text
    body: str  # every text the pane shows, its table's cells aside


async def _show(source: str, snapshot: Snapshot) -> PaneReport:
    app = CockpitApp(
        make_config(), sources=fixed_sources(**{source: snapshot}), clock=frozen_clock, local_tz=UTC
    )
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: len(app.state.samples) == len(app.sources))
        await pilot.press(PANE_NUMBER[source])
        pane = app.panes_by_source[source]
        await wait_until(pilot, lambda: bool(pane.summary_text))
        details: dict[str, str] = {}
        for key in list(getattr(pane, "items", {})):
            shown = pane.detail(key)
            details[key] = f"{shown[0]}\n{shown[1]}" if shown else ""
        report = PaneReport(
            summary=pane.summary_text,
            item_keys=frozenset(getattr(pane, "items", {})),
            rows_in_view=getattr(pane, "row_total", 0),
            details=details,
            body="\n".join(str(w.content) for w in pane.query(Static)),
        )
    return report


def show_in_pane(source: str, snapshot: Snapshot) -> PaneReport:
    """Run the real app with `snapshot` as that source's data; an exception anywhere in the app
    (a render, a handler) ends run_test with that exception, which fails the example."""
    return asyncio.run(_show(source, snapshot))
