"""Builds every configured source from the config: the one place the UI and `cockpit snapshot`
get their sources from.

A section left out of the config (None, or no [[certificates]]) builds no source; its name is
in `not_configured(cfg)` and panes/JSON say `NOT_CONFIGURED`. Every source gets
`refresh.timeout_seconds` as its collection timeout. Imports of the client libraries happen here,
lazily, so importing this module stays cheap.
"""

from __future__ import annotations

import importlib
import importlib.util

from cockpit.config import Config
from cockpit.models import SOURCE_NAMES
from cockpit.sources.base import Source

NOT_CONFIGURED = "not configured"
KUBE_MODULE = "cockpit.sources.kube.source"


def kube_available() -> bool:
    """Whether the Kubernetes source module exists in this build."""
    try:
        return importlib.util.find_spec(KUBE_MODULE) is not None
    except ImportError:
        return False


def configured_names(cfg: Config) -> tuple[str, ...]:
    """The sources this config asks for, in SOURCE_NAMES order."""
    wanted = {
        "kubernetes": cfg.kubernetes is not None and kube_available(),
        "database": cfg.database is not None,
        "cache": cfg.cache is not None,
        "certificates": bool(cfg.certificates),
        "api": cfg.api is not None,
    }
    return tuple(name for name in SOURCE_NAMES if wanted[name])


def not_configured(cfg: Config) -> tuple[str, ...]:
    """The sources this config leaves out (shown as NOT_CONFIGURED, never as failures)."""
    configured = configured_names(cfg)
    return tuple(name for name in SOURCE_NAMES if name not in configured)


def build_sources(cfg: Config) -> dict[str, Source]:
    """One source per configured section, keyed by source name. Opens no connection: each
    source connects on its first `collect()`; the caller closes them with `aclose()`."""
    timeout = cfg.refresh.timeout_seconds
    names = configured_names(cfg)
    sources: dict[str, Source] = {}
    if "kubernetes" in names:
        kube = importlib.import_module(KUBE_MODULE)
        sources["kubernetes"] = kube.KubeSource(cfg.kubernetes, refresh=cfg.refresh)
    if "database" in names:
        from cockpit.sources.postgres.source import PostgresSource

        sources["database"] = PostgresSource(cfg.database, cfg.thresholds, timeout=timeout)
    if "cache" in names:
        from cockpit.sources.redis import RedisSource

        sources["cache"] = RedisSource(cfg.cache, timeout=timeout)
    if "certificates" in names:
        from cockpit.sources.certs import CertificateSource

        sources["certificates"] = CertificateSource(cfg.certificates, cfg.thresholds,
                                                    timeout=timeout)
    if "api" in names:
        from cockpit.sources.api import ApiSource

        sources["api"] = ApiSource(cfg.api, cfg.thresholds, timeout=timeout)
    return sources
