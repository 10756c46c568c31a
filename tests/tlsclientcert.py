"""A TLS endpoint that requires a client certificate, issued by a TlsLab's CA (issue 20: the
certificate source must say the server asked for one, and still read and judge the leaf)."""

from __future__ import annotations

import socketserver
import ssl
import threading

from cockpit.lab.tlssim import TlsLab

HANDSHAKE_TIMEOUT = 3.0


class _Handler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        self.request.settimeout(HANDSHAKE_TIMEOUT)
        server: ClientCertEndpoint = self.server  # type: ignore[assignment] - set by socketserver
        try:
            with server.ssl_context.wrap_socket(self.request, server_side=True) as tls:
                tls.recv(1)
        except (OSError, ssl.SSLError):
            pass  # a client without a certificate is refused in the handshake: the point


class ClientCertEndpoint(socketserver.ThreadingTCPServer):
    """127.0.0.1:`port` serving a lab-CA certificate for the lab's name, CERT_REQUIRED."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, lab: TlsLab) -> None:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        lab.ca.issue_cert(lab.server_name).configure_cert(ctx)
        lab.ca.configure_trust(ctx)
        ctx.verify_mode = ssl.CERT_REQUIRED
        self.ssl_context = ctx
        super().__init__(("127.0.0.1", 0), _Handler)
        self.port = int(self.server_address[1])
        self._thread = threading.Thread(
            target=self.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="tls-client-cert",
            daemon=True,
        )

    def __enter__(self) -> ClientCertEndpoint:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()
        self.server_close()
        self._thread.join(5)
