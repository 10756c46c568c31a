"""Property tests run many examples, the pane ones each starting the whole app (~0.5 s quiet,
several seconds on a loaded two-core machine): they get a longer hang bound than the suite's
120 s. It bounds a hang; it is not a timing assertion."""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/property/" in item.nodeid and item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(360))
