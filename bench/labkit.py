"""The lab as the benchmarks need it: one `Lab` with room for 1,000 database connections, its
environment, a churn thread for the Kubernetes simulator and a pool of idle PostgreSQL sessions.
"""

from __future__ import annotations

import os
import random
import resource
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

VENV_BIN = Path(sys.executable).parent  # the venv running the bench has `cockpit` beside python
REPO = Path(__file__).resolve().parent.parent


PLATFORM_CERTIFICATES = 5  # the platform of issue 21: five TLS endpoints, API and cache traffic
TRAFFIC_RPS = 20.0


def start_lab(max_connections: int = 1100) -> Any:
    """A started Lab in a temp dir, with the platform's five TLS endpoints; traffic stopped so
    'idle' means idle (`platform_traffic(lab, True)` turns the API's, and so the cache's, on)."""
    from cockpit.lab.lab import Lab

    # metrics and certificate checks at the production default cadence (the lab's own defaults
    # follow the refresh, and check certificates every 3 s, so that drills show at once)
    lab = Lab(
        Path(tempfile.mkdtemp(prefix="cockpit-bench-")),
        max_connections=max_connections,
        control=False,
        metrics_seconds=10.0,
        certificates_seconds=300.0,
        extra_certificates=PLATFORM_CERTIFICATES - 2,  # beside the API's and www's
    )
    lab.start()
    lab.api.stop_traffic()
    return lab


def platform_traffic(lab: Any, on: bool) -> None:
    """API traffic (it reads through the cache, so cache traffic too) on or off."""
    if on:
        lab.api.start_traffic(TRAFFIC_RPS)
    else:
        lab.api.stop_traffic()


def cockpit_env(lab: Any) -> dict[str, str]:
    """The environment a cockpit process needs for the lab's config (its ${VAR} secrets)."""
    env = dict(os.environ)
    env.update(lab.env)
    env.update({"TERM": "xterm-256color", "COLORTERM": "truecolor", "PYTHONPATH": str(REPO)})
    env.pop("COLUMNS", None)
    env.pop("LINES", None)
    env.pop("TEXTUAL", None)
    return env


def load_lab_config(lab: Any) -> Any:
    """The lab's Config, resolved with the lab's environment."""
    from cockpit.config import load_config

    return load_config(lab.config_path, env={**os.environ, **lab.env})


class Churn:
    """Modifies pods of the lab's deployment at `rate` watch events per second (every tenth
    event replaces a pod: deleted, and a new one added to its replica set), until stopped."""

    def __init__(self, kube: Any, rate: float = 20.0, seed: int = 7) -> None:
        self.kube, self.rate = kube, rate
        self._rng = random.Random(seed)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-churn", daemon=True)
        self.events = 0
        self.started_rv = 0

    def __enter__(self) -> Churn:
        self.started_rv = self.kube.resource_version
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _bump(self, pod: dict) -> None:
        meta = pod["metadata"]
        meta.setdefault("annotations", {})["bench/churn"] = str(self.events)
        for status in pod.get("status", {}).get("containerStatuses", []):
            status["restartCount"] = int(status.get("restartCount", 0)) + 1

    def _run(self) -> None:
        kube = self.kube
        ns = kube.namespace
        started = time.monotonic()
        names: list[str] = []
        while not self._stop.is_set():
            # paced by the events the store actually recorded: a replaced pod makes several
            due = self.rate * (time.monotonic() - started)
            if kube.resource_version - self.started_rv >= due:
                self._stop.wait(0.01)
                continue
            if not names:
                names = [p["metadata"]["name"] for p in kube.pods()]
                self._rng.shuffle(names)
            name = names.pop()
            if self.events % 10 == 9:
                # a replaced pod: DELETED and ADDED at once (the graceful path's status refresh
                # reads every pod: seconds at 20,000, and the store is locked meanwhile)
                kube.controller.replace_pod(ns, name)
            else:
                kube.store.update("pods", ns, name, self._bump)
            self.events += 1


class IdleSessions:
    """`count` open, idle PostgreSQL sessions (as the lab's app role), closed on exit."""

    def __init__(self, url: str, count: int) -> None:
        self.url, self.count = url, count
        self.conns: list[Any] = []

    def __enter__(self) -> IdleSessions:
        import psycopg

        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft < self.count + 256:
            resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, self.count + 1024), hard))

        def one(_: int) -> Any:
            conn = psycopg.connect(
                self.url, connect_timeout=10, autocommit=True, application_name="bench-idle"
            )
            conn.execute("SELECT 1")
            return conn

        try:
            with ThreadPoolExecutor(8) as pool:
                self.conns = list(pool.map(one, range(self.count)))
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        for conn in self.conns:
            try:
                conn.close()
            except Exception:  # best effort on teardown
                pass
        self.conns = []
