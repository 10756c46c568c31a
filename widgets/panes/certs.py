"""Certificates pane: one row per endpoint (host:port), days left and status, worst first."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from textual.app import ComposeResult

from cockpit.models import CertificatesSnapshot, CertState, CertStatus
from widgets.panes.common import Cell, number, utc_time
from widgets.panes.table import Row, TablePane

_RANK = {
    CertState.OK: 0,
    CertState.EXPIRING: 1,
    CertState.UNTRUSTED: 2,
    CertState.EXPIRED: 3,
    CertState.ERROR: 4,
}
# the table's words: the two bad endings in capitals, never cut (`expir…`: expired or expiring?)
STATUS_TEXT = {
    CertState.OK: "ok",
    CertState.EXPIRING: "expiring",
    CertState.UNTRUSTED: "untrusted",
    CertState.EXPIRED: "EXPIRED",
    CertState.ERROR: "ERROR",
}
_STYLE = {
    CertState.OK: "",
    CertState.EXPIRING: "yellow",
    CertState.UNTRUSTED: "yellow",
    CertState.EXPIRED: "bold red",
    CertState.ERROR: "bold red",
}


class CertsPane(TablePane[CertificatesSnapshot]):
    """TLS endpoints and their leaf certificates."""

    source = "certificates"
    title = "Certificates"
    number = 4
    COLUMNS = (("host", "Host"), ("days", "Days left"), ("status", "Status"), ("issuer", "Issuer"))
    MONITOR_COLUMNS = ("host", "days", "status")
    DEFAULT_SORT = ("days", False)
    DROP_FIRST = ("issuer",)
    FLEX = "issuer"

    def compose_body(self) -> ComposeResult:
        yield from self.compose_table()

    def summarize(self, snap: CertificatesSnapshot, trends: dict[str, list[float]]) -> str:
        certs = snap.certificates
        if not certs:
            return "no endpoints"
        dated = [(c.days_left, c.host) for c in certs if c.days_left is not None]
        bad = [c for c in certs if c.status != CertState.OK or c.client_cert_requested]
        text = f"{len(certs) - len(bad)}/{len(certs)} ok"
        if dated:
            days, host = min(dated)
            text += f" · soonest {host} {days:.0f}d"
        errors = [c for c in bad if c.status in (CertState.EXPIRED, CertState.ERROR)]
        if errors:
            text += f" · {len(errors)} expired/error"
        asking = sum(1 for c in certs if c.client_cert_requested)
        if asking:
            text += f" · {asking} asked for a client certificate"
        return text

    def rows(self, snap: CertificatesSnapshot, now: datetime) -> Iterable[Row]:
        for c in snap.certificates:
            key = f"{c.host}:{c.port}"
            host = c.host if c.port == 443 else key
            yield (
                key,
                c,
                {
                    "host": Cell(host),
                    # sorted by the days shown: endpoints checked a few ms apart differ in
                    # the fifth decimal, and sorting by that reshuffled equal rows each check
                    "days": Cell(
                        number(c.days_left, "{:.0f}"),
                        None if c.days_left is None else round(c.days_left),
                        _STYLE[c.status],
                    ),
                    "status": Cell(
                        f"{STATUS_TEXT[c.status]}, wants client cert"
                        if c.client_cert_requested
                        else STATUS_TEXT[c.status],
                        _RANK[c.status],
                        _STYLE[c.status] or ("yellow" if c.client_cert_requested else ""),
                    ),
                    "issuer": Cell(c.issuer or c.error or ""),
                },
            )

    def detail(self, key: str) -> tuple[str, str] | None:
        c: CertStatus | None = self.items.get(key)
        if c is None:
            return None
        lines = [
            (
                f"{c.host}:{c.port}   SNI {c.server_name}   "
                f"via {c.address or c.host}   status {c.status.value}"
            ),
            (
                f"days left {number(c.days_left, '{:.1f}')}   "
                f"valid {utc_time(c.not_before)} → {utc_time(c.not_after)}"
            ),
            f"subject {c.subject or '-'}",
            f"SAN {', '.join(c.san) or '-'}",
            f"issuer {c.issuer or '-'}",
            f"serial {c.serial or '-'}",
            f"chain verified: {'yes' if c.chain_verified else 'no'}"
            + (f" ({c.verify_error})" if c.verify_error else ""),
            f"hostname matches: {'yes' if c.hostname_matches else 'no'}",
        ]
        if c.error:
            lines.append(f"error: {c.error}")
        if c.client_cert_requested:
            lines.append(
                "server asked for a client certificate: the cockpit presents none, so "
                "the server refused the connection after the handshake (the leaf above "
                "was still read and checked)"
            )
        lines += ["", "Presented chain (leaf first):"]
        lines += [f"  {i}. {s}" for i, s in enumerate(c.chain)] or ["  (none)"]
        return f"Certificate {key}", "\n".join(lines)

    def selection(self) -> dict | None:
        c: CertStatus | None = self.selected_item()
        if c is None:
            return None
        key = f"{c.host}:{c.port}"
        return {
            "pane": "certificates",
            "source": self.source,
            "key": key,
            "identity": self.identity(key),
            "host": c.host,
            "port": c.port,
        }
