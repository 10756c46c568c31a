"""README.md documents the log view: every key of widgets.keys.LOG_KEYS, with its description,
and the [logs] config section."""

from __future__ import annotations

from pathlib import Path

from widgets.keys import LOG_KEYS, display_key

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()
SECTION = README[README.index("<!-- logs:begin -->") : README.index("<!-- logs:end -->")]


def test_every_key_of_the_log_view_is_in_the_readme_section():
    for spec in LOG_KEYS:
        if spec.key.isdigit():
            assert "`1` … `5`" in SECTION
            assert spec.description.removeprefix("Since ") in SECTION, spec.description
            continue
        assert f"`{display_key(spec.key)}`" in SECTION, spec.key
        assert spec.description.split(" (")[0] in SECTION, spec.description


def test_the_logs_config_keys_are_named_in_the_readme_and_the_example():
    example = (ROOT / "config.example.toml").read_text()
    assert "[logs]" in example
    for key in ("tail_lines", "buffer_lines", "max_pods", "save_in_read_only"):
        assert f"[logs] {key}" in README or key in SECTION, key
        assert f"{key} = " in example, key
