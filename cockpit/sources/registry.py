"""Builds every configured source from the config: the one place the UI and `cockpit snapshot`
get their sources from.

A section left out of the config (None, or no [[certificates]]) builds no source; its name is
in `not_configured(cfg)` and panes/JSON say `NOT_CONFIGURED`. Every source gets
`refresh.timeout_seconds` as its collection timeout. Each source is built on its own: one that
cannot be built (a client library rejecting its URL) is returned as a failure with the reason,
and the others are built anyway. Imports of the client libraries happen here, lazily, so
importing this module stays cheap.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

from cockpit.config import Config
from cockpit.models import SOURCE_NAMES
from cockpit.sources.base import Source, describe_error

NOT_CONFIGURED = "not configured"
BUILD_STEP = "start"  # the SourceFailure.what of a source that could not be built


class BuiltSources(NamedTuple):
    """What `build_sources` made: the sources that exist, and why the others could not be built
    (source name -> one line an operator can act on)."""

    sources: dict[str, Source]
    failures: dict[str, str]


def configured_names(cfg: Config) -> tuple[str, ...]:
    """The sources this config asks for, in SOURCE_NAMES order."""
    wanted = {
        "kubernetes": cfg.kubernetes is not None,
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


def _builders(cfg: Config) -> dict[str, Callable[[], Source]]:
    """One constructor per configured section; each imports its client library when called."""
    timeout = cfg.refresh.timeout_seconds
    builders: dict[str, Callable[[], Source]] = {}
    kube, database, cache, api = cfg.kubernetes, cfg.database, cfg.cache, cfg.api
    if kube is not None:

        def build_kube() -> Source:
            from cockpit.sources.kube.source import KubeSource

            return KubeSource(kube, refresh=cfg.refresh)

        builders["kubernetes"] = build_kube
    if database is not None:

        def build_database() -> Source:
            from cockpit.sources.postgres.source import PostgresSource

            return PostgresSource(database, cfg.thresholds, timeout=timeout)

        builders["database"] = build_database
    if cache is not None:

        def build_cache() -> Source:
            from cockpit.sources.redis import RedisSource

            return RedisSource(cache, timeout=timeout)

        builders["cache"] = build_cache
    if cfg.certificates:

        def build_certificates() -> Source:
            from cockpit.sources.certs import CertificateSource

            return CertificateSource(cfg.certificates, cfg.thresholds, timeout=timeout)

        builders["certificates"] = build_certificates
    if api is not None:

        def build_api() -> Source:
            from cockpit.sources.api import ApiSource

            if cfg.prometheus is not None:
                from cockpit.sources.prommetrics import PromMetrics

                prom = PromMetrics(
                    cfg.prometheus,
                    api.metrics,
                    kube,
                    cfg.refresh.history_minutes,
                    step=cfg.refresh.interval_seconds,
                )
                return ApiSource(api, cfg.thresholds, timeout=timeout, prom=prom)
            if api.metrics.scrape == "pods" and kube is not None:
                from cockpit.sources.podscrape import PodScraper

                return ApiSource(
                    api,
                    cfg.thresholds,
                    timeout=timeout,
                    pods=PodScraper(kube, api.metrics_path, api.metrics),
                )
            return ApiSource(api, cfg.thresholds, timeout=timeout)

        builders["api"] = build_api
    return builders


def build_sources(cfg: Config) -> BuiltSources:
    """One source per configured section, keyed by source name, each built on its own. Opens no
    connection: each source connects on its first `collect()`; the caller closes them with
    `aclose()`. A source whose constructor raises is left out of `sources` and named in
    `failures` with the reason; it never stops the others."""
    sources: dict[str, Source] = {}
    failures: dict[str, str] = {}
    for name, build in _builders(cfg).items():
        try:
            sources[name] = build()
        except Exception as exc:  # one broken source never stops the others
            failures[name] = describe_error(exc)
    return BuiltSources(sources, failures)
