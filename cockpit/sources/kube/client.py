"""One kubernetes ApiClient per context, built as kubectl would find it.

The client's default Configuration is global; we never touch it (PITFALLS: build one ApiClient
per context with `new_client_from_config`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from cockpit.config import KubernetesConfig
from cockpit.sources.fields import Json, as_items, as_mapping, mapping, text

if TYPE_CHECKING:
    from kubernetes.client import ApiClient


@dataclass(frozen=True)
class KubeTarget:
    """The resolved context: what every snapshot and confirmation names."""

    context: str
    cluster: str
    namespace: str
    kubeconfig: str


def kubeconfig_path(cfg: KubernetesConfig) -> str:
    """Configured path, else the first entry of $KUBECONFIG, else ~/.kube/config (as kubectl)."""
    if cfg.kubeconfig:
        return str(Path(cfg.kubeconfig).expanduser())
    env = os.environ.get("KUBECONFIG", "")
    first = next((p for p in env.split(os.pathsep) if p), "")
    return first or str(Path("~/.kube/config").expanduser())


def resolve_target(cfg: KubernetesConfig) -> KubeTarget:
    """Read the kubeconfig and name the context, its cluster and the namespace in use."""
    from kubernetes import config as kconfig

    path = kubeconfig_path(cfg)
    listed = kconfig.list_kube_config_contexts(config_file=path)
    contexts, current = as_items(listed[0]), as_mapping(listed[1])
    chosen: Json = current
    if cfg.context:
        found = next((c for c in contexts if text(c, "name") == cfg.context), None)
        if found is None:
            names = ", ".join(text(c, "name") for c in contexts) or "none"
            raise ValueError(f"context {cfg.context!r} not in {path} (contexts: {names})")
        chosen = found
    ctx = mapping(chosen, "context")
    return KubeTarget(
        context=text(chosen, "name"),
        cluster=text(ctx, "cluster"),
        namespace=cfg.namespace or text(ctx, "namespace") or "default",
        kubeconfig=path,
    )


def new_api_client(cfg: KubernetesConfig) -> ApiClient:
    """A fresh ApiClient for the configured context (never the global default).

    urllib3 retries a failed request once, not three times (its default): the watch loops and
    the freshness probe retry on their own cadence, and three retries of a timeout would hold a
    hung API server's reason back for four timeouts.
    """
    from kubernetes import config as kconfig
    from kubernetes.client import Configuration
    from urllib3 import Retry

    conf = type.__call__(
        Configuration
    )  # as new_client_from_config builds it: not the global default
    conf.retries = Retry(total=1, redirect=0)
    client: ApiClient = kconfig.new_client_from_config(
        config_file=kubeconfig_path(cfg), context=cfg.context or None, client_configuration=conf
    )
    return client
