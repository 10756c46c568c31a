"""No key sequence ends the app (issue 13): a seeded random walk over the key registry.

Each walk presses keys from `widgets.keys.key_registry` (plus the keys dialogs answer to:
escape, enter, arrows, y/n, letters for the filter) while the fixed sources change underneath
between steps: rows vanish, every nullable field turns NULL, strings turn into markup-like and
escape-laden text, a source fails and comes back. It opens and closes dialogs and screens,
switches panes, filters and sorts. After every step the app must still run; at the end `q` must
still quit with exit code 0, and the log file must hold no error (a pane that could not draw
the data would have logged one).

The seeds are fixed, so a failure names the seed and the steps that led to it and replays.
"""

from __future__ import annotations

import dataclasses
import random
import types
import typing
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, timedelta
from pathlib import Path
from typing import Any

import pytest

from cockpit.applog import AppLog, configure
from cockpit.audit.log import AuditLog
from cockpit.config import ApiConfig, CacheConfig, DatabaseConfig, KubernetesConfig
from cockpit.models import Snapshot, SourceFailure
from tests.ui.fixtures import (
    NOW,
    FixedSource,
    fixed_snapshots,
    fixed_sources,
    frozen_clock,
    make_config,
)
from widgets.app import CockpitApp
from widgets.dialogs.quit import QuitConfirm
from widgets.keys import key_registry

SEEDS = (11, 23, 37, 59)
STEPS = 50
# keys the dialogs and tables answer to, besides the registry's own
EXTRA_KEYS = (
    "escape",
    "escape",
    "enter",
    "up",
    "down",
    "pagedown",
    "end",
    "home",
    "y",
    "n",
    "backspace",
    "a",
    "i",
    "0",
    "5",
)
ROWS = {"kubernetes": "pods", "database": "connections", "certificates": "certificates"}


def _nullable(tp: object) -> bool:
    return typing.get_origin(tp) in (typing.Union, types.UnionType) and type(
        None
    ) in typing.get_args(tp)


def nulled(obj: Any, text: Any = None) -> Any:
    """`obj` with every nullable field NULL and every string empty, recursively (what the
    typed parsers make of a backend that sends JSON null / SQL NULL everywhere it may).
    With `text`, strings become `text(string)` instead and nothing is nulled."""
    if isinstance(obj, tuple):
        return tuple(nulled(v, text) for v in obj)
    if not dataclasses.is_dataclass(obj) or isinstance(obj, type):
        return obj
    hints = typing.get_type_hints(type(obj))
    changes: dict[str, Any] = {}
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if text is None and _nullable(hints[f.name]):
            changes[f.name] = None
        elif type(value) is str and f.name not in ("uid", "host"):  # not str enums (CertState)
            changes[f.name] = "" if text is None else text(value)
        elif isinstance(value, tuple) or dataclasses.is_dataclass(value):
            changes[f.name] = nulled(value, text)
    return replace(obj, **changes)


def hostile(obj: Any) -> Any:
    """`obj` with every string wrapped in what looks like markup and terminal escapes, and
    non-ASCII: text a backend may send that must be shown, never interpreted."""
    return nulled(obj, lambda s: f"[/red]\x1b]0;pwned\x07{s}ü[b]")


def variant(rng: random.Random, name: str, step: int) -> Snapshot | SourceFailure:
    """A new result for source `name`: a failure, NULL-laden data, or some rows gone."""
    base = replace(fixed_snapshots()[name], collected_at=NOW + timedelta(seconds=step))
    roll = rng.random()
    if roll < 0.15:
        reason = "connection refused" if roll < 0.1 else "ERR [/b] bad \x1b[2J reply"
        return SourceFailure(name, "collect", reason, at=NOW + timedelta(seconds=step))
    if roll > 0.85:
        return hostile(base)
    field = ROWS.get(name)
    if field is None:
        return nulled(base) if roll < 0.5 else base
    rows = list(getattr(base, field))
    kept = [r for r in rows if rng.random() < 0.6]  # rows vanish (all of them, sometimes)
    if roll < 0.55:
        kept = [nulled(r) if rng.random() < 0.5 else r for r in kept]
    snap = replace(base, **{field: tuple(kept)})
    return nulled(snap) if roll > 0.9 else snap


def walk_config(tmp_path: Path):  # a Config
    """Every section configured; actions' backends refuse at once (nothing listens on :1)."""
    return replace(
        make_config(),
        kubernetes=KubernetesConfig(
            context="kind-prod-eu",
            namespace="predictiq",
            kubeconfig=str(tmp_path / "no-kubeconfig"),
        ),
        database=DatabaseConfig(url="postgresql://predictiq@127.0.0.1:1/predictiq"),
        cache=CacheConfig(url="redis://127.0.0.1:1/0"),
        api=ApiConfig(base_url="http://127.0.0.1:1"),
    )


@pytest.fixture
def app_log(tmp_path: Path) -> Iterator[AppLog]:
    log = configure(tmp_path / "cockpit.log")
    yield log
    log.close()


@pytest.mark.timeout(120)
@pytest.mark.parametrize("seed", SEEDS)
async def test_random_keys_while_the_sources_change_never_end_the_app(
    seed: int, tmp_path: Path, app_log: AppLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # `x` on the quick reference or an incident saves a file here
    rng = random.Random(seed)
    cfg = walk_config(tmp_path)
    sources: dict[str, FixedSource] = fixed_sources()
    app = CockpitApp(
        cfg,
        sources=sources,
        clock=frozen_clock,
        local_tz=UTC,
        audit=AuditLog(tmp_path / "audit.jsonl"),
        app_log=app_log,
    )
    keys = [spec.key for spec in key_registry(False) if spec.key != "q"] + list(EXTRA_KEYS)
    trail: list[str] = []
    screens: set[str] = set()  # what the walk opened: it must have left the main screen
    async with app.run_test(size=(80, 24)) as pilot:
        for step in range(STEPS):
            if rng.random() < 0.35:
                name = rng.choice(list(sources))
                sources[name].result = variant(rng, name, step)
                app.scheduler.refresh_now(name)
                trail.append(f"<{name} changes>")
            key = rng.choice(keys)
            trail.append(key)
            await pilot.press(key)  # returns once the app is idle again
            assert app.is_running, f"seed {seed}: the app ended after {' '.join(trail)}"
            screens.add(type(app.screen).__name__)
        for _ in range(12):  # close whatever is open, then quit
            if app.screen is app.main:
                break
            await pilot.press("escape")
            await pilot.pause()
        assert app.screen is app.main, f"seed {seed}: a screen would not close: {app.screen!r}"
        assert len(screens) > 1, f"seed {seed}: the walk never opened a dialog or screen"
        await pilot.press("q")
        await pilot.pause()
        if isinstance(app.screen, QuitConfirm):  # an action still in flight: asks first
            await pilot.press("y")
    assert app.return_code == 0, f"seed {seed}: {' '.join(trail)}"
    assert app_log.path is not None
    logged = app_log.path.read_text(encoding="utf-8") if app_log.path.exists() else ""
    assert "ERROR" not in logged, f"seed {seed}: {' '.join(trail)}\n{logged}"
