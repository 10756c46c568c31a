"""The team store's background side: one thread with its own asyncio loop, so neither the UI
nor a headless engine ever waits on the store.

  writer    (live cockpits only) uploads what the local log holds past the cursor, after every
            append (the AuditLog tells it once the entry is fsynced) and after a reconnect;
            writes presence every heartbeat; runs incident claims, leases and page claims
  listener  LISTENs on `cockpit_events`; on each wake-up, and at least every second, reads the
            rows after the last id it has. After a (re)connect it catches up from that id, so
            nothing depends on a notification arriving.

Entries of other logs are queued for the owner of the incident engine, who takes them with
`drain()` on its own thread (`wake`, called from this thread, says there are some). A failure
of either connection makes the status offline with the time and the reason; both retry with
backoff. Every operation is bounded (connect timeout, statement_timeout, and a wait_for around
each round trip, which a hung network would otherwise outlast).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import socket
import threading
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

import psycopg

from cockpit.audit.log import AuditLog, mask_text
from cockpit.audit.operator import current_operator
from cockpit.config import TeamConfig
from cockpit.models import utcnow
from cockpit.sources.base import describe_error
from cockpit.team import store
from cockpit.team.cursor import Cursor, load_cursor, save_cursor, unsent
from cockpit.team.schema import CHANNEL
from cockpit.team.store import Lease, Presence, StoredEntry

log = logging.getLogger("cockpit.team")
T = TypeVar("T")
POLL_SECONDS = 1.0  # the listener reads the table at least this often, notification or not
MAX_BACKOFF = 2.0  # a restarted store is found again within 2 s


@dataclass(frozen=True)
class TeamStatus:
    """What the banner says of the team store."""

    online: bool
    offline_since: datetime | None
    reason: str
    others: tuple[Presence, ...]
    pending_upload: bool


@dataclass(frozen=True)
class LeaseAnswer:
    """The answer to a lease request: taken, refused (with the holder) or unknown (offline)."""

    taken: bool
    holder: Lease | None = None
    error: str = ""


class TeamSync:
    """One cockpit's link to the team store (start() once, stop() at exit)."""

    def __init__(
        self,
        cfg: TeamConfig,
        audit: AuditLog,
        *,
        read_only: bool,
        context: str = "",
        wake: Callable[[], None] | None = None,
        operator: str | None = None,
    ) -> None:
        self.cfg = cfg
        self.audit = audit
        self.read_only = read_only
        self.context = context
        self.wake = wake
        ident = current_operator()
        self.operator = operator or str(ident.get("login") or ident.get("uid") or "?")
        self.host = str(ident.get("host") or socket.gethostname()).split(".")[0]
        self.session = audit.session_id
        self.cursor: Cursor = load_cursor(audit.path)
        self.log_id = self.cursor.log_id
        if not read_only:
            save_cursor(audit.path, self.cursor)  # the identity exists before the first upload
        self._lock = threading.Lock()
        # (entry, from this cockpit's own log): own entries come only with the first catch-up,
        # for the engine to rebuild incidents its local trail cannot (see drain_marked)
        self._inbox: list[tuple[dict[str, Any], bool]] = []
        self._failures: dict[str, tuple[datetime, str]] = {}
        self._connected: set[str] = set()
        self._others: tuple[Presence, ...] = ()
        self._last_id: int | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._upload_wanted: asyncio.Event | None = None
        self._writer_conn: store.AsyncConn | None = None
        self._writer_lock: asyncio.Lock | None = None
        self._started_at = utcnow()

    # ------------------------------------------------------------------ life cycle (any thread)
    def start(self) -> TeamSync:
        """Start the thread; returns at once (connecting happens in the background)."""
        self._thread = threading.Thread(target=self._run, name="team-sync", daemon=True)
        self._thread.start()
        self._ready.wait(5)
        if not self.read_only:
            self.audit.listeners.append(self._entry_written)
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Leave (presence row removed), close the connections, end the thread."""
        if self._entry_written in self.audit.listeners:
            self.audit.listeners.remove(self._entry_written)
        loop, stop = self._loop, self._stop
        if loop is not None and stop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(stop.set)
        if self._thread is not None:
            self._thread.join(timeout)

    def status(self) -> TeamStatus:
        """Online or offline (since when, why), who else is on, whether uploads are pending."""
        with self._lock:
            failures = dict(self._failures)
            others = self._others
            connected = set(self._connected)
        wanted = {"listener"} if self.read_only else {"listener", "writer"}
        if failures:
            since, reason = min(failures.values())
            return TeamStatus(False, since, reason, others, not self.read_only)
        if connected < wanted:
            return TeamStatus(False, None, "connecting", others, not self.read_only)
        return TeamStatus(True, None, "", others, self._behind())

    def drain(self) -> list[dict[str, Any]]:
        """Entries of other cockpits received since the last call, in the store's order."""
        return [entry for entry, own in self.drain_marked() if not own]

    def drain_marked(self) -> list[tuple[dict[str, Any], bool]]:
        """Everything received since the last call as (entry, own), in the store's order. Own
        entries are those of this cockpit's log in the first catch-up: the history of the open
        incidents, which a cockpit that attached to another's incident cannot restore from its
        own trail alone (its acknowledgement is there, the incident's opening is not)."""
        with self._lock:
            out, self._inbox = self._inbox, []
        return out

    # ------------------------------------------------------------------ requests (any thread)
    def submit(
        self, make: Callable[[store.AsyncConn], Awaitable[T]]
    ) -> concurrent.futures.Future[T]:
        """Run `make(writer connection)` on the sync thread; the future fails when offline."""
        loop = self._loop
        if loop is None or self.read_only:
            failed: concurrent.futures.Future[T] = concurrent.futures.Future()
            failed.set_exception(RuntimeError("read-only: the team store is not written"))
            return failed
        return asyncio.run_coroutine_threadsafe(self._with_writer(make), loop)

    def claim_incident(
        self, rule: str, key: str, day: str
    ) -> concurrent.futures.Future[tuple[str, bool]]:
        """The team-wide id of a finding's open incident (and whether this cockpit made it)."""
        return self.submit(lambda c: store.claim_incident(c, rule, key, day, self.who))

    def declare_incident(self, day: str) -> concurrent.futures.Future[str]:
        """A new team-wide id for a declared incident."""
        return self.submit(lambda c: store.declare_incident(c, day, self.who))

    async def take_lease(
        self, target: str, action: str, seconds: float, *, force: bool = False
    ) -> LeaseAnswer:
        """Take the lease on `target` (from the caller's loop). Offline: not taken, error set."""
        future = self.submit(
            lambda c: store.take_lease(
                c, target, self.session, self.who, action, seconds, force=force
            )
        )
        try:
            taken, holder = await asyncio.wait_for(asyncio.wrap_future(future), self.op_timeout)
        except Exception as exc:
            future.cancel()
            return LeaseAnswer(False, None, self._reason(exc))
        return LeaseAnswer(taken, holder)

    async def lease_of(self, target: str) -> Lease | None:
        """Who holds `target` now (None when nobody, or the store cannot say)."""
        future = self.submit(lambda c: store.lease_of(c, target))
        try:
            return await asyncio.wait_for(asyncio.wrap_future(future), self.op_timeout)
        except Exception:
            future.cancel()
            return None

    async def release_lease(self, target: str) -> None:
        """End this cockpit's lease on `target` (from the caller's loop; expiry covers a
        failure)."""
        future = self.submit(lambda c: store.release_lease(c, target, self.session))
        try:
            await asyncio.wait_for(asyncio.wrap_future(future), self.op_timeout)
        except Exception:
            future.cancel()

    @property
    def who(self) -> str:
        """operator@host of this cockpit."""
        return f"{self.operator}@{self.host}"

    @property
    def op_timeout(self) -> float:
        """The longest one round trip to the store may take."""
        return self.cfg.statement_timeout_ms / 1000 + self.cfg.connect_timeout_seconds + 1

    # ------------------------------------------------------------------ the thread
    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except Exception:  # the thread must not die silently: the status says offline
            log.exception("team sync thread ended")

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        self._upload_wanted = asyncio.Event()
        self._writer_lock = asyncio.Lock()
        self._ready.set()
        tasks = [asyncio.create_task(self._listener())]
        if not self.read_only:
            self._upload_wanted.set()
            tasks.append(asyncio.create_task(self._writer()))
        await self._stop.wait()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        conn = self._writer_conn
        if conn is not None and not conn.closed:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(store.leave(conn, self.session), 2)
            await conn.close()

    def _entry_written(self, _entry: dict[str, Any]) -> None:
        loop, wanted = self._loop, self._upload_wanted
        if loop is not None and wanted is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(wanted.set)

    async def _connect(self, *, autocommit: bool) -> store.AsyncConn:
        options = f"-c statement_timeout={self.cfg.statement_timeout_ms}"
        options += " -c idle_in_transaction_session_timeout=10000"
        if self.read_only:
            options += " -c default_transaction_read_only=on"
        conn = await asyncio.wait_for(
            psycopg.AsyncConnection.connect(
                self.cfg.url,
                connect_timeout=max(2, int(self.cfg.connect_timeout_seconds)),
                autocommit=autocommit,
                application_name="cockpit team",
                options=options,
                keepalives=1,
                keepalives_idle=5,
                keepalives_interval=2,
                keepalives_count=2,
            ),
            self.cfg.connect_timeout_seconds + 2,
        )
        return conn

    async def _bounded(self, op: Coroutine[Any, Any, T]) -> T:
        return await asyncio.wait_for(op, self.op_timeout)

    def _reason(self, exc: BaseException) -> str:
        if isinstance(exc, TimeoutError):
            return f"no answer within {self.op_timeout:g} s"
        return mask_text(" ".join(describe_error(exc).split()))

    def _online(self, part: str) -> None:
        with self._lock:
            self._failures.pop(part, None)
            self._connected.add(part)

    def _offline(self, part: str, exc: BaseException) -> None:
        reason = self._reason(exc)
        with self._lock:
            self._connected.discard(part)
            since = self._failures.get(part, (utcnow(), ""))[0]
            self._failures[part] = (since, reason)
        log.warning("team store %s offline: %s", part, reason)

    async def _pause(self, seconds: float) -> None:
        assert self._stop is not None
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop.wait(), seconds)

    async def _with_writer(self, make: Callable[[store.AsyncConn], Awaitable[T]]) -> T:
        assert self._writer_lock is not None
        conn = self._writer_conn
        if conn is None or conn.closed or conn.broken:
            reason = self._failures.get("writer", (None, "not connected"))[1]
            raise RuntimeError(f"team store offline: {reason}")
        async with self._writer_lock:
            try:
                return await asyncio.wait_for(make(conn), self.op_timeout)
            except TimeoutError:
                await conn.close()  # out of step after a cancelled round trip: reconnect
                if self._upload_wanted is not None:
                    self._upload_wanted.set()  # so the writer notices now
                raise

    # -- writer
    async def _writer(self) -> None:
        assert self._stop is not None and self._upload_wanted is not None
        backoff = 0.5
        while not self._stop.is_set():
            conn: store.AsyncConn | None = None
            try:
                conn = await self._connect(autocommit=True)
                self._writer_conn = conn
                await self._beat(conn)
                self._online("writer")
                backoff = 0.5
                next_beat = asyncio.get_running_loop().time() + self.cfg.heartbeat_seconds
                while not self._stop.is_set():
                    self._upload_wanted.clear()
                    await self._upload(conn)
                    now = asyncio.get_running_loop().time()
                    if now >= next_beat:
                        await self._beat(conn)
                        next_beat = now + self.cfg.heartbeat_seconds
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(
                            self._upload_wanted.wait(), max(0.05, next_beat - now)
                        )
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._offline("writer", exc)
                if conn is not None:
                    with contextlib.suppress(Exception):
                        await conn.close()
                await self._pause(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF)

    async def _upload(self, conn: store.AsyncConn) -> None:
        assert self._writer_lock is not None
        while True:
            lines, after = unsent(self.audit.path, self.cursor)
            if after == self.cursor and not lines:
                return
            async with self._writer_lock:
                await self._bounded(store.insert_entries(conn, self.log_id, lines))
            self.cursor = after
            save_cursor(self.audit.path, after)
            if not lines:
                return

    def _behind(self) -> bool:
        try:
            st = self.audit.path.stat()
        except OSError:
            return False
        return st.st_ino != self.cursor.inode or st.st_size > self.cursor.offset

    async def _beat(self, conn: store.AsyncConn) -> None:
        assert self._writer_lock is not None
        mode = "read-only" if self.read_only else "live"
        me = Presence(self.session, self.operator, self.host, self.context, mode, utcnow())
        async with self._writer_lock:
            await self._bounded(store.heartbeat(conn, me))
            others = await self._bounded(store.present(conn, 3 * self.cfg.heartbeat_seconds))
        with self._lock:
            self._others = tuple(p for p in others if p.session != self.session)

    # -- listener
    async def _listener(self) -> None:
        assert self._stop is not None
        backoff = 0.5
        while not self._stop.is_set():
            conn: store.AsyncConn | None = None
            try:
                conn = await self._connect(autocommit=True)
                await self._bounded(conn.execute(f"LISTEN {CHANNEL}"))
                if self._last_id is None:
                    top, rows = await self._bounded(store.open_incident_entries(conn))
                    self._deliver(rows, with_own=True)
                    self._last_id = top
                await self._catch_up(conn)
                self._online("listener")
                backoff = 0.5
                beats = 0
                while not self._stop.is_set():
                    async for _ in conn.notifies(timeout=POLL_SECONDS, stop_after=1):
                        pass
                    await self._catch_up(conn)
                    beats += 1
                    if self.read_only and beats % max(1, int(self.cfg.heartbeat_seconds)) == 0:
                        await self._read_presence(conn)
            except asyncio.CancelledError:
                if conn is not None:
                    await conn.close()
                raise
            except Exception as exc:
                self._offline("listener", exc)
                if conn is not None:
                    with contextlib.suppress(Exception):
                        await conn.close()
                await self._pause(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF)

    async def _read_presence(self, conn: store.AsyncConn) -> None:
        others = await self._bounded(store.present(conn, 3 * self.cfg.heartbeat_seconds))
        with self._lock:
            self._others = tuple(others)

    async def _catch_up(self, conn: store.AsyncConn) -> None:
        while True:
            rows = await self._bounded(store.entries_after(conn, self._last_id or 0))
            if not rows:
                return
            self._deliver(rows)
            self._last_id = rows[-1].id

    def _deliver(self, rows: list[StoredEntry], *, with_own: bool = False) -> None:
        items = [
            (entry, r.log_id == self.log_id)
            for r in rows
            if (with_own or r.log_id != self.log_id) and (entry := r.entry())
        ]
        if not items:
            return
        with self._lock:
            self._inbox.extend(items)
        if self.wake is not None:
            try:
                self.wake()
            except Exception:  # the owner's trouble: it still finds them at its next drain
                log.exception("team sync wake-up failed")
