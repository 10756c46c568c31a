"""What the executor needs of action leases (team mode; cockpit.team.leases implements it).

Alone on one machine there are none (`ActionContext.leases` is None). In team mode a mutating
action takes the lease on its target before its intent is written and gives it back with the
result; another cockpit's lease refuses it unless the operator typed the target's name to
override, which is audited (`lease.override`). The store being away does not stop an action
during an incident: its intent then says the lease was not checked, and why.
"""

from __future__ import annotations

from typing import Protocol

from cockpit.team.store import Lease
from cockpit.team.sync import LeaseAnswer


class Leases(Protocol):
    """Leases on targets, shared by a team's cockpits."""

    async def holder(self, key: str) -> Lease | None:
        """Another cockpit's live lease on `key`, or None."""
        ...

    async def take(self, key: str, action: str, seconds: float, *, force: bool) -> LeaseAnswer:
        """Take the lease on `key` for `seconds`; `force` takes it from its holder."""
        ...

    async def release(self, key: str) -> None:
        """Give the lease on `key` back (bounded; a failure leaves it to expire)."""
        ...
