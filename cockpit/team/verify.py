"""`cockpit audit verify --team`: the local trail against the team store's copy.

A hash chain proves order, not authorship: whoever can write the file can rewrite it and
recompute every hash. The store is the anchor (its entries cannot be updated or deleted by the
cockpits' roles): every local entry must be there byte for byte (same hash), every entry the
store holds for this log must still be in the file, and each log's chain in the store must hold
(each body hashes to its hash, each prev is the previous seq's hash). Entries at the end of the
file that are not uploaded yet (a cockpit offline, or running right now) are counted, not
failed. The first difference is named in the operator's words.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import psycopg

from cockpit.audit.log import entry_hash, read_entries
from cockpit.config import TeamConfig
from cockpit.team.cursor import cursor_path, load_cursor


@dataclass(frozen=True)
class TeamVerdict:
    """ok, the first difference (in words; '' when ok), and what was compared."""

    ok: bool
    reason: str
    checked: int = 0
    not_uploaded: int = 0


def _body(text: str) -> dict[str, Any]:
    try:
        value: object = json.loads(text)
    except ValueError:
        return {}
    return cast("dict[str, Any]", value) if isinstance(value, dict) else {}


def _store_rows(
    conn: psycopg.Connection[tuple[object, ...]], sessions: list[str]
) -> dict[tuple[str, int], tuple[str, str]]:
    """(session, seq) -> (log_id, body) of every stored entry of these sessions."""
    rows = conn.execute(
        "SELECT session, seq, log_id, body FROM cockpit.entries WHERE session = ANY(%s)",
        (sessions,),
    ).fetchall()
    return {(str(r[0]), int(str(r[1]))): (str(r[2]), str(r[3])) for r in rows}


def check_chain(conn: psycopg.Connection[tuple[object, ...]], log_id: str) -> str | None:
    """The first break in one log's chain as the store holds it, or None."""
    rows = conn.execute(
        "SELECT seq, body FROM cockpit.entries WHERE log_id = %s ORDER BY seq", (log_id,)
    ).fetchall()
    prev: dict[str, Any] | None = None
    for seq_value, text in rows:
        entry = _body(str(text))
        seq = int(str(seq_value))
        if entry.get("hash") != entry_hash(entry):
            return f"the store's seq {seq} of log {log_id} does not match its own hash"
        if prev is not None and int(prev.get("seq") or 0) + 1 == seq:
            if entry.get("prev") != prev.get("hash"):
                return (
                    f"the store's seq {seq} of log {log_id} does not follow seq {seq - 1} "
                    "(prev hash mismatch)"
                )
        prev = entry
    return None


def verify_team(path: Path, team: TeamConfig) -> TeamVerdict:
    """Compare the local log at `path` with the team store. Raises psycopg.Error when the store
    cannot be read (the caller says so: that is no verdict)."""
    local = read_entries(path)
    sessions = sorted({str(e.get("session") or "") for e in local})
    with psycopg.connect(
        team.url,
        connect_timeout=max(2, int(team.connect_timeout_seconds)),
        autocommit=True,
        options=f"-c statement_timeout={max(team.statement_timeout_ms, 30000)}"
        " -c default_transaction_read_only=on",
    ) as conn:
        stored = _store_rows(conn, sessions)
        missing: list[int] = []
        log_ids: set[str] = set()
        for line, entry in enumerate(local, start=1):
            key = (str(entry.get("session") or ""), int(entry.get("seq") or 0))
            copy = stored.get(key)
            if copy is None:
                missing.append(line)
                continue
            if missing:
                first = missing[0]
                return TeamVerdict(
                    False,
                    f"line {first} (seq {local[first - 1].get('seq')}) is not in the team store, "
                    f"but later lines are: it was inserted into the local log afterwards",
                    line,
                )
            log_id, text = copy
            log_ids.add(log_id)
            theirs = _body(text)
            if theirs.get("hash") != entry.get("hash") or entry_hash(entry) != entry.get("hash"):
                changed = sorted(
                    k
                    for k in set(entry) | set(theirs)
                    if k not in ("hash", "prev") and entry.get(k) != theirs.get(k)
                )
                what = f" ({', '.join(changed)} differ)" if changed else " (its hash chain differs)"
                return TeamVerdict(
                    False,
                    f"line {line} (seq {key[1]}) differs from the team store's copy{what}: "
                    "the local log was rewritten",
                    line,
                )
        if local and not log_ids:
            return TeamVerdict(
                False,
                f"none of the {len(local)} local entries is in the team store: this log was "
                "never uploaded, or it was rewritten (new sessions, recomputed hashes)",
                0,
                len(missing),
            )
        cursor = cursor_path(path)
        if cursor.exists():
            log_ids.add(load_cursor(path).log_id)
        local_keys = {(str(e.get("session") or ""), int(e.get("seq") or 0)) for e in local}
        for log_id in sorted(log_ids):
            rows = conn.execute(
                "SELECT session, seq FROM cockpit.entries WHERE log_id = %s ORDER BY seq",
                (log_id,),
            ).fetchall()
            for session, seq in rows:
                if (str(session), int(str(seq))) not in local_keys:
                    return TeamVerdict(
                        False,
                        f"the team store holds seq {seq} (session {session}) of this log, "
                        "the local log does not: it was deleted",
                        len(local),
                    )
            broken = check_chain(conn, log_id)
            if broken:
                return TeamVerdict(False, broken, len(local))
    checked = len(local) - len(missing)
    note = f"; {len(missing)} at the end not uploaded yet" if missing else ""
    return TeamVerdict(
        True, f"{checked} entries match the team store's copy{note}", checked, len(missing)
    )
