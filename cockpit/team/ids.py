"""Incident ids from the team store, without ever making the engine wait (see
cockpit.incidents.ids): a finding's claim runs on the sync thread and is answered "pending"
until it is back; a declared incident takes an id reserved beforehand.
"""

from __future__ import annotations

import concurrent.futures
import threading
import time

from cockpit.incidents.ids import Claim
from cockpit.team.sync import TeamSync

WALL_WAIT = 30.0  # how long a wall screen waits for a live cockpit's incident of a finding


class TeamIncidentIds:
    """`IncidentIds` on a TeamSync. Thread-safe; the engine calls it on its own thread."""

    def __init__(self, sync: TeamSync) -> None:
        self.sync = sync
        self._lock = threading.Lock()
        self._claims: dict[tuple[str, str, str], concurrent.futures.Future[tuple[str, bool]]] = {}
        self._reserved: dict[str, concurrent.futures.Future[str]] = {}
        self._waiting: dict[tuple[str, str], float] = {}  # wall screens: since when

    def finding(self, rule: str, key: str, day: str) -> Claim:
        """Pending while the store is asked; then created/attached with the id, or offline."""
        if self.sync.read_only:
            return self._wall(rule, key)
        with self._lock:
            future = self._claims.get((rule, key, day))
            if future is None:
                future = self.sync.claim_incident(rule, key, day)
                future.add_done_callback(lambda _f: self._wake())
                self._claims[(rule, key, day)] = future
                return Claim("pending")
            if not future.done():
                return Claim("pending")
            del self._claims[(rule, key, day)]  # answered: the next incident asks afresh
        try:
            incident_id, created = future.result()
        except Exception:
            return Claim("offline")
        return Claim("created" if created else "attached", incident_id)

    def _wall(self, rule: str, key: str) -> Claim:
        """A wall screen writes nothing and numbers nothing the team sees: while live cockpits
        are on, it waits (up to WALL_WAIT s) for their incident to arrive and shows that one;
        alone, offline, or after the wait, it opens its own (local id, never uploaded)."""
        status = self.sync.status()
        if not status.online or not any(p.mode == "live" for p in status.others):
            return Claim("offline")
        now = time.monotonic()
        with self._lock:
            first = self._waiting.setdefault((rule, key), now)
        if now - first < WALL_WAIT:
            return Claim("pending")
        return Claim("offline")

    def declared(self, day: str) -> str | None:
        """An id reserved from the store for `day` (and the next one asked for), or None."""
        if self.sync.read_only:
            return None
        with self._lock:
            future = self._reserved.get(day)
            if future is not None and not future.done():
                return None  # still being asked: number this one locally
            self._reserved[day] = self.sync.declare_incident(day)
        if future is None:
            return None
        try:
            return future.result()
        except Exception:
            return None

    def reserve(self, day: str) -> None:
        """Ask for a declared incident's id ahead of need (at start, and after each use)."""
        if self.sync.read_only:
            return
        with self._lock:
            if day not in self._reserved:
                self._reserved[day] = self.sync.declare_incident(day)

    def _wake(self) -> None:
        if self.sync.wake is not None:
            try:
                self.sync.wake()
            except Exception:  # the engine looks again at its next evaluation anyway
                return
