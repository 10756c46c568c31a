"""The banner: where we are (context/cluster, namespace; production unmistakable), how bad it
is (highest active severity), the mode (LIVE or READ-ONLY) and the time in UTC and local; below
it, only while there are some, the actions whose result is unknown because the cockpit that ran
them ended (until an operator acknowledges them with the registry's key)."""

from __future__ import annotations

import fnmatch
from datetime import datetime, timedelta, tzinfo

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Static

from cockpit.config import Config
from cockpit.incidents.replay import UNKNOWN_ENDED, Interrupted
from cockpit.incidents.severity import SEVERITIES
from widgets.paint import paint


def is_production(context: str, patterns: tuple[str, ...]) -> bool:
    """True when the context name matches one of the configured production globs."""
    return any(fnmatch.fnmatchcase(context, p) for p in patterns)


class Banner(Horizontal):
    """One line (three in monitor mode) at the top of the screen."""

    def __init__(self, cfg: Config, local_tz: tzinfo | None = None) -> None:
        super().__init__(id="banner")
        self.cfg = cfg
        self.local_tz = local_tz
        kube = cfg.kubernetes
        self.context = kube.context if kube and kube.context else ""
        self.cluster = ""
        self.namespace = kube.namespace if kube else ""
        self.severity: str | None = None
        self.evaluated = False  # no incident evaluation yet (no data has arrived)

    def compose(self) -> ComposeResult:
        yield Static(id="banner-where")
        yield Static(id="banner-severity")
        yield Static("READ-ONLY" if self.cfg.read_only else "LIVE", id="banner-mode")
        yield Static(id="banner-clock")

    def on_mount(self) -> None:
        # kept: the clock ticks every second, also while the screen is being torn down
        self._clock = self.query_one("#banner-clock", Static)
        self.query_one("#banner-mode").set_class(self.cfg.read_only, "-read-only")
        self._paint_where()
        self._paint_severity()

    @property
    def production(self) -> bool:
        """Whether the watched context is production (by the config's patterns)."""
        kube = self.cfg.kubernetes
        return kube is not None and is_production(self.context, kube.production_contexts)

    def set_target(self, context: str, cluster: str, namespace: str) -> None:
        """What the Kubernetes source reports it is connected to."""
        if (context, cluster, namespace) != (self.context, self.cluster, self.namespace):
            self.context, self.cluster, self.namespace = context, cluster, namespace
            self._paint_where()

    def _paint_where(self) -> None:
        where = self.query_one("#banner-where", Static)
        if self.cfg.kubernetes is None:
            paint(where, "kubernetes not configured")
        else:
            ctx = self.context or "(current context)"
            cluster = f"/{self.cluster}" if self.cluster and self.cluster != self.context else ""
            prod = "PRODUCTION " if self.production else ""
            paint(where, f"{prod}{ctx}{cluster} ns:{self.namespace}")
        self.set_class(self.production, "-production")
        where.set_class(self.production, "-production")

    def set_severity(self, severity: str | None) -> None:
        """The highest active severity, or none."""
        self.severity, self.evaluated = severity, True
        self._paint_severity()

    def _paint_severity(self) -> None:
        box = self.query_one("#banner-severity", Static)
        if not self.evaluated:
            text = "waiting for data"
        elif self.severity is None:
            text = "no incidents"
        else:
            text = f"{self.severity} ACTIVE"
        paint(box, text)
        for level in SEVERITIES:
            box.set_class(self.severity == level, f"-{level.lower()}")

    def tick(self, now: datetime) -> None:
        """Redraw the clock."""
        local = now.astimezone(self.local_tz)
        if local.utcoffset() == timedelta(0):  # a host on UTC: one clock says both
            paint(self._clock, f"{now:%H:%M:%S} UTC")
        else:
            paint(self._clock, f"{now:%H:%M:%S}Z {local:%H:%M} {local.tzname() or 'local'}")


def interrupted_text(items: list[Interrupted], key: str) -> str:
    """One line about the interrupted actions ("" for none): the key that acknowledges them
    first (a long target may be cut at the right edge, the key must not be), then how many, the
    newest named, and why its result is unknown."""
    if not items:
        return ""
    last = items[-1]
    what = f"{last.action} {last.target}".strip()
    ack = f"[{key}: seen] " if key else ""
    count = f"{len(items)} actions, newest " if len(items) > 1 else ""
    return f"! {ack}{count}{what}: {UNKNOWN_ENDED}"


class InterruptedNotice(Static):
    """The banner's second line: shown only while interrupted actions await acknowledgement."""

    def __init__(self) -> None:
        super().__init__(id="banner-interrupted")
        self.display = False

    def show(self, items: list[Interrupted], key: str) -> None:
        """Show these interrupted actions (hidden when there are none)."""
        text = interrupted_text(items, key)
        paint(self, text)
        self.display = bool(text)
