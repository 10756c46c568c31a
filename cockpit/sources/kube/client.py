"""One kubernetes ApiClient per context, built as kubectl would find it.

The client's default Configuration is global; we never touch it (PITFALLS: build one ApiClient
per context with `new_client_from_config`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from cockpit.config import KubernetesConfig


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
    contexts, current = kconfig.list_kube_config_contexts(config_file=path)
    chosen = None
    if cfg.context:
        chosen = next((c for c in contexts if c["name"] == cfg.context), None)
        if chosen is None:
            names = ", ".join(c["name"] for c in contexts) or "none"
            raise ValueError(f"context {cfg.context!r} not in {path} (contexts: {names})")
    else:
        chosen = current
    ctx = chosen.get("context", {}) if chosen else {}
    return KubeTarget(context=chosen["name"] if chosen else "", cluster=ctx.get("cluster", ""),
                      namespace=cfg.namespace or ctx.get("namespace", "default"), kubeconfig=path)


def new_api_client(cfg: KubernetesConfig):  # -> kubernetes.client.ApiClient
    """A fresh ApiClient for the configured context (never the global default).

    urllib3 retries a failed request once, not three times (its default): the watch loops and
    the freshness probe retry on their own cadence, and three retries of a timeout would hold a
    hung API server's reason back for four timeouts.
    """
    from kubernetes import config as kconfig
    from kubernetes.client import Configuration
    from urllib3 import Retry

    conf = type.__call__(Configuration)  # as new_client_from_config builds it: not the global default
    conf.retries = Retry(total=1, redirect=0)
    return kconfig.new_client_from_config(config_file=kubeconfig_path(cfg), context=cfg.context or None,
                                          client_configuration=conf)
