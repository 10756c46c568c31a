"""README.md stays true: every key of the registry is documented there, with its description."""

from __future__ import annotations

from pathlib import Path

from widgets.keys import display_key, key_registry

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def test_every_key_in_the_registry_is_in_the_readme():
    for spec in key_registry(False, lab=True):
        if spec.key.isdigit():  # pane numbers are one row: `1` … `6`
            assert "`1` … `6`" in README and f"pane {spec.key} (" in spec.description
            continue
        if spec.key:  # an action without a key is listed by its palette title
            assert f"`{display_key(spec.key)}`" in README, spec.key
        first = spec.description.split(" (")[0]
        assert first in README, spec.description


def test_every_command_is_in_the_readme():
    from cockpit.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    for name in sub.choices:
        if name != "run":
            assert f"cockpit {name}" in README, name
