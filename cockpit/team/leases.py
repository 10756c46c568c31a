"""Action leases on the team store: a mutating action holds its target while it runs, so two
operators do not restart the same deployment at once.

The lease's key is where the action acts (context, namespace, target); it is taken before the
intent is written, released with the result, and expires after the action's timeout when its
cockpit dies. `TeamLeases` is the executor's view of it (actions.leases.Leases).
"""

from __future__ import annotations

from datetime import datetime
from urllib.parse import urlsplit

from cockpit.durations import duration
from cockpit.team.store import Lease
from cockpit.team.sync import LeaseAnswer, TeamSync

_VERBS = {
    "restart": "restarting",
    "scale": "scaling",
    "kill_idle": "killing idle connections of",
    "warm_cache": "warming",
    "cancel_query": "cancelling a query on",
    "terminate": "terminating a connection on",
    "terminate_blocker": "terminating the root blocker on",
    "create_index": "building an index on",
    "backup": "backing up",
}


def target_name(target: str) -> str:
    """The name an operator types to override a lease: the deployment's name of
    'deployment/predictiq-api', the database's of a PostgreSQL URL, else the target itself."""
    if "://" in target:
        name = urlsplit(target).path.strip("/")
        return name or target
    return target.rsplit("/", 1)[-1] or target


def lease_key(context: str, namespace: str, target: str) -> str:
    """What a lease is on: the same target in another cluster or namespace is another one."""
    return "|".join(part for part in (context, namespace, target) if part)


def describe(lease: Lease, now: datetime) -> str:
    """'bob@jump2 is restarting predictiq-api (since 12 s)'."""
    verb = _VERBS.get(lease.action, f"running {lease.action} on")
    since = duration(max(0.0, (now - lease.taken_at).total_seconds()))
    name = target_name(lease.target.rsplit("|", 1)[-1])
    return f"{lease.operator} is {verb} {name} (since {since})"


class TeamLeases:
    """Leases through one cockpit's TeamSync (from the app's event loop)."""

    def __init__(self, sync: TeamSync) -> None:
        self.sync = sync

    async def holder(self, key: str) -> Lease | None:
        """Another cockpit's live lease on `key` (None: free, ours, or the store is away)."""
        lease = await self.sync.lease_of(key)
        return lease if lease is not None and lease.session != self.sync.session else None

    async def take(self, key: str, action: str, seconds: float, *, force: bool) -> LeaseAnswer:
        """Take the lease (from whoever holds it when `force`)."""
        return await self.sync.take_lease(key, action, seconds, force=force)

    async def release(self, key: str) -> None:
        """Give the lease back (bounded; left to expire when the store is away)."""
        await self.sync.release_lease(key)
