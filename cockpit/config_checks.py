"""What `cockpit check-config` checks beyond the file's shape: the values the client libraries
would refuse at run time, asked of those libraries themselves.

A database URL libpq cannot parse (`psycopg.conninfo.conninfo_to_dict`), a port that is no
number, a Redis URL redis-py refuses (`redis.connection.parse_url`), a label selector outside the
Kubernetes grammar, a kubeconfig or CA file that does not exist. Each is a ConfigError naming
the file, the dotted key and what was expected, like every other config mistake.

The client libraries are imported inside the checks, so importing this module costs nothing,
and the app never runs them before its first frame: `cockpit` and `cockpit snapshot` build each
source on its own, and a source that cannot be built says why in its pane.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import cast
from urllib.parse import urlsplit

from cockpit.config import (
    ApiConfig,
    CacheConfig,
    Config,
    ConfigError,
    DatabaseConfig,
    KubernetesConfig,
)
from cockpit.labelselector import SelectorError, parse_selector


def _port_error(port: str) -> str | None:
    """Why `port` is no TCP port, or None ('' is fine: the library's default)."""
    if port == "":
        return None
    if not port.isdigit() or not 1 <= int(port) <= 65535:
        return f"expected a port from 1 to 65535, got {port!r}"
    return None


def check_database(db: DatabaseConfig, path: str) -> None:
    """The URL or key=value DSN as libpq parses it, and every port in it."""
    check_dsn(db.url, path, "database.url")


def check_dsn(url: str, path: str, key: str) -> None:
    """A libpq URL or key=value DSN as libpq parses it, and every port in it."""
    from psycopg import ProgrammingError
    from psycopg.conninfo import conninfo_to_dict

    try:
        params = conninfo_to_dict(url)
    except ProgrammingError as exc:
        reason = " ".join(str(exc).split())
        raise ConfigError(
            f"expected a libpq URL (postgresql://user@host:5432/dbname) or "
            f"key=value DSN; libpq says: {reason}",
            path=path,
            key=key,
        ) from None
    port = params.get("port")
    for one in str(port).split(",") if port is not None else ():
        if (error := _port_error(one.strip())) is not None:
            raise ConfigError(error, path=path, key=key)


def check_cache(cache: CacheConfig, path: str) -> None:
    """The URL as redis-py parses it: a redis://, rediss:// or unix:// scheme and a numeric port."""
    from redis import connection

    parse_url = cast(
        "Callable[[str], dict[str, object]]", connection.parse_url
    )  # untyped in redis-py
    try:
        parse_url(cache.url)
    except ValueError as exc:
        raise ConfigError(
            f"expected a redis://, rediss:// or unix:// URL "
            f"(redis://host:6379/0); redis-py says: {exc}",
            path=path,
            key="cache.url",
        ) from None


def check_api(api: ApiConfig, path: str) -> None:
    """The base URL's port, and the CA bundle's existence."""
    host_port = urlsplit(api.base_url).netloc.rpartition("@")[2].rpartition("]")[2]  # past [v6]
    _, colon, port = host_port.rpartition(":")
    if colon and (error := _port_error(port)) is not None:
        raise ConfigError(error, path=path, key="api.base_url")
    _check_file(api.ca_file, path, "api.ca_file", "a CA bundle (PEM)")


def check_kubernetes(kube: KubernetesConfig, path: str) -> None:
    """The selector against the label selector grammar; the kubeconfig file, when named."""
    try:
        parse_selector(kube.selector)
    except SelectorError as exc:
        raise ConfigError(
            f"expected a label selector (app=api, tier in (web,api), !canary): {exc}",
            path=path,
            key="kubernetes.selector",
        ) from None
    _check_file(kube.kubeconfig, path, "kubernetes.kubeconfig", "a kubeconfig file")


def _check_file(name: str, path: str, key: str, what: str) -> None:
    if name and not Path(name).expanduser().is_file():
        raise ConfigError(f"expected {what}; {name!r} does not exist", path=path, key=key)


def check_runtime(cfg: Config) -> None:
    """Every check above, for each configured section. Raises the first ConfigError."""
    path = cfg.source_path or "<config>"
    if cfg.kubernetes is not None:
        check_kubernetes(cfg.kubernetes, path)
    if cfg.database is not None:
        check_database(cfg.database, path)
    if cfg.cache is not None:
        check_cache(cfg.cache, path)
    if cfg.team is not None:
        check_dsn(cfg.team.url, path, "team.url")
    if cfg.api is not None:
        check_api(cfg.api, path)
    for i, cert in enumerate(cfg.certificates):
        _check_file(cert.ca_file, path, f"certificates[{i}].ca_file", "a CA bundle (PEM)")
    if cfg.prometheus is not None:
        _check_file(cfg.prometheus.ca_file, path, "prometheus.ca_file", "a CA bundle (PEM)")
