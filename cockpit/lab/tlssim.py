"""TLS endpoints on loopback with certificates in every state the certificate pane must show.

Design: every endpoint listens on `host` (127.0.0.1) but its certificate is issued for
`server_name` (default "api.predictiq.test", a name that needs no DNS). A client connects to
`host:port` and sends `server_name` as SNI and as the name to verify, i.e. the cockpit config
for an endpoint is::

    [[certificates]]
    host = "127.0.0.1"             # where to connect
    port = 43117
    server_name = "api.predictiq.test"   # SNI + hostname check; defaults to host

Endpoints: `valid` (90 days left), `expiring` (5 days), `expired` (10 days ago), `self_signed`
(not from the lab CA), `mismatch` (lab CA, but for another hostname) and `stall` (accepts TCP,
never answers the ClientHello). Each has a real notBefore/notAfter.
"""

from __future__ import annotations

import datetime as dt
import shutil
import socket
import socketserver
import ssl
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, cast

from cockpit.lab.services import SilentServer

if TYPE_CHECKING:
    import trustme

SERVER_NAME = "api.predictiq.test"
WRONG_NAME = "wrong-host.example.test"
HANDSHAKE_TIMEOUT = 3.0  # a lab handler never holds a connection longer than this


@dataclass(frozen=True)
class TlsEndpoint:
    """One lab endpoint and what a correct certificate check must conclude about it.

    `expected_status` uses the certificate pane's words: ok, expiring (under 30 days), expired,
    untrusted (self-signed, or hostname mismatch) or error (no certificate could be read).
    `not_after` is None for the stall endpoint.
    """

    name: str
    host: str
    port: int
    server_name: str
    ca_pem_path: Path
    expected_status: str
    not_after: dt.datetime | None
    issued_by_lab_ca: bool
    hostname_matches: bool


def configure_server(leaf: trustme.LeafCert, ctx: ssl.SSLContext) -> None:
    """Make `ctx` serve `leaf` and its chain."""
    # trustme also takes pyOpenSSL contexts, a type unknown without pyOpenSSL installed.
    configure = cast(Callable[[ssl.SSLContext], None], leaf.configure_cert)
    configure(ctx)


class _TlsHandler(socketserver.BaseRequestHandler):
    """Handshake, then wait briefly for the client to hang up, then close."""

    def handle(self) -> None:
        sock = cast(socket.socket, self.request)  # a TCP server's request is its socket
        sock.settimeout(HANDSHAKE_TIMEOUT)
        context = cast(_TlsServer, self.server).ssl_context  # only _TlsServer makes _TlsHandler
        try:
            with context.wrap_socket(sock, server_side=True) as tls:
                tls.recv(1)  # returns on client close; the timeout bounds a lingering client
        except (OSError, ssl.SSLError):
            pass  # clients that reject the certificate abort the handshake: expected here


class _TlsServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, host: str, ssl_context: ssl.SSLContext) -> None:
        self.ssl_context = ssl_context
        super().__init__((host, 0), _TlsHandler)


def _self_signed(server_name: str, not_after: dt.datetime, directory: Path) -> tuple[Path, Path]:
    """A certificate whose issuer is itself (not the lab CA); returns (cert, key) PEM paths."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, server_name)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(not_after)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(server_name)]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "self_signed.pem", directory / "self_signed.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


class TlsLab:
    """A lab CA and one TLS server per certificate state, on loopback, in background threads."""

    def __init__(self, server_name: str = SERVER_NAME, host: str = "127.0.0.1") -> None:
        import trustme

        self.server_name = server_name
        self.host = host
        self.ca = trustme.CA(organization_name="PredictIQ Lab CA")
        self.tmpdir = Path(tempfile.mkdtemp(prefix="cockpit-tls-"))
        self.ca_path = self.tmpdir / "lab-ca.pem"
        self.ca.cert_pem.write_to_path(str(self.ca_path))
        self.endpoints: dict[str, TlsEndpoint] = {}
        self._servers: list[_TlsServer] = []
        self._threads: list[threading.Thread] = []
        self._stall: SilentServer | None = None

    def client_context(self) -> ssl.SSLContext:
        """A verifying client context that trusts only the lab CA."""
        return ssl.create_default_context(cafile=str(self.ca_path))

    def _serve(
        self,
        name: str,
        ctx: ssl.SSLContext,
        status: str,
        not_after: dt.datetime,
        from_ca: bool,
        matches: bool,
    ) -> None:
        server = _TlsServer(self.host, ctx)
        thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"tls-{name}",
            daemon=True,
        )
        thread.start()
        self._servers.append(server)
        self._threads.append(thread)
        self.endpoints[name] = TlsEndpoint(
            name,
            self.host,
            server.server_address[1],
            self.server_name,
            self.ca_path,
            status,
            not_after,
            from_ca,
            matches,
        )

    def _issued(
        self, identity: str, not_before: dt.datetime, not_after: dt.datetime
    ) -> ssl.SSLContext:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        leaf = self.ca.issue_cert(
            identity, common_name=identity, not_before=not_before, not_after=not_after
        )
        configure_server(leaf, ctx)
        return ctx

    def start(self) -> TlsLab:
        """Issue the certificates and start every endpoint."""
        now = dt.datetime.now(dt.UTC).replace(microsecond=0)
        # the extra hour keeps "days left" at exactly 90 / 5 for the duration of a test run
        valid_until = now + dt.timedelta(days=90, hours=1)
        expiring_until = now + dt.timedelta(days=5, hours=1)
        expired_at = now - dt.timedelta(days=10)
        long_ago = now - dt.timedelta(days=100)
        yesterday = now - dt.timedelta(days=1)
        name = self.server_name
        self._serve(
            "valid", self._issued(name, yesterday, valid_until), "ok", valid_until, True, True
        )
        self._serve(
            "expiring",
            self._issued(name, long_ago, expiring_until),
            "expiring",
            expiring_until,
            True,
            True,
        )
        self._serve(
            "expired", self._issued(name, long_ago, expired_at), "expired", expired_at, True, True
        )
        self._serve(
            "mismatch",
            self._issued(WRONG_NAME, yesterday, valid_until),
            "untrusted",
            valid_until,
            True,
            False,
        )
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(*_self_signed(name, valid_until, self.tmpdir))
        self._serve("self_signed", ctx, "untrusted", valid_until, False, True)
        self._stall = SilentServer().start()
        self.endpoints["stall"] = TlsEndpoint(
            "stall", self.host, self._stall.port, name, self.ca_path, "error", None, False, False
        )
        return self

    def stop(self) -> None:
        """Stop every endpoint, join its thread and remove the certificates."""
        for server in self._servers:
            server.shutdown()
            server.server_close()
        for thread in self._threads:
            thread.join(5)
        if self._stall is not None:
            self._stall.stop()
        self._servers.clear()
        self._threads.clear()
        shutil.rmtree(self.tmpdir, ignore_errors=True)

    def __enter__(self) -> TlsLab:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
