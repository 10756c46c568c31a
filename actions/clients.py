"""Backend clients for actions, built only when needed, and never write-capable in read-only mode.

This is the third depth of read-only enforcement (after unbound keys and the executor): in
read-only mode `pg_action()`, `kube_api()` for writes and `http()` refuse to build anything, so
even a bug that reached an action's execute() could not send a mutating request.
Plans read live state through `pg_read()` (a `default_transaction_read_only` session) and the
kube client's GETs.
"""

from __future__ import annotations

import math
import ssl
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from cockpit.config import Config

if TYPE_CHECKING:  # the client libraries are imported when a client is built, not before
    import httpx
    from kubernetes.client import ApiClient
    from psycopg import AsyncConnection
    from psycopg.rows import TupleRow

ACTION_APPLICATION_NAME = "predictiq-cockpit-action"
PLAN_APPLICATION_NAME = "predictiq-cockpit-plan"

PgConnect = Callable[..., Awaitable["AsyncConnection[TupleRow]"]]


class ReadOnlyError(PermissionError):
    """A write-capable client was asked for in read-only mode."""


async def _psycopg_connect(url: str, **kwargs: Any) -> AsyncConnection[TupleRow]:
    import psycopg

    return await psycopg.AsyncConnection.connect(url, **kwargs)


class Clients:
    """Builds the clients actions use. `pg_connect` is how PostgreSQL connections are opened
    (tests pass a counting wrapper around psycopg's connect to prove it is never called)."""

    def __init__(self, cfg: Config, pg_connect: PgConnect | None = None) -> None:
        self.cfg = cfg
        self._pg_connect = pg_connect or _psycopg_connect
        self._kube: ApiClient | None = None

    def _require_writable(self, what: str) -> None:
        if self.cfg.read_only:
            raise ReadOnlyError(f"read-only mode: no {what} is created")

    def _pg_kwargs(self, application_name: str, read_only: bool) -> dict[str, Any]:
        db = self.cfg.database
        assert db is not None
        from psycopg.conninfo import conninfo_to_dict

        existing = conninfo_to_dict(db.url).get("options") or ""
        options = f"{existing} -c statement_timeout={int(db.statement_timeout_ms)}"
        if read_only:
            options += " -c default_transaction_read_only=on"
        return {
            "application_name": application_name,
            "options": options.strip(),
            "autocommit": True,
            "connect_timeout": max(2, math.ceil(db.connect_timeout_seconds)),
        }

    async def pg_read(self) -> AsyncConnection[TupleRow]:
        """A short-lived read-only session for plans (the caller closes it)."""
        if self.cfg.database is None:
            raise ValueError("no [database] configured")
        return await self._pg_connect(
            self.cfg.database.url, **self._pg_kwargs(PLAN_APPLICATION_NAME, True)
        )

    async def pg_action(self) -> AsyncConnection[TupleRow]:
        """A separate, write-capable session to signal backends; refused in read-only mode."""
        self._require_writable("write-capable PostgreSQL session")
        if self.cfg.database is None:
            raise ValueError("no [database] configured")
        return await self._pg_connect(
            self.cfg.database.url, **self._pg_kwargs(ACTION_APPLICATION_NAME, False)
        )

    def kube_api(self) -> ApiClient:
        """The kubernetes ApiClient for the configured context (built once, closed by aclose)."""
        if self.cfg.kubernetes is None:
            raise ValueError("no [kubernetes] configured")
        if self._kube is None:
            from cockpit.sources.kube.client import new_api_client

            self._kube = new_api_client(self.cfg.kubernetes)
        return self._kube

    def kube_writer(self) -> ApiClient:
        """The ApiClient for a mutating call; refused in read-only mode."""
        self._require_writable("write-capable Kubernetes client")
        return self.kube_api()

    def http(self) -> httpx.AsyncClient:
        """An httpx.AsyncClient for the API's admin endpoints; refused in read-only mode."""
        self._require_writable("admin HTTP client")
        import httpx

        api = self.cfg.api
        if api is None:
            raise ValueError("no [api] configured")
        verify: ssl.SSLContext | bool = api.verify_tls
        if api.verify_tls and api.ca_file:
            verify = ssl.create_default_context(cafile=api.ca_file)
        return httpx.AsyncClient(base_url=api.base_url, timeout=api.timeout_seconds, verify=verify)

    @property
    def kube_timeout(self) -> float:
        """`_request_timeout` for every Kubernetes call."""
        return self.cfg.kubernetes.request_timeout_seconds if self.cfg.kubernetes else 5.0

    def close(self) -> None:
        """Close the kube client (PostgreSQL and HTTP clients are closed by their users)."""
        if self._kube is not None:
            self._kube.close()
            self._kube = None
