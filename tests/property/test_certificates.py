"""Certificates the cockpit has never seen, parsed and judged (`certificate_status`), through the
state, the rules and the certificates pane; and a few served over a real TLS handshake to the
certificate source itself."""

from __future__ import annotations

import asyncio
import socket
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cockpit.config import CertificateConfig, ThresholdsConfig
from cockpit.models import CertificatesSnapshot, CertState, CertStatus, utcnow
from cockpit.sources.certs import CertificateSource, certificate_status
from tests.property.certificates import Made, make
from tests.property.harness import PANE_EXAMPLES, PROPERTY, show_in_pane, through_state_and_rules
from tests.ui.fixtures import NOW

NON_ASCII = st.sampled_from(["Ünïcode GmbH", "日本語株式会社", "Ελληνικά", "emoji 🚀 Ltd"])
PRINTABLE = st.sampled_from(["PredictIQ Ltd", "Example Corp"])


@st.composite
def made(draw: st.DrawFn, host: str = "api.predictiq.test") -> Made:
    org_type = draw(st.sampled_from(["utf8", "bmp", "universal", "t61", "printable"]))
    organization = draw(
        st.none() | (PRINTABLE if org_type in ("printable", "t61") else NON_ASCII | PRINTABLE)
    )
    if org_type == "t61" and organization is not None:
        organization = organization.replace(" ", "")  # T.61 in cryptography: latin-1 text
    days_from = draw(st.integers(-400, 0))
    return make(
        key_kind=draw(st.sampled_from(["ec-p256", "ec-p384", "ed25519", "rsa"])),
        cn=draw(st.none() | st.sampled_from([host, "*.predictiq.test", "other.test"])),
        organization=organization,
        org_type=org_type,
        san_dns=draw(
            st.lists(
                st.sampled_from([host, "*.predictiq.test", "www.test"]), max_size=2, unique=True
            )
        ),
        san_ip=draw(st.lists(st.sampled_from(["127.0.0.1", "::1"]), max_size=1)),
        days_from=days_from,
        days_to=days_from + draw(st.integers(1, 800)),
        broken_utf8=draw(st.integers(0, 5)) == 0,
        host=host,
    )


def judged(m: Made, port: int) -> CertStatus:
    return certificate_status(
        m.certificate,
        m.host,
        port,
        "127.0.0.1",
        chain_verified=False,
        verify_error="self-signed certificate",
        warning_days=14.0,
        now=utcnow(),
    )


@given(made())
@PROPERTY
def test_any_certificate_is_read_and_judged(m: Made) -> None:
    status = judged(m, 443)
    assert status.status in (CertState.EXPIRED, CertState.UNTRUSTED)  # self-signed: never ok
    assert isinstance(status.subject, str) and isinstance(status.issuer, str)
    if m.broken_name:
        assert status.subject.startswith("(unreadable name")
    assert all(isinstance(n, str) for n in status.san)
    snap = CertificatesSnapshot(NOW, (status,))
    through_state_and_rules("certificates", snap)


@given(st.lists(made(), min_size=1, max_size=4))
@PANE_EXAMPLES
def test_the_certificates_pane_shows_every_endpoint_and_its_summary(certs: list[Made]) -> None:
    snap = CertificatesSnapshot(NOW, tuple(judged(m, 8443 + i) for i, m in enumerate(certs)))
    report = show_in_pane("certificates", snap)
    assert report.item_keys == {f"{c.host}:{c.port}" for c in snap.certificates}
    assert f"/{len(certs)} ok" in report.summary
    for c in snap.certificates:
        assert c.subject in report.details[f"{c.host}:{c.port}"]


class OneCertServer:
    """A TLS server on loopback presenting one certificate, handshaking every connection."""

    def __init__(self, m: Made, directory: Path) -> None:
        cert, key = directory / "cert.pem", directory / "key.pem"
        cert.write_bytes(m.cert_pem)
        key.write_bytes(m.key_pem)
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(cert, key)
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port: int = self.sock.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            conn.settimeout(2)
            try:
                with self.ctx.wrap_socket(conn, server_side=True):
                    pass
            except (OSError, ssl.SSLError):
                pass  # the verifying client hangs up on a self-signed certificate
            finally:
                conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.sock.close()


SERVED = {
    "ec-without-san": dict(
        key_kind="ec-p256",
        cn="api.predictiq.test",
        organization=None,
        org_type="utf8",
        san_dns=[],
        san_ip=[],
        days_from=-1,
        days_to=300,
        broken_utf8=False,
    ),
    "ed25519-without-cn": dict(
        key_kind="ed25519",
        cn=None,
        organization="Ünïcode GmbH",
        org_type="bmp",
        san_dns=["api.predictiq.test"],
        san_ip=[],
        days_from=-1,
        days_to=300,
        broken_utf8=False,
    ),
    # OpenSSL will not load a certificate whose UTF8String is not UTF-8 (that case is only
    # parsed, above); names in T61String and UniversalString it serves as they are
    "rsa-t61-and-universal": dict(
        key_kind="rsa",
        cn=None,
        organization="Ünïcode",
        org_type="universal",
        san_dns=["api.predictiq.test"],
        san_ip=["127.0.0.1"],
        days_from=-1,
        days_to=300,
        broken_utf8=False,
    ),
    "ec-t61": dict(
        key_kind="ec-p384",
        cn="api.predictiq.test",
        organization="Example",
        org_type="t61",
        san_dns=[],
        san_ip=[],
        days_from=-1,
        days_to=300,
        broken_utf8=False,
    ),
}


@pytest.fixture(params=sorted(SERVED))
def served(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, Made, int]]:
    m = make(host="api.predictiq.test", **SERVED[request.param])
    server = OneCertServer(m, tmp_path)
    try:
        yield request.param, m, server.port
    finally:
        server.close()


def test_served_certificates_are_read_over_a_real_handshake(
    served: tuple[str, Made, int], tmp_path: Path
) -> None:
    name, m, port = served
    ca = tmp_path / "ca.pem"
    ca.write_bytes(m.cert_pem)  # trust it: a self-signed leaf is its own CA
    source = CertificateSource(
        (CertificateConfig(host=m.host, port=port, address="127.0.0.1", ca_file=str(ca)),),
        ThresholdsConfig(),
        timeout=5.0,
    )

    async def collect() -> object:
        try:
            return await source.collect()
        finally:
            await source.aclose()

    snap = asyncio.run(collect())
    assert isinstance(snap, CertificatesSnapshot), snap
    (status,) = snap.certificates
    assert status.error is None and status.not_after is not None
    assert status.hostname_matches  # SAN, or the CN when there is no SAN
    assert status.chain_verified and status.status == CertState.OK
    assert status.subject == m.certificate.subject.rfc4514_string()
    assert ("api.predictiq.test" in status.san) == (name not in ("ec-without-san", "ec-t61"))
