"""The runbook's checklists as data, verified live where the cockpit can, recorded as audit runs.

The built-in lists are cockpit/data/checklists.toml; `checklists.path` may name a team's own file
of the same shape, which replaces it (see the data file's header for the shape). Items with a
`check` are verified by cockpit.checklists.verifiers (pure over the state) or by the two I/O checks
(endpoints over HTTP, the backup with pg_restore); the others are ticked by the operator.

A completed run is one audit entry, event "checklist.run": run_id, checklist, title, items (id,
text, check, state, evidence, by), summary. `render_checklist_markdown(entry)` renders it.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from cockpit.checklists.backup import BackupCheck, check_backup
from cockpit.checklists.endpoints import endpoints_responding
from cockpit.checklists.verifiers import (
    STATE_VERIFIERS,
    VERIFIER_IDS,
    CheckState,
    Verdict,
)
from cockpit.config import Config, ConfigError, load_data_file
from cockpit.state import CockpitState

if TYPE_CHECKING:
    from cockpit.audit.log import AuditLog

DONE, OPEN = "done", "open"  # operator-ticked item states, next to pass/fail/unknown
RUN_EVENT = "checklist.run"


@dataclass(frozen=True)
class ChecklistItem:
    """One line of a checklist; `check` names its verifier, None when the operator ticks it."""

    id: str
    text: str
    check: str | None = None


@dataclass(frozen=True)
class Checklist:
    """One named list."""

    id: str
    title: str
    items: tuple[ChecklistItem, ...]


@dataclass(frozen=True)
class Checklists:
    """Every list, in file order, and where they were read from."""

    lists: Mapping[str, Checklist]
    source: str


def _table(raw: object, path: str, where: str) -> dict[str, object]:
    if not isinstance(raw, dict):
        raise ConfigError("expected a table", path=path, key=where)
    return cast("dict[str, object]", raw)  # TOML keys are strings


def _nonempty_text(table: Mapping[str, object], key: str, path: str, where: str) -> str:
    value = table.get(key)
    if not isinstance(value, str) or not value.strip():
        raise ConfigError("expected a non-empty string", path=path, key=f"{where}.{key}")
    return value


def _item(raw: object, path: str, where: str) -> ChecklistItem:
    table = _table(raw, path, where)
    unknown = sorted(set(table) - {"id", "text", "check"})
    if unknown:
        raise ConfigError(
            f"unknown key {unknown[0]!r} (known: id, text, check)", path=path, key=where
        )
    item_id, text = (_nonempty_text(table, key, path, where) for key in ("id", "text"))
    check = table.get("check")
    if check is not None and check not in VERIFIER_IDS:
        raise ConfigError(
            f"unknown verifier {check!r} (known: {', '.join(VERIFIER_IDS)})",
            path=path,
            key=f"{where}.check",
        )
    return ChecklistItem(item_id, text, check if isinstance(check, str) else None)


def parse_checklists(data: Mapping[str, Any], source: str) -> Checklists:
    """Validate a parsed checklists document. Raises ConfigError naming the file and key."""
    extra = sorted(set(data) - {"lists"})
    if extra:
        raise ConfigError(f"unknown top-level key {extra[0]!r}", path=source)
    lists: object = data.get("lists")
    if not isinstance(lists, dict) or not lists:
        raise ConfigError("expected [lists.<list id>] tables", path=source, key="lists")
    out: dict[str, Checklist] = {}
    for list_id, raw in _table(cast(object, lists), source, "lists").items():
        where = f"lists.{list_id}"
        table = _table(raw, source, where)
        unknown = sorted(set(table) - {"title", "items"})
        if unknown:
            raise ConfigError(
                f"unknown key {unknown[0]!r} (known: title, items)", path=source, key=where
            )
        title = _nonempty_text(table, "title", source, where)
        items = table.get("items")
        if not isinstance(items, list) or not items:
            raise ConfigError("expected [[...items]] tables", path=source, key=f"{where}.items")
        parsed = tuple(
            _item(r, source, f"{where}.items[{i}]")
            for i, r in enumerate(cast("list[object]", items))
        )
        ids = Counter(i.id for i in parsed)
        if dupes := [i for i, n in ids.items() if n > 1]:
            raise ConfigError(f"duplicate item id {dupes[0]!r}", path=source, key=f"{where}.items")
        out[list_id] = Checklist(list_id, title, parsed)
    return Checklists(out, source)


def load_checklists(path: str | Path | None = None) -> Checklists:
    """The team's checklists at `path`, or the built-in ones when `path` is empty."""
    data, source = load_data_file(path, "checklists.toml", "checklists", "checklists.path")
    return parse_checklists(data, source)


def backup_verdict(result: BackupCheck) -> Verdict:
    """The backup check as a checklist verdict."""
    return Verdict(CheckState(result.state), result.evidence)


async def verify_checklist(
    checklist: Checklist,
    state: CockpitState,
    cfg: Config,
    backup: Callable[..., BackupCheck] = check_backup,
) -> dict[str, Verdict]:
    """Verdicts by verifier id for every check the list uses, each run once. The backup's
    subprocess runs in a thread; the endpoints are requested with the API's timeout."""
    wanted = {i.check for i in checklist.items if i.check}
    verdicts = {v: STATE_VERIFIERS[v](state, cfg) for v in wanted if v in STATE_VERIFIERS}
    if "endpoints_responding" in wanted:
        verdicts["endpoints_responding"] = await endpoints_responding(cfg)
    if "backup_completed" in wanted:
        verdicts["backup_completed"] = backup_verdict(await asyncio.to_thread(backup, cfg.backup))
    return verdicts


@dataclass(frozen=True)
class ItemResult:
    """One item of a run: its state (pass/fail/unknown verified, done/open ticked) and evidence."""

    id: str
    text: str
    check: str
    state: str
    evidence: str
    by: str  # "cockpit" (verified) or "operator" (ticked, or not)


def item_results(
    checklist: Checklist, verdicts: Mapping[str, Verdict], ticked: Iterable[str] = ()
) -> list[ItemResult]:
    """Each item's state now. The operator may tick a manual item, or an item the cockpit could
    not verify (unknown); a verified pass or fail stays the cockpit's."""
    ticked = set(ticked)
    out: list[ItemResult] = []
    for item in checklist.items:
        verdict = verdicts.get(item.check) if item.check else None
        if verdict is not None and (verdict.state != CheckState.UNKNOWN or item.id not in ticked):
            out.append(
                ItemResult(
                    item.id,
                    item.text,
                    item.check or "",
                    verdict.state.value,
                    verdict.evidence,
                    "cockpit",
                )
            )
            continue
        evidence = verdict.evidence if verdict else ""
        out.append(
            ItemResult(
                item.id,
                item.text,
                item.check or "",
                DONE if item.id in ticked else OPEN,
                evidence,
                "operator",
            )
        )
    return out


_SUMMARY_KEYS = {"pass": "passed", "fail": "failed"}  # the audit log masks a key named "pass"


def summarize(items: Iterable[ItemResult]) -> dict[str, int]:
    """How many items are in each state: passed, failed, unknown, done, open."""
    return dict(Counter(_SUMMARY_KEYS.get(i.state, i.state) for i in items))


def record_run(
    audit: AuditLog, checklist: Checklist, items: list[ItemResult], run_id: str | None = None
) -> dict[str, Any]:
    """Append the run to the audit trail (who/when come from the log) and return the entry."""
    return audit.record(
        RUN_EVENT,
        run_id=run_id or uuid.uuid4().hex[:8],
        checklist=checklist.id,
        title=checklist.title,
        items=[asdict(i) for i in items],
        summary=summarize(items),
    )


_MARK = {
    "pass": "✅ pass",
    "fail": "❌ FAIL",
    "unknown": "❔ unknown",
    DONE: "☑ done",
    OPEN: "☐ open",
}


def _cell(value: Any) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def render_checklist_markdown(entry: Mapping[str, Any]) -> str:
    """A "checklist.run" audit entry as Markdown: header, who/when, one table row per item."""
    op: Mapping[str, Any] = entry.get("operator") or {}
    who = str(op.get("login") or op.get("uid") or "?")
    if op.get("host"):
        who += f"@{op['host']}"
    title = entry.get("title") or entry.get("checklist") or "Checklist"
    summary: Mapping[str, Any] = entry.get("summary") or {}
    lines = [
        f"# {title} checklist — run {entry.get('run_id', entry.get('seq', ''))}",
        "",
        f"- When: {entry.get('time', '')}",
        f"- Who: {who}",
        f"- Summary: {', '.join(f'{n} {s}' for s, n in summary.items()) or 'empty'}",
        "",
        "| # | Item | State | By | Evidence |",
        "|---|---|---|---|---|",
    ]
    for n, item in enumerate(entry.get("items") or [], start=1):
        state = str(item.get("state", ""))
        lines.append(
            f"| {n} | {_cell(item.get('text', ''))} | {_MARK.get(state, state)} | "
            f"{_cell(item.get('by', ''))} | {_cell(item.get('evidence', ''))} |"
        )
    return "\n".join(lines) + "\n"
