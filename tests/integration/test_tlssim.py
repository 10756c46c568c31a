"""The TLS lab presents real certificates in each state, over real handshakes on loopback."""

from __future__ import annotations

import datetime as dt
import socket
import ssl
import time

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtensionOID

from cockpit.lab.tlssim import SERVER_NAME, WRONG_NAME, TlsLab


def _unverified_leaf(endpoint) -> x509.Certificate:
    """Handshake with verification off (as the cockpit must, to read bad certificates)."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with socket.create_connection((endpoint.host, endpoint.port), timeout=3) as sock:
        with ctx.wrap_socket(sock, server_hostname=endpoint.server_name) as tls:
            return x509.load_der_x509_certificate(tls.getpeercert(binary_form=True))


def _verified_handshake(lab: TlsLab, endpoint) -> dict:
    with socket.create_connection((endpoint.host, endpoint.port), timeout=3) as sock:
        with lab.client_context().wrap_socket(sock, server_hostname=endpoint.server_name) as tls:
            return tls.getpeercert()


def _days_left(cert: x509.Certificate) -> int:
    return (cert.not_valid_after_utc - dt.datetime.now(dt.UTC)).days


def _dns_names(cert: x509.Certificate) -> list[str]:
    san = cert.extensions.get_extension_for_oid(ExtensionOID.SUBJECT_ALTERNATIVE_NAME).value
    return san.get_values_for_type(x509.DNSName)


def test_endpoints_cover_every_state(tls_lab):
    assert set(tls_lab.endpoints) == {
        "valid",
        "expiring",
        "expired",
        "self_signed",
        "mismatch",
        "stall",
    }
    for endpoint in tls_lab.endpoints.values():
        assert endpoint.host == "127.0.0.1"
        assert endpoint.server_name == SERVER_NAME
        assert endpoint.ca_pem_path == tls_lab.ca_path and tls_lab.ca_path.exists()


def test_valid_certificate_verifies_against_the_lab_ca(tls_lab):
    endpoint = tls_lab.endpoints["valid"]
    peer = _verified_handshake(tls_lab, endpoint)
    assert ("DNS", SERVER_NAME) in peer["subjectAltName"]
    cert = _unverified_leaf(endpoint)
    assert cert.not_valid_after_utc == endpoint.not_after
    assert _days_left(cert) == 90
    assert endpoint.expected_status == "ok"


def test_expiring_certificate_verifies_and_has_five_days_left(tls_lab):
    endpoint = tls_lab.endpoints["expiring"]
    _verified_handshake(tls_lab, endpoint)
    cert = _unverified_leaf(endpoint)
    assert _days_left(cert) == 5
    assert endpoint.expected_status == "expiring"


def test_expired_certificate_fails_verification_but_can_be_read(tls_lab):
    endpoint = tls_lab.endpoints["expired"]
    with pytest.raises(ssl.SSLCertVerificationError, match="expired"):
        _verified_handshake(tls_lab, endpoint)
    cert = _unverified_leaf(endpoint)
    assert cert.not_valid_after_utc < dt.datetime.now(dt.UTC)
    assert cert.not_valid_before_utc < cert.not_valid_after_utc
    assert cert.not_valid_after_utc == endpoint.not_after
    assert endpoint.expected_status == "expired"


def test_self_signed_certificate_is_its_own_issuer(tls_lab):
    endpoint = tls_lab.endpoints["self_signed"]
    with pytest.raises(ssl.SSLCertVerificationError, match="self-signed"):
        _verified_handshake(tls_lab, endpoint)
    cert = _unverified_leaf(endpoint)
    assert cert.issuer == cert.subject
    assert _dns_names(cert) == [SERVER_NAME]
    assert not endpoint.issued_by_lab_ca and endpoint.expected_status == "untrusted"


def test_mismatch_certificate_is_for_another_host(tls_lab):
    endpoint = tls_lab.endpoints["mismatch"]
    with pytest.raises(ssl.SSLCertVerificationError, match="[Hh]ostname mismatch"):
        _verified_handshake(tls_lab, endpoint)
    cert = _unverified_leaf(endpoint)
    assert _dns_names(cert) == [WRONG_NAME]
    ca_subject = x509.load_pem_x509_certificate(tls_lab.ca_path.read_bytes()).subject
    assert cert.issuer == ca_subject
    assert not endpoint.hostname_matches and endpoint.expected_status == "untrusted"


def test_stall_endpoint_times_out_the_handshake(tls_lab):
    endpoint = tls_lab.endpoints["stall"]
    started = time.monotonic()
    with socket.create_connection((endpoint.host, endpoint.port), timeout=0.5) as sock:
        with pytest.raises((TimeoutError, ssl.SSLError)):
            tls_lab.client_context().wrap_socket(sock, server_hostname=endpoint.server_name)
    assert 0.4 < time.monotonic() - started < 3
    assert endpoint.expected_status == "error" and endpoint.not_after is None


def test_lab_stops_promptly_and_frees_its_ports():
    lab = TlsLab().start()
    ports = [endpoint.port for endpoint in lab.endpoints.values()]
    # a client that connects and never handshakes must not hold up stop()
    lingering = socket.create_connection(("127.0.0.1", lab.endpoints["valid"].port), timeout=2)
    started = time.monotonic()
    lab.stop()
    assert time.monotonic() - started < 2
    lingering.close()
    for port in ports:
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", port), timeout=2)
    assert not lab.tmpdir.exists()
