"""Helpers for the lab and drill tests: polling, a started Lab, and readings taken from the
servers."""

from __future__ import annotations

import contextlib
import socket
import ssl
from collections.abc import Iterator
from pathlib import Path

import psycopg
import redis
from cryptography import x509

from cockpit.config import Config, load_config
from cockpit.lab.apisim.podlog import PodAccessLog
from cockpit.lab.apisim.pods import connect, running_pods
from cockpit.lab.apisim.sim import ApiSimulator
from cockpit.lab.kubesim.sim import KubeSim
from cockpit.lab.lab import Lab
from cockpit.lab.schema import install_schema
from tests.waiting import port_open, wait_for

__all__ = ["port_open", "wait_for"]  # re-exported for the lab tests


@contextlib.contextmanager
def started_lab(tmp: Path, **kwargs: object) -> Iterator[Lab]:
    """A Lab in `tmp` with its audit log there too, stopped at the end."""
    lab = Lab(tmp, audit_path=str(tmp / "audit.jsonl"), **kwargs)
    lab.start()
    try:
        yield lab
    finally:
        lab.stop()


@contextlib.contextmanager
def api_over_pods(
    pg,
    redis_server,
    *,
    rps: float,
    seed: int,
    namespace: str = "predictiq",
    deployment: str = "predictiq-api",
    replicas: int = 3,
) -> Iterator[tuple[ApiSimulator, KubeSim]]:
    """An API simulator under `rps` of real traffic, split over a KubeSim's `replicas` pods as
    a Service would (each pod's counters behind the pod proxy, each request in the log of the
    pod that counted it); both stopped at the end. `pg` and `redis_server` are the conftest
    handles."""
    with pg.connect() as conn:
        install_schema(conn)
    api = ApiSimulator(pg.url, redis_server.url, rate_limit_rps=None).start()
    try:
        api.start_traffic(rps)
        with KubeSim(
            namespace=namespace, deployment=deployment, replicas=replicas, delay=0.05, seed=seed
        ) as kube:
            connect(api.pod_metrics, kube)
            api.set_request_log(PodAccessLog(kube))
            wait_for(lambda: len(running_pods(kube)) == replicas, what=f"{replicas} ready pods")
            yield api, kube
    finally:
        api.stop()


def lab_config(lab: Lab) -> Config:
    """The lab's config.toml, loaded the way the cockpit loads it (env refs from lab.env)."""
    return load_config(lab.config_path, env=lab.env)


def client_backends(lab: Lab, user: str | None = None) -> int:
    """Client backends on the lab's server (optionally of one role), counted as the superuser."""
    with psycopg.connect(lab.admin_url, connect_timeout=5, autocommit=True) as conn:
        return int(
            conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'"
                " AND (%(u)s::text IS NULL OR usename = %(u)s)",
                {"u": user},
            ).fetchone()[0]
        )


def hit_rate_over_next(lab: Lab, lookups: int = 20, timeout: float = 15.0) -> float:
    """Hit rate of the next `lookups` cache lookups, from Redis INFO keyspace deltas."""
    with redis.Redis.from_url(lab.redis_url, socket_timeout=3, socket_connect_timeout=3) as r:

        def counts() -> tuple[int, int]:
            stats = r.info("stats")
            return int(stats["keyspace_hits"]), int(stats["keyspace_misses"])

        hits0, misses0 = counts()

        def enough() -> tuple[int, int] | None:
            hits, misses = counts()
            return (
                (hits - hits0, misses - misses0)
                if hits + misses - hits0 - misses0 >= lookups
                else None
            )

        hits, misses = wait_for(enough, timeout, what=f"{lookups} cache lookups")
    return hits / (hits + misses)


def peer_certificate(lab: Lab) -> x509.Certificate:
    """The certificate the API's TLS endpoint serves now (read with verification off)."""
    ctx = ssl.create_default_context()
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    with (
        socket.create_connection(("127.0.0.1", lab.cert.port), timeout=5) as sock,
        ctx.wrap_socket(sock, server_hostname=lab.cert.server_name) as tls,
    ):
        return x509.load_der_x509_certificate(tls.getpeercert(binary_form=True))


def verifies(lab: Lab) -> bool:
    """Whether the API's endpoint passes a full verification against the lab CA."""
    ctx = ssl.create_default_context(cafile=str(lab.tls.ca_path))
    try:
        with (
            socket.create_connection(("127.0.0.1", lab.cert.port), timeout=5) as sock,
            ctx.wrap_socket(sock, server_hostname=lab.cert.server_name),
        ):
            return True
    except ssl.SSLCertVerificationError:
        return False
