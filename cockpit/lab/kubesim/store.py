"""The simulator's etcd: objects as JSON dicts, one global resourceVersion, a bounded history.

Objects are copy-on-write: a stored dict is never mutated after it is stored, so a list or a
watch can serialise it outside the lock. Every write bumps the global resourceVersion and appends
one entry to the history that watches replay; trimming the history makes old versions "Gone".
"""

from __future__ import annotations

import copy
import threading
import uuid
from bisect import bisect_right
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from cockpit.lab.kubesim.jsontypes import JSON
from cockpit.lab.kubesim.select import matches_fields, matches_labels

ObjectKey = tuple[str, str]  # (namespace or "", name)


def now_rfc3339() -> str:
    """The current time the way the API server writes timestamps."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Change:
    """One write in the history: what a watch replays after `resource_version`."""

    resource_version: int
    resource: str
    event_type: str  # ADDED, MODIFIED or DELETED
    obj: JSON
    previous: JSON | None  # the object before the write, to turn selector exits into DELETED


class ResourceVersionGone(Exception):
    """Raised when a watch asks for a resourceVersion older than the kept history."""


class ObjectStore:
    """Thread-safe object store keyed by resource (plural name) and (namespace, name)."""

    def __init__(self, history_limit: int = 20_000) -> None:
        self.lock = threading.RLock()
        self.changed = threading.Condition(self.lock)  # watches wait on this for new writes
        self._history_limit = history_limit
        self._objects: dict[str, dict[ObjectKey, JSON]] = {}
        self._rv = 1
        self._history: list[Change] = []
        self._history_rvs: list[int] = []
        self._oldest_rv = 1  # a watch may resume from any version >= this one

    @property
    def resource_version(self) -> int:
        """The latest resourceVersion handed out."""
        return self._rv

    @property
    def oldest_resource_version(self) -> int:
        """The oldest resourceVersion a watch can still resume from."""
        return self._oldest_rv

    def get(self, resource: str, namespace: str, name: str) -> JSON | None:
        """The stored object, or None. Do not mutate it."""
        with self.lock:
            return self._objects.get(resource, {}).get((namespace, name))

    def items(self, resource: str, namespace: str | None = None) -> list[JSON]:
        """All stored objects of a resource (optionally in one namespace), sorted by key."""
        with self.lock:
            table = self._objects.get(resource, {})
            keys = sorted(k for k in table if namespace is None or k[0] == namespace)
            return [table[k] for k in keys]

    def list(
        self,
        resource: str,
        namespace: str | None,
        label_selector: str = "",
        field_selector: str = "",
    ) -> tuple[list[JSON], int]:
        """Matching objects and the resourceVersion of the snapshot they come from."""
        with self.lock:
            objs = self.items(resource, namespace)
            rv = self._rv
        if label_selector or field_selector:
            objs = [
                o
                for o in objs
                if matches_labels(o, label_selector) and matches_fields(o, field_selector)
            ]
        return objs, rv

    def put(self, resource: str, obj: JSON) -> JSON:
        """Create or replace an object (taking ownership of the dict); returns the stored one."""
        meta = obj.setdefault("metadata", {})
        key = (meta.get("namespace", ""), meta["name"])
        with self.lock:
            table = self._objects.setdefault(resource, {})
            previous = table.get(key)
            if previous is None:
                meta.setdefault("uid", str(uuid.uuid4()))
                meta.setdefault("creationTimestamp", now_rfc3339())
            else:
                meta["uid"] = previous["metadata"]["uid"]
                meta["creationTimestamp"] = previous["metadata"]["creationTimestamp"]
            self._rv += 1
            meta["resourceVersion"] = str(self._rv)
            table[key] = obj
            self._record(resource, "MODIFIED" if previous else "ADDED", obj, previous)
            return obj

    def update(
        self, resource: str, namespace: str, name: str, mutate: Callable[[JSON], object]
    ) -> JSON | None:
        """Copy the stored object, apply `mutate` to the copy and store it; None if absent."""
        with self.lock:
            current = self.get(resource, namespace, name)
            if current is None:
                return None
            fresh = copy.deepcopy(current)
            mutate(fresh)
            return self.put(resource, fresh)

    def delete(self, resource: str, namespace: str, name: str) -> JSON | None:
        """Remove an object; returns its final state (with a new resourceVersion) or None."""
        with self.lock:
            previous = self._objects.get(resource, {}).pop((namespace, name), None)
            if previous is None:
                return None
            final = copy.deepcopy(previous)
            self._rv += 1
            final["metadata"]["resourceVersion"] = str(self._rv)
            self._record(resource, "DELETED", final, previous)
            return final

    def put_many(self, resource: str, objs: Iterable[JSON]) -> None:
        """Store many new objects under one lock (bulk setup of thousands of pods)."""
        with self.lock:
            for obj in objs:
                self.put(resource, obj)

    def changes_after(self, resource_version: int) -> list[Change]:
        """Every change with a version above `resource_version`; raises if it is too old."""
        with self.lock:
            if resource_version < self._oldest_rv:
                raise ResourceVersionGone(resource_version)
            start = bisect_right(self._history_rvs, resource_version)
            return self._history[start:]

    def expire_history(self) -> None:
        """Forget all history, as an etcd compaction would: every older version becomes Gone."""
        with self.lock:
            self._history.clear()
            self._history_rvs.clear()
            self._oldest_rv = self._rv
            self.changed.notify_all()

    def _record(self, resource: str, event_type: str, obj: JSON, previous: JSON | None) -> None:
        self._history.append(Change(self._rv, resource, event_type, obj, previous))
        self._history_rvs.append(self._rv)
        if len(self._history) > 2 * self._history_limit:
            # Trim in halves so appends stay amortised O(1).
            drop = len(self._history) - self._history_limit
            self._oldest_rv = self._history_rvs[drop - 1]
            del self._history[:drop]
            del self._history_rvs[:drop]
        self.changed.notify_all()
