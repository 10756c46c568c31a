"""The `cockpit` command: argparse in, exit codes out (0 ok, 1 a source/check failed, 2 bad input).

Heavy modules (Textual, kubernetes, psycopg, the lab) are imported only by the subcommand that
needs them, so `cockpit --help` answers at once (check-config imports psycopg and redis-py only
to ask them about the configured URLs).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections.abc import Callable, Sequence

from cockpit import __version__
from cockpit.config import Config, ConfigError, find_config_path, load_config

EPILOG = """\
commands:
  cockpit                      run the cockpit (full screen) on the configured stack
  cockpit demo                 run the cockpit on an embedded demo platform (needs the demo extra)
  cockpit snapshot [--json]    collect every source once and print it (for scripts and cron)
  cockpit check-config         validate the config (and what would fail at run time), print it \
masked
  cockpit init                 write a starter config to the XDG config dir
  cockpit audit verify|tail|export   read and check the audit trail
  cockpit lab up|drill         run the demo platform headless and inject failures

config lookup: --config PATH, then $COCKPIT_CONFIG, then ~/.config/predictiq-cockpit/config.toml
exit codes: 0 ok; 1 a source or check failed; 2 bad config or usage
"""


def _common(parser: argparse.ArgumentParser, *, sub: bool = True) -> None:
    # On a subcommand these default to SUPPRESS, so `cockpit --config X snapshot` keeps the X
    # given before the subcommand instead of being reset by the subparser's own default.
    unset = argparse.SUPPRESS if sub else None
    parser.add_argument(
        "--config",
        metavar="PATH",
        default=unset,
        help="config file (default: $COCKPIT_CONFIG, then the XDG config dir)",
    )
    parser.add_argument(
        "--context", metavar="NAME", default=unset, help="kubeconfig context (as kubectl --context)"
    )
    parser.add_argument(
        "-n", "--namespace", metavar="NS", default=unset, help="namespace (as kubectl --namespace)"
    )
    parser.add_argument(
        "--read-only",
        action="store_true",
        default=unset,
        help="monitor mode: no action can run, sessions are read-only, nothing is paged",
    )


def build_parser() -> argparse.ArgumentParser:
    """The whole command line, with --help on every command."""
    parser = argparse.ArgumentParser(
        prog="cockpit",
        description=(
            "PredictIQ Cockpit: the on-call terminal for a Kubernetes + PostgreSQL + Redis + "
            "TLS stack."
        ),
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"cockpit {__version__}")
    _common(parser, sub=False)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("run", help="run the cockpit (the default)")
    _common(p)

    p = sub.add_parser(
        "check-config",
        help="validate the config and what the client libraries would refuse at run time; "
        "print it with secrets masked (exit 0 or 2)",
    )
    _common(p)
    p.add_argument("--json", action="store_true", help="print the resolved config as JSON")

    p = sub.add_parser("init", help="write a starter config (refuses to overwrite)")
    p.add_argument(
        "--config", metavar="PATH", help="where to write it (default: the XDG config dir)"
    )

    p = sub.add_parser("snapshot", help="collect every configured source once and print it")
    _common(p)
    p.add_argument("--json", action="store_true", help="print JSON (stable keys, see README)")
    p.add_argument(
        "--interval",
        type=float,
        default=1.0,
        metavar="SECONDS",
        help="gap between the two samples that rates are computed from (default 1)",
    )

    p = sub.add_parser("demo", help="run the cockpit on an embedded demo platform")
    p.add_argument(
        "--read-only", action="store_true", default=None, help="open the demo in monitor mode"
    )
    p.add_argument(
        "--dir", metavar="DIR", help="keep the lab's files here instead of a temporary directory"
    )

    lab = sub.add_parser("lab", help="the demo platform without the UI, and its drills")
    lab_sub = lab.add_subparsers(dest="lab_command", metavar="LAB_COMMAND", required=True)
    p = lab_sub.add_parser(
        "up",
        help="start the lab, write DIR/config.toml and DIR/kubeconfig, wait for SIGINT/SIGTERM",
    )
    p.add_argument(
        "--dir",
        metavar="DIR",
        help="where to write the config and kubeconfig (default: a temp dir)",
    )
    p = lab_sub.add_parser("drill", help="inject (or --clear) a drill into a running lab")
    p.add_argument("name", nargs="?", help="drill name (see --list)")
    p.add_argument(
        "--dir", metavar="DIR", help="the running lab's dir (default: the last one started)"
    )
    p.add_argument("--list", action="store_true", help="list the drills")
    p.add_argument("--clear", action="store_true", help="end the named drill")

    audit = sub.add_parser("audit", help="verify, tail or export the audit trail")
    audit_sub = audit.add_subparsers(dest="audit_command", metavar="AUDIT_COMMAND", required=True)
    p = audit_sub.add_parser(
        "verify",
        help="check the hash chain across the rotated files (exit 0 intact, 1 naming the first "
        "bad file and line)",
    )
    p.add_argument("path", nargs="?", help="audit log (default: from the config)")
    p.add_argument("--config", metavar="PATH", help="config file naming the audit path")
    p = audit_sub.add_parser("tail", help="print the last entries")
    p.add_argument("-n", type=int, default=20, metavar="N", help="how many (default 20)")
    p.add_argument("--follow", "-f", action="store_true", help="keep printing new entries")
    p.add_argument(
        "--full",
        action="store_true",
        help="print long lists (46 pids) whole instead of '46 connections: 1, 2, … (+44)'",
    )
    p.add_argument("--path", help="audit log (default: from the config)")
    p.add_argument("--config", metavar="PATH", help="config file naming the audit path")
    p = audit_sub.add_parser(
        "export", help="export entries as JSON or Markdown (a post-mortem skeleton)"
    )
    p.add_argument("--since", metavar="WHEN", help="ISO time or a duration like 2h, 30m, 7d")
    p.add_argument("--incident", metavar="ID", help="only this incident: a post-mortem timeline")
    p.add_argument("--checklist", metavar="RUN", help="only this checklist run (id, or 'last')")
    p.add_argument("--format", choices=("json", "markdown"), default="json")
    p.add_argument("--output", "-o", metavar="FILE", help="write here instead of stdout")
    p.add_argument("--path", help="audit log (default: from the config)")
    p.add_argument("--config", metavar="PATH", help="config file naming the audit path")
    return parser


def load(args: argparse.Namespace) -> Config:
    """Find, load and validate the config, then apply command-line overrides."""
    path = find_config_path(getattr(args, "config", None))
    cfg = load_config(path)
    return apply_overrides(cfg, args)


def apply_overrides(cfg: Config, args: argparse.Namespace) -> Config:
    """--read-only, --context and --namespace win over the file."""
    if getattr(args, "read_only", None):
        cfg = dataclasses.replace(cfg, read_only=True)
    kube = cfg.kubernetes
    if kube is not None:
        if getattr(args, "context", None):
            kube = dataclasses.replace(kube, context=args.context)
        if getattr(args, "namespace", None):
            kube = dataclasses.replace(kube, namespace=args.namespace)
        cfg = dataclasses.replace(cfg, kubernetes=kube)
    return cfg


def cmd_check_config(args: argparse.Namespace) -> int:
    """Validate (the file's shape, then what the client libraries would refuse at run time) and
    print the resolved config, secrets masked."""
    from cockpit.config import masked
    from cockpit.config_checks import check_runtime

    cfg = load(args)
    check_runtime(cfg)
    data = masked(cfg)
    if args.json:
        print(json.dumps(data, indent=2))
        return 0
    import tomli_w

    print(f"# {cfg.source_path}: valid")
    print(tomli_w.dumps(data), end="")
    return 0


def cmd_init(args: argparse.Namespace) -> int:
    """Write a starter config; never overwrite."""
    import tomli_w

    from cockpit.config import default_config_path, starter_toml

    path = find_config_path(args.config) if args.config else default_config_path()
    if path.exists():
        print(
            f"cockpit: error: {path} already exists; not overwriting it "
            "(edit it, or pass --config NEW_PATH)",
            file=sys.stderr,
        )
        return 2
    path.parent.mkdir(parents=True, exist_ok=True)
    header = (
        "# PredictIQ Cockpit config, written by `cockpit init`.\n"
        "# Every key is documented in config.example.toml. "
        "Secrets come from the environment: ${VAR}.\n"
    )
    with open(path, "x", encoding="utf-8") as fh:
        fh.write(header + tomli_w.dumps(starter_toml()))
    print(f"wrote {path}")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    """The full-screen app."""
    cfg = load(args)
    from widgets.app import run_app  # Textual is imported only here

    return run_app(cfg)


def _lazy(module: str, func: str) -> Callable[[argparse.Namespace], int]:
    def handler(args: argparse.Namespace) -> int:
        import importlib

        return getattr(importlib.import_module(module), func)(args)

    return handler


HANDLERS: dict[str, Callable[[argparse.Namespace], int]] = {
    "run": cmd_run,
    "check-config": cmd_check_config,
    "init": cmd_init,
    "snapshot": _lazy("cockpit.snapshot.collect", "main"),
    "demo": _lazy("cockpit.lab.cli", "demo_main"),
    "lab": _lazy("cockpit.lab.cli", "lab_main"),
    "audit": _lazy("cockpit.audit.cli", "main"),
}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `cockpit` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    command = args.command or "run"
    try:
        return HANDLERS[command](args)
    except ConfigError as exc:
        print(f"cockpit: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
