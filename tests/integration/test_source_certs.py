"""The certificate source against the TLS lab: every certificate state over real handshakes."""

from __future__ import annotations

import asyncio

import pytest

from cockpit.config import CertificateConfig, ThresholdsConfig
from cockpit.lab.tlssim import SERVER_NAME, WRONG_NAME
from cockpit.models import CertificatesSnapshot, CertState, CertStatus, SourceFailure
from cockpit.sources.certs import CertificateSource

TIMEOUT = 1.0


def _cfg(endpoint, *, ca_file: str | None = None) -> CertificateConfig:
    # host is the name the certificate is for (SNI + hostname check); address is where to connect
    return CertificateConfig(
        host=endpoint.server_name,
        port=endpoint.port,
        address=endpoint.host,
        ca_file=str(endpoint.ca_pem_path) if ca_file is None else ca_file,
    )


async def _check(tls_lab, name: str, **kwargs) -> CertStatus:
    source = CertificateSource(
        (_cfg(tls_lab.endpoints[name]),), ThresholdsConfig(), timeout=TIMEOUT, **kwargs
    )
    try:
        snap = await source.collect()
    finally:
        await source.aclose()
    assert isinstance(snap, CertificatesSnapshot), snap
    (status,) = snap.certificates
    return status


async def test_valid_certificate_is_ok(tls_lab):
    status = await _check(tls_lab, "valid")
    assert status.status is CertState.OK, status
    assert status.chain_verified and status.hostname_matches and status.verify_error is None
    assert status.not_after == tls_lab.endpoints["valid"].not_after
    assert 90.0 < status.days_left < 90.1
    assert status.san == (SERVER_NAME,)
    assert "PredictIQ Lab CA" in status.issuer
    assert (
        status.server_name == SERVER_NAME
        and status.host == SERVER_NAME
        and status.address == "127.0.0.1"
    )
    assert status.serial and status.subject


async def test_expiring_certificate_shows_days_left(tls_lab):
    status = await _check(tls_lab, "expiring")
    assert status.status is CertState.EXPIRING, status
    assert 5.0 < status.days_left < 5.1
    assert status.chain_verified and status.hostname_matches


async def test_expired_certificate_is_still_read(tls_lab):
    status = await _check(tls_lab, "expired")
    assert status.status is CertState.EXPIRED, status
    assert status.not_after == tls_lab.endpoints["expired"].not_after
    assert -10.1 < status.days_left < -9.9
    assert SERVER_NAME in status.subject
    assert not status.chain_verified and "expired" in status.verify_error


async def test_self_signed_certificate_is_untrusted(tls_lab):
    status = await _check(tls_lab, "self_signed")
    assert status.status is CertState.UNTRUSTED, status
    assert not status.chain_verified and "self-signed" in status.verify_error
    assert status.hostname_matches  # the name is right: only the chain is wrong
    assert status.issuer == status.subject


async def test_hostname_mismatch_is_untrusted(tls_lab):
    status = await _check(tls_lab, "mismatch")
    assert status.status is CertState.UNTRUSTED, status
    assert status.chain_verified  # issued by the lab CA
    assert status.hostname_matches is False
    assert status.san == (WRONG_NAME,)
    assert SERVER_NAME in status.verify_error


async def test_system_store_does_not_trust_the_lab_ca(tls_lab):
    endpoint = tls_lab.endpoints["valid"]
    # loading the system store is slow on a loaded machine, and timing is not what this checks
    source = CertificateSource((_cfg(endpoint, ca_file=""),), ThresholdsConfig(), timeout=10)
    snap = await source.collect()
    assert isinstance(snap, CertificatesSnapshot), snap
    (status,) = snap.certificates
    assert status.status is CertState.UNTRUSTED and not status.chain_verified
    assert status.hostname_matches and status.days_left > 89


async def test_stalled_handshake_is_an_error_within_the_timeout(tls_lab):
    status = await asyncio.wait_for(_check(tls_lab, "stall"), 30)  # an outer hang bound
    assert status.status is CertState.ERROR, status
    assert "timed out" in status.error
    assert status.not_after is None
    assert status.error == "TLS handshake timed out after 0.8s"  # the handshake's share of it


async def test_closed_port_is_connection_refused(closed_port):
    cfg = CertificateConfig(host=SERVER_NAME, port=closed_port, address="127.0.0.1")
    source = CertificateSource((cfg,), ThresholdsConfig(), timeout=TIMEOUT)
    snap = await source.collect()
    (status,) = snap.certificates
    assert status.status is CertState.ERROR
    assert status.error == "connection refused"


async def test_all_endpoints_are_checked_concurrently(tls_lab):
    # two stalled endpoints each use their handshake budget (0.8 of TIMEOUT); the whole
    # collection has TIMEOUT. Checked one after another they could not both time out on their own:
    # the collection would fail as a whole. Both reporting their own handshake timeout, and every
    # other endpoint its status, is what concurrent checks give.
    names = ["valid", "expiring", "expired", "self_signed", "mismatch", "stall", "stall"]
    cfgs = tuple(_cfg(tls_lab.endpoints[n]) for n in names)
    source = CertificateSource(cfgs, ThresholdsConfig(cert_warning_days=30), timeout=TIMEOUT)
    snap = await source.collect()
    assert isinstance(snap, CertificatesSnapshot), snap
    got = [s.status.value for s in snap.certificates]
    assert got == [tls_lab.endpoints[n].expected_status for n in names]
    stalled = [s.error for s in snap.certificates if s.error and "timed out" in s.error]
    assert stalled == ["TLS handshake timed out after 0.8s"] * 2


async def test_warning_days_come_from_the_thresholds(tls_lab):
    source = CertificateSource(
        (_cfg(tls_lab.endpoints["valid"]),),
        ThresholdsConfig(cert_warning_days=100, cert_critical_days=7),
        timeout=TIMEOUT,
    )
    snap = await source.collect()
    assert snap.certificates[0].status is CertState.EXPIRING


async def test_missing_ca_file_is_reported_not_raised(tls_lab, tmp_path):
    endpoint = tls_lab.endpoints["valid"]
    cfg = _cfg(endpoint, ca_file=str(tmp_path / "nope.pem"))
    snap = await CertificateSource((cfg,), ThresholdsConfig(), timeout=TIMEOUT).collect()
    (status,) = snap.certificates
    assert status.status is CertState.UNTRUSTED
    assert "cannot load CA file" in status.verify_error
    assert status.not_after == endpoint.not_after


async def test_no_endpoints_is_a_source_failure():
    result = await CertificateSource((), ThresholdsConfig()).collect()
    assert isinstance(result, SourceFailure) and result.source == "certificates"


@pytest.mark.parametrize(
    ("pattern", "host", "expected"),
    [
        ("*.predictiq.test", "api.predictiq.test", True),
        ("*.predictiq.test", "predictiq.test", False),
        ("*.predictiq.test", "a.b.predictiq.test", False),
        ("api.predictiq.test", "API.predictiq.test.", True),
    ],
)
def test_wildcard_names(pattern, host, expected):
    import datetime as dt

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    from cockpit.sources.certs import hostname_matches

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "x")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(pattern)]), critical=False)
        .sign(key, hashes.SHA256())
    )
    assert hostname_matches(cert, host) is expected


async def test_a_server_that_wants_a_client_certificate_says_so_and_its_leaf_is_still_judged(
    tls_lab,
):
    from tests.tlsclientcert import ClientCertEndpoint

    with ClientCertEndpoint(tls_lab) as endpoint:
        source = CertificateSource(
            (
                CertificateConfig(
                    host=SERVER_NAME,
                    port=endpoint.port,
                    address="127.0.0.1",
                    ca_file=str(tls_lab.ca_path),
                ),
            ),
            ThresholdsConfig(),
            timeout=TIMEOUT,
        )
        try:
            snap = await source.collect()
        finally:
            await source.aclose()
    assert isinstance(snap, CertificatesSnapshot), snap
    (status,) = snap.certificates
    assert status.client_cert_requested, status
    assert (
        status.status is CertState.OK and status.days_left is not None and status.hostname_matches
    )
    assert "PredictIQ Lab CA" in status.issuer


async def test_an_ordinary_server_is_not_taken_for_one_that_wants_a_client_certificate(tls_lab):
    for name in ("valid", "expired", "self_signed"):
        assert not (await _check(tls_lab, name)).client_cert_requested
