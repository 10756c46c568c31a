"""A TLS endpoint whose certificate can be switched while it runs: the cert-expiring/-expired
drills.

The lab config's main certificate entry (the API's name, "api.predictiq.test") points here. It
serves a valid certificate from the lab CA until a drill switches it to one that expires in 5 days
or expired 10 days ago; clearing the drill switches back. Each new connection is handshaken with
the certificate current at accept time, so a switch is visible to the next check.
"""

from __future__ import annotations

import datetime as dt
import socket
import socketserver
import ssl
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, cast

if TYPE_CHECKING:
    import trustme

from cockpit.lab.tlssim import configure_server

CERT_STATES = ("valid", "expiring", "expired")
HANDSHAKE_TIMEOUT = 3.0  # no handler holds a connection longer than this


class _Handler(socketserver.BaseRequestHandler):
    """Handshake with the server's current context, wait for the client to hang up, close."""

    def handle(self) -> None:
        sock = cast(socket.socket, self.request)  # a TCP server's request is its socket
        sock.settimeout(HANDSHAKE_TIMEOUT)
        context = cast(_Server, self.server).current_context()  # only _Server makes _Handler
        try:
            with context.wrap_socket(sock, server_side=True) as tls:
                tls.recv(1)
        except (OSError, ssl.SSLError):
            pass  # clients that reject the certificate abort the handshake: expected


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, host: str, endpoint: SwitchableTlsEndpoint) -> None:
        self.current_context: Callable[[], ssl.SSLContext] = endpoint.context
        super().__init__((host, 0), _Handler)


class SwitchableTlsEndpoint:
    """One loopback TLS server for `server_name`, certificates issued by `ca` (a trustme.CA).

    `state` is one of CERT_STATES; `switch(state)` changes it at once.
    """

    def __init__(self, ca: trustme.CA, server_name: str, host: str = "127.0.0.1") -> None:
        self.server_name = server_name
        self.host = host
        self._lock = threading.Lock()
        now = dt.datetime.now(dt.UTC).replace(microsecond=0)
        # the extra hour keeps "days left" at exactly 90 / 5 for the length of a session
        spans = {
            "valid": (now - dt.timedelta(days=1), now + dt.timedelta(days=90, hours=1)),
            "expiring": (now - dt.timedelta(days=100), now + dt.timedelta(days=5, hours=1)),
            "expired": (now - dt.timedelta(days=100), now - dt.timedelta(days=10)),
        }
        self.not_after = {state: span[1] for state, span in spans.items()}
        self._contexts: dict[str, ssl.SSLContext] = {}
        for state, (not_before, not_after) in spans.items():
            ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            leaf = ca.issue_cert(
                server_name, common_name=server_name, not_before=not_before, not_after=not_after
            )
            configure_server(leaf, ctx)
            self._contexts[state] = ctx
        self._state = "valid"
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def state(self) -> str:
        """The certificate being served now."""
        return self._state

    def context(self) -> ssl.SSLContext:
        """The server context of the current state."""
        with self._lock:
            return self._contexts[self._state]

    def switch(self, state: str) -> None:
        """Serve the `state` certificate from the next connection on."""
        if state not in CERT_STATES:
            raise ValueError(
                f"unknown certificate state {state!r}; one of {', '.join(CERT_STATES)}"
            )
        with self._lock:
            self._state = state

    @property
    def port(self) -> int:
        """The bound port (after start())."""
        if self._server is None:
            raise RuntimeError("start() first")
        return self._server.server_address[1]

    def start(self) -> SwitchableTlsEndpoint:
        """Bind a free port and serve in a background thread."""
        self._server = _Server(self.host, self)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"tls-switch-{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and join the thread."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None
