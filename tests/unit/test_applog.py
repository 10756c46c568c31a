"""The cockpit's log file: tracebacks in a rotating file, secrets masked, nothing on the screen."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from cockpit.applog import NOT_CONFIGURED, configure, logger, mask_line, secret_values
from cockpit.config import ApiConfig, Config, DatabaseConfig, LoggingConfig, log_path


def _boom() -> ValueError:
    try:
        raise ValueError("connect postgresql://app:hunter22@db:5432/x failed")
    except ValueError as exc:
        return exc


def test_a_traceback_goes_to_the_file_masked_and_never_to_the_terminal(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    cfg = Config(
        database=DatabaseConfig(url="postgresql://app:hunter22@db:5432/x"),
        api=ApiConfig(base_url="https://api.example", token="tok-9f8e7d6c"),
    )
    log = configure(tmp_path / "state" / "cockpit.log", secrets=secret_values(cfg))
    try:
        log.exception("Database pane: drawing database data", _boom())
        logger.error(
            "a header Authorization: Bearer abc.def and token=tok-9f8e7d6c \x1b]0;pwned\x07"
        )
    finally:
        log.close()
    text = (tmp_path / "state" / "cockpit.log").read_text(encoding="utf-8")
    assert "Traceback (most recent call last)" in text and "ValueError" in text
    assert "hunter22" not in text and "tok-9f8e7d6c" not in text and "abc.def" not in text
    assert "\x1b" not in text and "\\x1b]0;pwned\\x07" in text  # escapes cannot reach a terminal
    out, err = capfd.readouterr()
    assert out == "" and err == ""


def test_the_file_rotates(tmp_path: Path) -> None:
    log = configure(tmp_path / "cockpit.log", max_bytes=2_000, backup_count=2)
    try:
        for i in range(60):
            logger.error("line %d %s", i, "x" * 100)
    finally:
        log.close()
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["cockpit.log", "cockpit.log.1", "cockpit.log.2"]
    assert all(p.stat().st_size <= 2_200 for p in tmp_path.iterdir())


def test_unconfigured_nothing_is_printed(capfd: pytest.CaptureFixture[str]) -> None:
    NOT_CONFIGURED.exception("a headless command", _boom())
    logging.getLogger("cockpit.sources").error("nobody configured me")
    out, err = capfd.readouterr()
    assert out == "" and err == ""
    assert NOT_CONFIGURED.where() == "not logged: no log file configured"


def test_an_unwritable_directory_is_said_not_raised(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    log = configure(blocker / "cockpit.log")
    assert log.path is None and log.where().startswith(f"not logged: cannot open {blocker}")


def test_the_default_path_is_in_the_state_dir_and_configurable(tmp_path: Path) -> None:
    assert log_path(Config()).name == "cockpit.log"
    assert (
        log_path(Config(logging=LoggingConfig(path=str(tmp_path / "x.log")))) == tmp_path / "x.log"
    )


def test_mask_line_keeps_ordinary_text() -> None:
    assert (
        mask_line("drawing database data: KeyError: 'pid'")
        == "drawing database data: KeyError: 'pid'"
    )
    assert "***" in mask_line("password=abc123 user=app")
