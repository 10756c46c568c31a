"""The cockpit's own diagnostics log: tracebacks and failed workers go to a rotating file in the
state directory (`[logging] path`, default ~/.local/state/predictiq-cockpit/cockpit.log), never to
the screen.

Nothing is configured on import: `configure()` is called by the UI's entry point (run_app) and
by tests with their own path. Until then the "cockpit" logger has only a NullHandler, so a record
logged by a headless command is dropped rather than printed. Every line written is masked the way
the audit trail is (DSN passwords, bearer tokens, Authorization values), plus the config's own
secret values wherever they appear, and control characters are escaped so a backend's text
cannot move the cursor of the operator who later `cat`s the file.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from logging.handlers import RotatingFileHandler
from pathlib import Path
from typing import cast
from urllib.parse import urlsplit

from cockpit.audit.log import MASK, mask_text

LOGGER_NAME = "cockpit"
MAX_BYTES = 1_000_000
BACKUP_COUNT = 3
FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

logger = logging.getLogger(LOGGER_NAME)
logger.addHandler(logging.NullHandler())  # a library's default: unconfigured, nothing is printed

_SECRET_ASSIGNMENT = re.compile(
    r"((?:pass(?:word|wd)?|token|secret|api[-_]?key)\s*[=:]\s*)(\"[^\"]*\"|'[^']*'|[^\s,;&]+)",
    re.IGNORECASE,
)
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\x80-\x9f]")


def mask_line(text: str, secrets: Iterable[str] = ()) -> str:
    """`text` safe for the log file: known secret values, DSN passwords, tokens and
    `password=...`-style assignments masked; control characters (ESC, OSC...) escaped."""
    for secret in secrets:
        if len(secret) >= 4:  # a 1-3 character "secret" would mask half the file
            text = text.replace(secret, MASK)
    text = _SECRET_ASSIGNMENT.sub(lambda m: m.group(1) + MASK, mask_text(text))
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group(0)):02x}", text)


def secret_values(config: object) -> tuple[str, ...]:
    """The secret strings of a config (fields marked `secret`, and passwords inside URLs)."""
    found: list[str] = []

    def walk(obj: object) -> None:
        if isinstance(obj, tuple):
            for item in cast(tuple[object, ...], obj):
                walk(item)
            return
        if not dataclasses.is_dataclass(obj) or isinstance(obj, type):
            return
        for f in dataclasses.fields(obj):
            value: object = getattr(obj, f.name)
            if isinstance(value, str) and value:
                password = _url_password(value)
                if password:
                    found.append(password)
                if f.metadata.get("secret") and "://" not in value:
                    found.append(value)
            else:
                walk(value)

    walk(config)
    return tuple(dict.fromkeys(found))


def _url_password(value: str) -> str | None:
    if "://" not in value:
        return None
    try:
        return urlsplit(value).password
    except ValueError:
        return None


class MaskingFormatter(logging.Formatter):
    """A formatter whose whole output (message and traceback) goes through `mask_line`."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__(FORMAT)
        self.secrets = tuple(sorted(set(secrets), key=len, reverse=True))

    def format(self, record: logging.LogRecord) -> str:
        return "\n".join(
            mask_line(line, self.secrets) for line in super().format(record).split("\n")
        )


@dataclass(frozen=True)
class AppLog:
    """The configured log: where it is (None when it could not be opened) and why not."""

    path: Path | None
    problem: str = ""

    def where(self) -> str:
        """For messages on screen: 'details in /path/cockpit.log' or why there are none."""
        return f"details in {self.path}" if self.path is not None else f"not logged: {self.problem}"

    def exception(self, what: str, exc: BaseException) -> None:
        """Log `what` with the exception's traceback."""
        logger.error("%s", what, exc_info=(type(exc), exc, exc.__traceback__))

    def close(self) -> None:
        """Detach and close this log's file handler (tests; the end of run_app)."""
        if self.path is not None:
            _detach_files(self.path)


NOT_CONFIGURED = AppLog(None, "no log file configured")


def _detach_files(path: Path | None = None) -> None:
    for handler in list(logger.handlers):
        if isinstance(handler, RotatingFileHandler) and (
            path is None or Path(handler.baseFilename) == path.absolute()
        ):
            logger.removeHandler(handler)
            handler.close()


def configure(
    path: Path,
    *,
    secrets: Iterable[str] = (),
    max_bytes: int = MAX_BYTES,
    backup_count: int = BACKUP_COUNT,
) -> AppLog:
    """Send the "cockpit" logger to a rotating file at `path` (replacing an earlier file).

    A directory that cannot be created or a file that cannot be opened is not fatal: the log
    says why, and the messages on screen say "not logged: <why>".
    """
    _detach_files()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handler = RotatingFileHandler(
            path, maxBytes=max_bytes, backupCount=backup_count, encoding="utf-8", delay=False
        )
    except OSError as exc:
        return AppLog(None, f"cannot open {path}: {exc.strerror or exc}")
    handler.setFormatter(MaskingFormatter(secrets))
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False  # never to the terminal through the root logger
    return AppLog(path)
