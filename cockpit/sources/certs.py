"""TLS certificates: read each endpoint's leaf even when it is expired, self-signed or issued for
another name, then judge it.

Per endpoint, two bounded handshakes on the event loop (never a blocking socket):
1. verification OFF, SNI = `host`: the leaf as DER, parsed with `cryptography`;
2. verification ON (chain only, against `ca_file` or the system store): whether the chain verifies
   and, if not, OpenSSL's reason. Python 3.11's `ssl` cannot hand out the peer chain, so a second
   handshake is how the chain gets verified. The hostname is matched against the parsed leaf
   (SAN, RFC 6125 wildcards), so a chain failure and a name mismatch are reported separately.

Status precedence, worst first: error (no certificate could be read) > expired (notAfter is past;
beats untrusted, since an expired certificate never verifies and "expired" says what to fix) >
untrusted (chain does not verify, or hostname mismatch) > expiring (within
`thresholds.cert_warning_days`) > ok.
"""

from __future__ import annotations

import asyncio
import ipaddress
import ssl
from collections.abc import Callable
from datetime import datetime

from cryptography import x509
from cryptography.x509.oid import NameOID

from cockpit.config import CertificateConfig, ThresholdsConfig
from cockpit.models import CertificatesSnapshot, CertState, CertStatus, SourceFailure, utcnow
from cockpit.sources.base import describe_error, guarded

BUDGET_SHARE = 0.8  # of the collection timeout, for one endpoint's connects and handshakes
# After the reading handshake, how long to listen for the alert a server that requires a client
# certificate sends (TLS 1.3 finishes the client's side of the handshake before the server judges
# the empty certificate; the refusal comes as the first record).
CLIENT_CERT_LISTEN_SECONDS = 0.3
CLIENT_CERT_ASKED = "server asked for a client certificate"


class _CheckFailed(Exception):
    """A step of one endpoint's check failed; `str()` is the operator's reason."""


def _san(cert: x509.Certificate) -> x509.SubjectAlternativeName | None:
    """The subjectAltName extension; None when absent or unreadable (a malformed extension)."""
    try:
        return cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (x509.ExtensionNotFound, ValueError):
        return None


def name_text(read: Callable[[], x509.Name]) -> str:
    """A subject or issuer as RFC 4514 text. A name whose strings are not valid in their ASN.1
    encoding (bytes that are not UTF-8 in a UTF8String) cannot be decoded: say so instead."""
    try:
        return read().rfc4514_string()
    except ValueError as exc:
        return f"(unreadable name: {' '.join(str(exc).split())[:80]})"


def _common_names(cert: x509.Certificate) -> list[str]:
    try:
        attributes = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    except ValueError:
        return []
    return [
        a.value if isinstance(a.value, str) else a.value.decode("utf-8", "replace")
        for a in attributes
    ]


async def _read_leaf(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    ctx: ssl.SSLContext,
    server_name: str,
) -> tuple[bytes | None, bool]:
    """Handshake over memory BIOs and return (the leaf as DER, whether the server then refused us
    for want of a client certificate).

    Driven by hand rather than by `start_tls`: TLS 1.3 completes the client's side of the
    handshake before the server judges our (empty) certificate, and asyncio's TLS transport
    reads the server's refusal eagerly, after which the session no longer hands out the
    certificate. Here the leaf is taken the moment the handshake completes, then we listen
    briefly: a server that wants a client certificate sends its alert as the first record, one
    that waits for our request sends nothing.
    """
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = ctx.wrap_bio(incoming, outgoing, server_hostname=server_name)
    while True:
        try:
            tls.do_handshake()
            break
        except ssl.SSLWantReadError:
            writer.write(outgoing.read())
            await writer.drain()
            data = await reader.read(65536)
            if not data:
                raise EOFError("the server closed the connection during the handshake") from None
            incoming.write(data)
    der = tls.getpeercert(binary_form=True)
    writer.write(outgoing.read())  # our Finished (and empty Certificate, if one was asked for)
    await writer.drain()
    try:
        data = await asyncio.wait_for(reader.read(65536), CLIENT_CERT_LISTEN_SECONDS)
    except TimeoutError:
        return der, False
    incoming.write(data)
    try:
        tls.read(1)
    except ssl.SSLWantReadError:
        return der, False  # a session ticket, not a refusal
    except ssl.SSLError as exc:
        text = f"{exc.reason or ''} {exc}".lower()
        return der, "certificate required" in text or "handshake failure" in text
    return der, False


def hostname_matches(cert: x509.Certificate, host: str) -> bool:
    """Whether `host` is one of the certificate's names (SAN DNS/IP; CN only without a SAN)."""
    host = host.rstrip(".").lower()
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        ip = None
    san = _san(cert)
    if ip is not None:
        return san is not None and ip in san.get_values_for_type(x509.IPAddress)
    if san is not None:
        names = san.get_values_for_type(x509.DNSName)
    else:  # legacy certificates: the common name, as OpenSSL's fallback does
        names = _common_names(cert)
    return any(_dns_match(name.rstrip(".").lower(), host) for name in names)


def _dns_match(pattern: str, host: str) -> bool:
    # RFC 6125: a wildcard only as the whole left-most label, matching exactly one label
    if pattern.startswith("*."):
        head, _, rest = host.partition(".")
        return bool(head) and rest == pattern[2:]
    return pattern == host


def _san_names(cert: x509.Certificate) -> tuple[str, ...]:
    san = _san(cert)
    if san is None:
        return ()
    return tuple(san.get_values_for_type(x509.DNSName)) + tuple(
        str(ip) for ip in san.get_values_for_type(x509.IPAddress)
    )


def judge(
    not_after: datetime, now: datetime, chain_verified: bool, name_ok: bool, warning_days: float
) -> tuple[CertState, float]:
    """(status, days_left) by the precedence in the module docstring (ERROR is decided earlier)."""
    days_left = (not_after - now).total_seconds() / 86400.0
    if days_left <= 0:
        return CertState.EXPIRED, days_left
    if not (chain_verified and name_ok):
        return CertState.UNTRUSTED, days_left
    if days_left <= warning_days:
        return CertState.EXPIRING, days_left
    return CertState.OK, days_left


class CertificateSource:
    """Checks every configured TLS endpoint concurrently; one CertStatus per endpoint."""

    name = "certificates"

    def __init__(
        self,
        certs: tuple[CertificateConfig, ...],
        thresholds: ThresholdsConfig,
        *,
        timeout: float = 5.0,
    ) -> None:
        self.certs = tuple(certs)
        self.thresholds = thresholds
        self.timeout = timeout
        # both handshakes of an endpoint share this budget, so one collection (all endpoints in
        # parallel) ends inside `timeout`, which is also what the scheduler allows it
        self.budget = timeout * BUDGET_SHARE
        self._reader_ctx = ssl.create_default_context()
        self._reader_ctx.check_hostname = False
        self._reader_ctx.verify_mode = ssl.CERT_NONE
        self._verify_ctx: dict[str, ssl.SSLContext] = {}  # ca_file ("" = system store) -> context

    async def collect(self) -> CertificatesSnapshot | SourceFailure:
        """Check every endpoint; per-endpoint problems are CertStatus(status=ERROR, error=...)."""
        if not self.certs:
            return SourceFailure(self.name, "configure", "no endpoints configured")
        return await guarded(self.name, "check", self._collect_all(), self.timeout)

    async def _collect_all(self) -> CertificatesSnapshot:
        results = await asyncio.gather(*(self._check(cfg) for cfg in self.certs))
        return CertificatesSnapshot(collected_at=utcnow(), certificates=tuple(results))

    async def aclose(self) -> None:
        """Nothing is kept open between collections."""
        self._verify_ctx.clear()

    async def _verifying_context(self, ca_file: str) -> ssl.SSLContext:
        if ca_file not in self._verify_ctx:
            # loading a CA store reads files: keep that off the event loop
            def build() -> ssl.SSLContext:
                ctx = ssl.create_default_context(cafile=ca_file or None)
                ctx.check_hostname = False  # the name is matched separately on the parsed leaf
                return ctx

            self._verify_ctx[ca_file] = await asyncio.to_thread(build)
        return self._verify_ctx[ca_file]

    async def _handshake(
        self, cfg: CertificateConfig, ctx: ssl.SSLContext, deadline: float, listen: bool = False
    ) -> tuple[bytes | None, bool]:
        """Connect and handshake before `deadline` (loop time); return the peer's certificate as
        DER (the connection itself is already closed) and, with `listen`, whether the server then
        refused us for want of a client certificate."""
        address = cfg.address or cfg.host
        loop = asyncio.get_running_loop()
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(address, cfg.port), max(deadline - loop.time(), 0.01)
            )
        except TimeoutError:
            raise _CheckFailed(f"connect timed out after {self.budget:.3g}s") from None
        except OSError as exc:
            raise _CheckFailed(describe_error(exc)) from None
        try:
            left = max(deadline - loop.time(), 0.01)
            if listen:
                return await asyncio.wait_for(_read_leaf(reader, writer, ctx, cfg.host), left)
            await asyncio.wait_for(
                writer.start_tls(ctx, server_hostname=cfg.host, ssl_handshake_timeout=left), left
            )
            if writer.get_extra_info("ssl_object") is None:
                raise _CheckFailed("no TLS session")
            return None, False  # the verifying handshake: that it completed is the answer
        except TimeoutError:
            raise _CheckFailed(f"TLS handshake timed out after {self.budget:.3g}s") from None
        except ssl.SSLCertVerificationError:
            raise
        except ssl.SSLError as exc:
            reason = describe_error(exc)
            if "handshake failure" in reason.lower() or "certificate required" in reason.lower():
                reason += " (the server may require a client certificate)"
            raise _CheckFailed(reason) from None
        except (OSError, EOFError) as exc:
            raise _CheckFailed(f"TLS handshake failed: {describe_error(exc)}") from None
        finally:
            writer.transport.abort()  # a probe: no close_notify round trip that could stall

    async def _check(self, cfg: CertificateConfig) -> CertStatus:
        address = cfg.address or cfg.host
        deadline = asyncio.get_running_loop().time() + self.budget
        try:
            der, asked = await self._handshake(cfg, self._reader_ctx, deadline, listen=True)
            if not der:
                raise _CheckFailed("the server presented no certificate")
            cert = x509.load_der_x509_certificate(der)
        except _CheckFailed as exc:
            return CertStatus(
                host=cfg.host,
                port=cfg.port,
                server_name=cfg.host,
                address=address,
                status=CertState.ERROR,
                error=str(exc),
            )
        except Exception as exc:  # one endpoint never breaks the others
            return CertStatus(
                host=cfg.host,
                port=cfg.port,
                server_name=cfg.host,
                address=address,
                status=CertState.ERROR,
                error=describe_error(exc),
            )

        chain_verified, verify_error = await self._verify_chain(cfg, deadline)
        return certificate_status(
            cert,
            cfg.host,
            cfg.port,
            address,
            chain_verified,
            verify_error,
            self.thresholds.cert_warning_days,
            utcnow(),
            client_cert_requested=asked,
        )

    async def _verify_chain(
        self, cfg: CertificateConfig, deadline: float
    ) -> tuple[bool, str | None]:
        """(verified, OpenSSL's reason when not) from a verifying handshake."""
        try:
            ctx = await self._verifying_context(cfg.ca_file)
        except ssl.SSLError as exc:  # before OSError, of which it is a subclass
            return False, f"cannot load CA file {cfg.ca_file}: {describe_error(exc)}"
        except OSError as exc:
            return False, f"cannot load CA file {cfg.ca_file}: {exc.strerror or exc}"
        try:
            await self._handshake(cfg, ctx, deadline)
        except ssl.SSLCertVerificationError as exc:
            return False, exc.verify_message or describe_error(exc)
        except _CheckFailed as exc:
            return False, f"could not verify: {exc}"
        return True, None


def certificate_status(
    cert: x509.Certificate,
    host: str,
    port: int,
    address: str,
    chain_verified: bool,
    verify_error: str | None,
    warning_days: float,
    now: datetime,
    client_cert_requested: bool = False,
) -> CertStatus:
    """Judge a parsed leaf certificate (any key type, with or without SAN or CN, names in any
    ASN.1 string type): every field the certificate cannot give reads as empty, never raises."""
    name_ok = hostname_matches(cert, host)
    if chain_verified and not name_ok:
        verify_error = f"certificate is not valid for {host}"
    status, days_left = judge(cert.not_valid_after_utc, now, chain_verified, name_ok, warning_days)
    subject = name_text(lambda: cert.subject)
    return CertStatus(
        host=host,
        port=port,
        server_name=host,
        address=address,
        status=status,
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        days_left=days_left,
        subject=subject,
        san=_san_names(cert),
        issuer=name_text(lambda: cert.issuer),
        serial=format(cert.serial_number, "x"),
        chain_verified=chain_verified,
        hostname_matches=name_ok,
        verify_error=verify_error,
        chain=(subject,),  # ssl on 3.11 exposes only the leaf
        client_cert_requested=client_cert_requested,
    )
