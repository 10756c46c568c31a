"""Who blocks whom: the lock sample (pg_blocking_pids, on its own cadence) and the blocking tree.

`pg_blocking_pids()` takes the lock manager's locks while it runs, so it is sampled at most every
`[database] locks_seconds` (`LockSampler`: the source then asks for it in its one statement of
the refresh), for the waiting sessions only, and the sample carries
every session of each chain, blockers included (a root blocker idle in transaction for an hour
is outside the connections table's window). A session can wait for several others (a shared
lock held by two, a queue behind a waiter): it is shown under each of them, and each node says
which other pids it also waits for. pg_activity's view shows one blocker only (its issue #240).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cockpit.durations import duration
from cockpit.models import DbConnection, utcnow

RowToConnection = Callable[[dict[str, Any]], DbConnection]


class LockSampler:
    """Takes a lock sample when one is due and keeps the last one between samples."""

    def __init__(self, every_seconds: float, to_connection: RowToConnection) -> None:
        self.every_seconds = every_seconds
        self._to_connection = to_connection
        self.sessions: tuple[DbConnection, ...] = ()
        self.sampled_at: datetime | None = None
        self._last: float | None = None

    def due(self, now: float) -> bool:
        """Whether the next collection should sample (never sampled, or the cadence elapsed)."""
        return self._last is None or now - self._last >= self.every_seconds

    def sample_next_time(self) -> None:
        """Sample at the next collection (the blocking tree was just opened)."""
        self._last = None

    def take(self, rows: Iterable[dict[str, Any]], now: float) -> None:
        """The sample read by this collection (activity_summary_sql's `locks`, taken when
        `due`): every session of every lock chain, blockers included."""
        self.sessions = tuple(self._to_connection(row) for row in rows)
        self._last, self.sampled_at = now, utcnow()

    def blocked_by(self) -> Mapping[int, tuple[int, ...]]:
        """pid -> the pids it waits for, in the last sample."""
        return {c.pid: c.blocked_by for c in self.sessions if c.blocked_by}


def epoch_datetime(value: object) -> datetime | None:
    """Epoch seconds (as the lock sample and the JSON rows carry times) as an aware datetime."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return datetime.fromtimestamp(value, UTC)


@dataclass(frozen=True)
class LockNode:
    """A session in the tree and the sessions that wait for it directly."""

    session: DbConnection
    waiters: tuple[LockNode, ...]
    behind: int  # distinct sessions waiting behind it, transitively
    frees: int  # of those, how many wait only through it (terminating it lets them go on)
    also_waits_for: tuple[int, ...] = ()  # its other blockers, besides the parent in the tree

    @property
    def pid(self) -> int:
        """The session's backend pid."""
        return self.session.pid


def _waiters_of(sessions: Iterable[DbConnection]) -> dict[int, list[int]]:
    waiters: dict[int, list[int]] = {}
    for c in sessions:
        for blocker in c.blocked_by:
            waiters.setdefault(blocker, []).append(c.pid)
    return waiters


def _behind(pid: int, waiters: Mapping[int, list[int]]) -> set[int]:
    seen: set[int] = set()
    todo = list(waiters.get(pid, ()))
    while todo:
        p = todo.pop()
        if p not in seen and p != pid:
            seen.add(p)
            todo.extend(waiters.get(p, ()))
    return seen


def frees(
    pid: int, by_pid: Mapping[int, DbConnection], waiters: Mapping[int, list[int]]
) -> set[int]:
    """The sessions that would no longer wait if `pid` ended: those whose every blocker is
    `pid` or a session freed in turn."""
    gone = {pid}
    freed: set[int] = set()
    changed = True
    behind = _behind(pid, waiters)
    while changed:
        changed = False
        for p in behind - freed:
            session = by_pid.get(p)
            if session is not None and set(session.blocked_by) <= gone:
                freed.add(p)
                gone.add(p)
                changed = True
    return freed


def lock_tree(sessions: Iterable[DbConnection]) -> tuple[LockNode, ...]:
    """The blocking chains as trees, the root blocker (blocking, not waiting) of each first,
    the roots holding the most sessions first. A chain that is a cycle (a deadlock the
    server has not broken yet) is rooted at its lowest pid."""
    sessions = list(sessions)
    by_pid = {c.pid: c for c in sessions}
    waiters = _waiters_of(sessions)
    blockers = set(waiters)
    roots = [p for p in blockers if p in by_pid and not by_pid[p].blocked_by]
    covered = set(roots).union(*(_behind(r, waiters) for r in roots)) if roots else set[int]()
    for c in sorted(sessions, key=lambda s: s.pid):  # cycles: nothing outside them blocks
        if c.blocked_by and c.pid not in covered:
            roots.append(c.pid)
            covered |= {c.pid} | _behind(c.pid, waiters)

    def build(pid: int, parent: int | None, path: frozenset[int]) -> LockNode:
        session = by_pid.get(pid) or _unknown(pid)
        children = tuple(
            build(w, pid, path | {pid})
            for w in sorted(waiters.get(pid, ()))
            if w not in path and w != pid
        )
        return LockNode(
            session,
            children,
            len(_behind(pid, waiters)),
            len(frees(pid, by_pid, waiters)),
            tuple(b for b in session.blocked_by if b != parent),
        )

    trees = [build(r, None, frozenset()) for r in roots]
    return tuple(sorted(trees, key=lambda n: (-n.behind, n.pid)))


def _unknown(pid: int) -> DbConnection:
    """A blocker the sample has no row for (it ended between the two reads)."""
    return DbConnection(
        pid=pid,
        user="",
        application="",
        client_addr="",
        database="",
        state="gone",
        query="",
        backend_start=None,
        query_start=None,
        state_change=None,
        query_seconds=None,
        idle_seconds=None,
    )


def describe(node: LockNode) -> str:
    """One line: pid, state and for how long, who, how many wait behind it, the query."""
    c = node.session
    seconds = c.idle_seconds if c.state.startswith("idle") else c.query_seconds
    how_long = duration(seconds) if seconds is not None else ""
    parts = [f"pid {c.pid}", f"{c.state or '?'}{' for ' + how_long if how_long else ''}"]
    if c.user or c.application:
        parts.append(f"{c.user}{' · ' + c.application if c.application else ''}")
    if c.wait_event_type == "Lock":
        parts.append(f"waits on {c.wait_event or 'a lock'}")
    if node.behind:
        parts.append(f"{node.behind} waiting behind it")
    if node.also_waits_for:
        parts.append("also waits for " + ", ".join(f"pid {p}" for p in node.also_waits_for))
    query = " ".join(c.query.split())
    return " · ".join(parts) + (f" · {query[:120]}" if query else "")


def render_lines(trees: Iterable[LockNode]) -> list[tuple[int, int, str]]:
    """(depth, pid, text) per line, pre-order: a root, then the sessions waiting for it."""
    out: list[tuple[int, int, str]] = []

    def walk(node: LockNode, depth: int) -> None:
        out.append((depth, node.pid, describe(node)))
        for child in node.waiters:
            walk(child, depth + 1)

    for tree in trees:
        walk(tree, 0)
    return out
