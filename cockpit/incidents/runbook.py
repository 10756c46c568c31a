"""The runbook's knowledge as data: one entry per rule, loaded from TOML and validated.

The built-in file is cockpit/data/runbook.toml; `incidents.runbook_path` may name a team's own file
of the same shape, which replaces it. Each entry:

    [entries.<rule id>]
    title = "..."                 # the failure, in the operator's words
    symptoms = ["...", ...]       # what users and graphs show
    diagnosis = "..."             # a template over the finding's evidence:
                                  # "{total} of {max_connections}"
    commands = ["...", ...]       # the equivalent commands to check by hand (templates too)
    actions = ["kill_idle", ...]  # cockpit action ids that fix it
    resolution = ["...", ...]     # advice beyond the actions
    prevention = ["...", ...]
    [entries.<rule id>.env]       # optional: the variables Set environment offers for it
    RATE_LIMIT_GLOBAL = "value"   # "value": a new value replaces the old one
    ADMIN_WHITELIST_IPS = "list"  # "list": comma-separated; "add a value" appends one
    [entries.<rule id>.logs]      # optional: the log lines the diagnosis points at
    pattern = "rate limit exceeded"  # a regex (case-insensitive, as grep -i); "": every line
    previous = false              # the previous (crashed) container's log
    lines = 20                    # lines shown (the last ones)
    since_minutes = 10            # how far back (not for previous)
    per_minute = false            # count the matches per minute instead of showing them
    pods_from = ["oom_killed"]    # evidence keys naming the pods; none: every pod of the selector

Templates use str.format fields; a field missing from the evidence, or None, renders as "n/a"
instead of failing, so a team's template can never break the incident panel.
Derived fields available to every template: `mean_col` / `total_col` (pg_stat_statements column
names for the server's version: *_exec_time from PostgreSQL 13 on), `disk_volumes_text` /
`disk_pressure_text` (the disk rule's findings as phrases), `disk_nodes` / `disk_node` (the nodes
under DiskPressure, else the fullest pod's node), and the target's context the engine
passes: `namespace`, `deployment`, `selector`, `api_url`.
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from cockpit.config import ConfigError, load_data_file
from cockpit.sources.fields import as_mapping, is_object

ACTION_IDS = (
    "scale",
    "restart",
    "kill_idle",
    "warm_cache",
    "cancel_query",
    "terminate_query",
    "explain_analyze",
    "create_index",
    "backup_database",
    "set_env",
    "resources",
    "rollback",
    "contain",
    "pause_rollout",
    "resume_rollout",
)
_LIST_KEYS = ("symptoms", "commands", "actions", "resolution", "prevention")
_KEYS = ("title", "diagnosis", *_LIST_KEYS, "logs", "env")
ENV_KINDS = ("value", "list")  # a new value replaces it / comma-separated, "add a value" appends
_LOG_KEYS = {
    "pattern": str,
    "previous": bool,
    "lines": int,
    "since_minutes": int,
    "per_minute": bool,
    "pods_from": list,
}
NA = "n/a"


@dataclass(frozen=True)
class LogEvidenceSpec:
    """Which log lines are an incident's evidence (the runbook's `kubectl logs | grep`)."""

    pattern: str = ""
    previous: bool = False
    lines: int = 20
    since_minutes: int = 10
    per_minute: bool = False
    pods_from: tuple[str, ...] = ()


@dataclass(frozen=True)
class RunbookEntry:
    """What the runbook says about one failure."""

    id: str
    title: str
    symptoms: tuple[str, ...]
    diagnosis: str
    commands: tuple[str, ...]
    actions: tuple[str, ...]
    resolution: tuple[str, ...]
    prevention: tuple[str, ...]
    logs: LogEvidenceSpec | None = None
    env: Mapping[str, str] = field(default_factory=dict[str, str])  # variable -> "value" | "list"


@dataclass(frozen=True)
class Runbook:
    """Every entry, by rule id, and where they were read from."""

    entries: Mapping[str, RunbookEntry]
    source: str

    def entry(self, rule: str) -> RunbookEntry | None:
        """The entry for a rule id, None when this runbook has none."""
        return self.entries.get(rule)

    def env_kinds(self) -> dict[str, str]:
        """Every variable any entry names for Set environment, with its kind ("list" wins)."""
        kinds: dict[str, str] = {}
        for entry in self.entries.values():
            for name, kind in entry.env.items():
                kinds[name] = "list" if "list" in (kind, kinds.get(name)) else kind
        return kinds


class _Lenient(string.Formatter):
    """str.format that renders missing or None fields (and fields a spec cannot format) as n/a."""

    def get_value(self, key: Any, args: Any, kwargs: Mapping[str, Any]) -> Any:
        return kwargs.get(key) if isinstance(key, str) else None

    def format_field(self, value: Any, format_spec: str) -> str:
        if value is None:
            return NA
        if isinstance(value, list | tuple):
            value = (
                ", ".join(str(v) for v in cast("list[object] | tuple[object, ...]", value))
                or "none"
            )
        try:
            return super().format_field(value, format_spec)
        except (ValueError, TypeError):
            return str(value)


def template_fields(
    evidence: Mapping[str, Any], context: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The evidence, the target's context (namespace, deployment, ...) and derived fields."""
    fields = {**(context or {}), **evidence}
    version = fields.get("server_version_num") or 130000
    modern = int(version) >= 130000
    seconds, pid = fields.get("longest_query_seconds"), fields.get("longest_query_pid")
    # one phrase, so that no running query reads 'no query running', not 'n/a s (pid n/a)'
    longest = (
        f"longest query {float(seconds):.1f} s (pid {pid})"
        if isinstance(seconds, int | float) and pid is not None
        else "no query running"
    )
    return {
        **fields,
        **_disk_texts(fields),
        "mean_col": "mean_exec_time" if modern else "mean_time",
        "total_col": "total_exec_time" if modern else "total_time",
        "longest_query_text": longest,
    }


def _names(value: object) -> list[str]:
    """An evidence list as its items' text ([] for anything else)."""
    if isinstance(value, list | tuple):
        return [str(v) for v in cast("list[object] | tuple[object, ...]", value)]
    return []


def _disk_texts(fields: Mapping[str, Any]) -> dict[str, str]:
    """The disk rule's two phrases, so that a pod's full volume without DiskPressure reads 'no
    node under DiskPressure', not 'DiskPressure on none'."""
    volumes, nodes = _names(fields.get("volumes_over")), _names(fields.get("nodes"))
    pods = _names(fields.get("pods_on_nodes"))
    worst = fields.get("worst_node")
    named = nodes or ([str(worst)] if worst else [])  # under pressure, else the fullest pod's
    threshold = fields.get("disk_threshold_percent")
    over = f"over {threshold:g} %" if isinstance(threshold, int | float) else "over the threshold"
    return {
        "disk_volumes_text": (
            f"volumes {over}: {', '.join(volumes)}" if volumes else f"no pod's volume {over}"
        ),
        "disk_pressure_text": (
            f"DiskPressure on {', '.join(nodes)}: {len(pods)} of the deployment's pods run "
            f"there ({', '.join(pods) or 'none'})"
            if nodes
            else "no node under DiskPressure yet"
        ),
        "disk_nodes": " ".join(named) or NA,
        "disk_node": named[0] if named else NA,
    }


def render(
    template: str, evidence: Mapping[str, Any], context: Mapping[str, Any] | None = None
) -> str:
    """One template filled from live evidence (and the target's context)."""
    return _Lenient().format(template, **template_fields(evidence, context))


def render_diagnosis(
    entry: RunbookEntry, evidence: Mapping[str, Any], context: Mapping[str, Any] | None = None
) -> str:
    """The entry's diagnosis sentence with the live numbers in it."""
    return render(entry.diagnosis, evidence, context)


def render_commands(
    entry: RunbookEntry, evidence: Mapping[str, Any], context: Mapping[str, Any] | None = None
) -> list[str]:
    """The equivalent commands, filled for this target and server (namespace, deployment,
    pg_stat_statements column names)."""
    return [render(c, evidence, context) for c in entry.commands]


def _check_template(text: str, path: str, key: str) -> None:
    try:
        for _literal, name, _spec, _conv in string.Formatter().parse(text):
            if name is not None and not name.isidentifier():
                raise ConfigError(
                    f"template field {{{name}}} must be a plain name", path=path, key=key
                )
    except ValueError as exc:  # unbalanced braces
        raise ConfigError(
            f"bad template ({exc}); write literal braces as {{{{ }}}}", path=path, key=key
        ) from None


def _entry(rule: str, raw: object, path: str) -> RunbookEntry:
    where = f"entries.{rule}"
    if not isinstance(raw, dict):
        raise ConfigError("expected a table", path=path, key=where)
    table = cast("dict[str, object]", raw)  # TOML keys are strings
    unknown = sorted(set(table) - set(_KEYS))
    if unknown:
        raise ConfigError(
            f"unknown key {unknown[0]!r} (known: {', '.join(_KEYS)})", path=path, key=where
        )
    text: dict[str, str] = {}
    for key in ("title", "diagnosis"):
        value = table.get(key)
        if not isinstance(value, str) or not value.strip():
            raise ConfigError("expected a non-empty string", path=path, key=f"{where}.{key}")
        text[key] = value
    lists: dict[str, tuple[str, ...]] = {}
    for key in _LIST_KEYS:
        value = table.get(key, [])
        items = cast("list[object]", value) if isinstance(value, list) else None
        if items is None or not all(isinstance(v, str) for v in items):
            raise ConfigError("expected an array of strings", path=path, key=f"{where}.{key}")
        lists[key] = tuple(str(v) for v in items)
    for action in lists["actions"]:
        if action not in ACTION_IDS:
            raise ConfigError(
                f"unknown action {action!r} (known: {', '.join(ACTION_IDS)})",
                path=path,
                key=f"{where}.actions",
            )
    logs = _log_spec(table["logs"], path, f"{where}.logs") if "logs" in table else None
    env = _env_spec(table.get("env", {}), path, f"{where}.env")
    _check_template(text["diagnosis"], path, f"{where}.diagnosis")
    for i, command in enumerate(lists["commands"]):
        _check_template(command, path, f"{where}.commands[{i}]")
    return RunbookEntry(
        id=rule, title=text["title"], diagnosis=text["diagnosis"], logs=logs, env=env, **lists
    )


def _env_spec(raw: object, path: str, where: str) -> dict[str, str]:
    if not isinstance(raw, dict):
        raise ConfigError('expected a table of variable = "value" | "list"', path=path, key=where)
    table = cast("dict[str, object]", raw)  # TOML keys are strings
    for name, kind in table.items():
        if not name.replace("_", "").isalnum():
            raise ConfigError(
                "expected an environment variable name (letters, digits, _)",
                path=path,
                key=f"{where}.{name}",
            )
        if kind not in ENV_KINDS:
            raise ConfigError(
                f"expected one of {', '.join(ENV_KINDS)}, got {kind!r}",
                path=path,
                key=f"{where}.{name}",
            )
    return {name: str(kind) for name, kind in table.items()}


def _log_spec(raw: Any, path: str, where: str) -> LogEvidenceSpec:
    import re

    if not is_object(raw):  # tomllib gives a dict for a table
        raise ConfigError("expected a table", path=path, key=where)
    table: dict[str, Any] = dict(as_mapping(raw))
    for key, value in table.items():
        kind = _LOG_KEYS.get(key)
        if kind is None:
            raise ConfigError(
                f"unknown key {key!r} (known: {', '.join(_LOG_KEYS)})", path=path, key=where
            )
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise ConfigError(
                f"expected {'an array of strings' if kind is list else kind.__name__}",
                path=path,
                key=f"{where}.{key}",
            )
    pods: list[Any] = list(table.get("pods_from", []))
    if not all(isinstance(p, str) for p in pods):
        raise ConfigError("expected an array of strings", path=path, key=f"{where}.pods_from")
    try:
        re.compile(str(table.get("pattern", "")))
    except re.error as exc:
        raise ConfigError(
            f"not a regular expression: {exc}", path=path, key=f"{where}.pattern"
        ) from None
    for key in ("lines", "since_minutes"):
        if key in table and not 1 <= int(table[key]) <= 10000:
            raise ConfigError("expected 1 to 10000", path=path, key=f"{where}.{key}")
    return LogEvidenceSpec(
        pattern=str(table.get("pattern", "")),
        previous=bool(table.get("previous", False)),
        lines=int(table.get("lines", 20)),
        since_minutes=int(table.get("since_minutes", 10)),
        per_minute=bool(table.get("per_minute", False)),
        pods_from=tuple(str(p) for p in pods),
    )


def parse_runbook(data: Mapping[str, Any], source: str) -> Runbook:
    """Validate a parsed runbook document. Raises ConfigError naming the file and key."""
    entries: object = data.get("entries")
    if not isinstance(entries, dict) or not entries:
        raise ConfigError("expected [entries.<rule id>] tables", path=source, key="entries")
    extra = sorted(set(data) - {"entries"})
    if extra:
        raise ConfigError(f"unknown top-level key {extra[0]!r}", path=source)
    tables = cast("dict[str, object]", entries)
    return Runbook({rule: _entry(rule, raw, source) for rule, raw in tables.items()}, source)


def load_runbook(path: str | Path | None = None) -> Runbook:
    """The team's runbook at `path`, or the built-in one when `path` is empty."""
    data, source = load_data_file(path, "runbook.toml", "runbook", "incidents.runbook_path")
    return parse_runbook(data, source)
