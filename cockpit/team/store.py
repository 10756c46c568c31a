"""The SQL a cockpit runs against the team store, one async function per question.

Every function takes an open `psycopg.AsyncConnection` and keeps to one short transaction; the
caller (cockpit.team.sync) owns the connections, their timeouts and reconnection.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

import psycopg
from psycopg.rows import TupleRow

AsyncConn = psycopg.AsyncConnection[TupleRow]
INSERT_LOCK = 0x636F6E74  # pg_advisory_xact_lock key that serialises entry inserts


@dataclass(frozen=True)
class StoredEntry:
    """One entry as the store holds it: its team-wide id and the local log line it came from."""

    id: int
    log_id: str
    body: str

    def entry(self) -> dict[str, Any]:
        """The audit entry (a JSON object; {} when the body is not one)."""
        try:
            value: object = json.loads(self.body)
        except ValueError:
            return {}
        return cast("dict[str, Any]", value) if isinstance(value, dict) else {}


@dataclass(frozen=True)
class Presence:
    """A live cockpit as its last heartbeat described it."""

    session: str
    operator: str
    host: str
    context: str
    mode: str
    seen_at: datetime

    @property
    def who(self) -> str:
        """operator@host, as the banner shows it."""
        return f"{self.operator}@{self.host}"


@dataclass(frozen=True)
class Lease:
    """Who holds a target, for which action, since when and until when."""

    target: str
    session: str
    operator: str
    action: str
    taken_at: datetime
    expires_at: datetime


def who(entry: dict[str, Any]) -> str:
    """login@host of an entry's operator ('?' for what is missing)."""
    op = entry.get("operator")
    if not isinstance(op, dict):
        return "?"
    fields = cast("dict[str, object]", op)
    return f"{fields.get('login') or fields.get('uid') or '?'}@{fields.get('host') or '?'}"


def _row(log_id: str, body: str, entry: dict[str, Any]) -> tuple[object, ...]:
    incident = entry.get("incident_id")
    return (
        log_id,
        str(entry.get("session") or ""),
        int(entry.get("seq") or 0),
        str(entry.get("event") or ""),
        str(incident) if incident else None,
        who(entry),
        str(entry.get("time") or "1970-01-01T00:00:00Z"),
        str(entry.get("prev") or ""),
        str(entry.get("hash") or ""),
        body,
    )


async def insert_entries(
    conn: AsyncConn, log_id: str, lines: list[tuple[str, dict[str, Any]]]
) -> int:
    """Insert (body, entry) pairs of one local log; those already stored are skipped (by session
    and seq). Returns how many were new."""
    if not lines:
        return 0
    async with conn.transaction(), conn.cursor() as cur:
        # One writer at a time, so ids are committed in the order they are given: a reader
        # that has seen id N can never miss a smaller id committed after it.
        await cur.execute("SELECT pg_advisory_xact_lock(%s)", (INSERT_LOCK,))
        new = 0
        for body, entry in lines:
            await cur.execute(
                "INSERT INTO cockpit.entries (log_id, session, seq, event, incident_id, operator,"
                " time, prev, hash, body) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
                " ON CONFLICT (session, seq) DO NOTHING",
                _row(log_id, body, entry),
            )
            new += cur.rowcount
    return new


async def entries_after(conn: AsyncConn, last_id: int, limit: int = 500) -> list[StoredEntry]:
    """Entries after `last_id`, oldest first (at most `limit`). Ids commit in order (see
    insert_entries), so nothing can appear later below an id already read."""
    cur = await conn.execute(
        "SELECT id, log_id, body FROM cockpit.entries WHERE id > %s ORDER BY id LIMIT %s",
        (last_id, limit),
    )
    rows = await cur.fetchall()
    return [StoredEntry(int(str(r[0])), str(r[1]), str(r[2])) for r in rows]


async def open_incident_entries(conn: AsyncConn) -> tuple[int, list[StoredEntry]]:
    """(the newest id, every entry of the incidents open or closed in the last 24 h): what a
    cockpit joining the team applies first. One snapshot, so nothing falls between the two."""
    async with conn.transaction():
        await conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        cur = await conn.execute("SELECT coalesce(max(id), 0) FROM cockpit.entries")
        top = await cur.fetchone()
        cur = await conn.execute(
            "SELECT e.id, e.log_id, e.body FROM cockpit.entries e WHERE e.incident_id IN"
            " (SELECT id FROM cockpit.incidents"
            "  WHERE closed_at IS NULL OR closed_at > now() - interval '24 hours')"
            " ORDER BY e.id"
        )
        rows = await cur.fetchall()
    last = int(str(top[0])) if top else 0
    return last, [StoredEntry(int(str(r[0])), str(r[1]), str(r[2])) for r in rows]


async def claim_incident(
    conn: AsyncConn, rule: str, key: str, day: str, by: str
) -> tuple[str, bool]:
    """(the open incident id of this finding, whether this call created it)."""
    async with conn.transaction():
        cur = await conn.execute(
            "SELECT incident_id, created FROM cockpit.claim_incident(%s, %s, %s, %s)",
            (rule, key, day, by),
        )
        row = await cur.fetchone()
    if row is None:  # the function always returns one row
        raise RuntimeError("claim_incident returned nothing")
    return str(row[0]), bool(row[1])


async def declare_incident(conn: AsyncConn, day: str, by: str) -> str:
    """A new team-wide id for a declared incident (`by` is for symmetry with claims: the
    incident's row is made when its entry arrives)."""
    del by
    async with conn.transaction():
        cur = await conn.execute("SELECT cockpit.next_incident_number(%s)", (day,))
        row = await cur.fetchone()
    n = int(str(row[0])) if row else 0
    return f"INC-{day}-{n:04d}"


async def heartbeat(conn: AsyncConn, p: Presence) -> None:
    """Write (or refresh) this cockpit's presence row."""
    async with conn.transaction():
        await conn.execute(
            "INSERT INTO cockpit.presence (session, operator, host, context, mode)"
            " VALUES (%s, %s, %s, %s, %s) ON CONFLICT (session) DO UPDATE SET"
            " operator = EXCLUDED.operator, host = EXCLUDED.host, context = EXCLUDED.context,"
            " mode = EXCLUDED.mode, seen_at = now()",
            (p.session, p.operator, p.host, p.context, p.mode),
        )


async def leave(conn: AsyncConn, session: str) -> None:
    """Remove this cockpit's presence row (a clean exit)."""
    async with conn.transaction():
        await conn.execute("DELETE FROM cockpit.presence WHERE session = %s", (session,))


async def present(conn: AsyncConn, within_seconds: float) -> list[Presence]:
    """The cockpits whose last heartbeat is at most `within_seconds` old."""
    cur = await conn.execute(
        "SELECT session, operator, host, context, mode, seen_at FROM cockpit.presence"
        " WHERE seen_at > now() - make_interval(secs => %s) ORDER BY started_at",
        (within_seconds,),
    )
    rows = await cur.fetchall()
    return [
        Presence(str(r[0]), str(r[1]), str(r[2]), str(r[3]), str(r[4]), cast(datetime, r[5]))
        for r in rows
    ]


def _lease(row: tuple[object, ...]) -> Lease:
    return Lease(
        str(row[0]),
        str(row[1]),
        str(row[2]),
        str(row[3]),
        cast(datetime, row[4]),
        cast(datetime, row[5]),
    )


_LEASE_COLUMNS = "target, session, operator, action, taken_at, expires_at"


async def take_lease(
    conn: AsyncConn,
    target: str,
    session: str,
    operator: str,
    action: str,
    seconds: float,
    *,
    force: bool = False,
) -> tuple[bool, Lease | None]:
    """(taken, the holder when refused). A lease expired, or this session's own, is taken over;
    `force` takes it from whoever holds it (the operator typed the target's name)."""
    async with conn.transaction():
        cur = await conn.execute(
            "INSERT INTO cockpit.leases (target, session, operator, action, expires_at)"
            " VALUES (%s, %s, %s, %s, now() + make_interval(secs => %s))"
            " ON CONFLICT (target) DO UPDATE SET session = EXCLUDED.session,"
            " operator = EXCLUDED.operator, action = EXCLUDED.action, taken_at = now(),"
            " expires_at = EXCLUDED.expires_at"
            " WHERE %s OR cockpit.leases.expires_at < now()"
            " OR cockpit.leases.session = EXCLUDED.session"
            f" RETURNING {_LEASE_COLUMNS}",
            (target, session, operator, action, seconds, force),
        )
        if await cur.fetchone() is not None:
            return True, None
        cur = await conn.execute(
            f"SELECT {_LEASE_COLUMNS} FROM cockpit.leases WHERE target = %s", (target,)
        )
        row = await cur.fetchone()
    return False, _lease(row) if row else None


async def lease_of(conn: AsyncConn, target: str) -> Lease | None:
    """The unexpired lease on `target`, if any."""
    cur = await conn.execute(
        f"SELECT {_LEASE_COLUMNS} FROM cockpit.leases WHERE target = %s AND expires_at > now()",
        (target,),
    )
    row = await cur.fetchone()
    return _lease(row) if row else None


async def release_lease(conn: AsyncConn, target: str, session: str) -> None:
    """End this session's lease on `target` (someone else's is left alone)."""
    async with conn.transaction():
        await conn.execute(
            "DELETE FROM cockpit.leases WHERE target = %s AND session = %s", (target, session)
        )


async def claim_page(
    conn: AsyncConn, incident_id: str, event: str, session: str, operator: str
) -> bool:
    """Whether this cockpit is the one to send `event` for `incident_id` (first claim wins)."""
    async with conn.transaction():
        cur = await conn.execute(
            "INSERT INTO cockpit.pages (incident_id, event_action, session, operator)"
            " VALUES (%s, %s, %s, %s) ON CONFLICT DO NOTHING RETURNING 1",
            (incident_id, event, session, operator),
        )
        return await cur.fetchone() is not None
