"""Real X.509 certificates made with `cryptography`, in the shapes the cockpit must read: without
SAN, without CN, EC, Ed25519 and RSA keys, names in non-UTF-8 ASN.1 string types (BMPString,
UniversalString, T61String) and a UTF8String whose bytes are not UTF-8 at all."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
)
from cryptography.x509.name import _ASN1Type
from cryptography.x509.oid import NameOID

PrivateKey = ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey | rsa.RSAPrivateKey
_RSA = rsa.generate_private_key(public_exponent=65537, key_size=2048)  # slow: made once
MARK = "BROKENUTF8CN"  # replaced in the DER by bytes that are not UTF-8


def new_key(kind: str) -> PrivateKey:
    if kind == "ec-p256":
        return ec.generate_private_key(ec.SECP256R1())
    if kind == "ec-p384":
        return ec.generate_private_key(ec.SECP384R1())
    if kind == "ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    return _RSA


@dataclass(frozen=True)
class Made:
    """A certificate as DER and PEM, its key as PEM, and what it was made of."""

    der: bytes
    cert_pem: bytes
    key_pem: bytes
    host: str
    broken_name: bool

    @property
    def certificate(self) -> x509.Certificate:
        return x509.load_der_x509_certificate(self.der)


def make(
    *,
    key_kind: str,
    cn: str | None,
    organization: str | None,
    org_type: str,
    san_dns: list[str],
    san_ip: list[str],
    days_from: int,
    days_to: int,
    broken_utf8: bool,
    host: str,
) -> Made:
    """A self-signed leaf. `org_type` is the ASN.1 string type of O (utf8, bmp, universal, t61,
    printable); `broken_utf8` puts bytes that are not UTF-8 into a UTF8String CN (the
    signature no longer matches, as with any certificate altered on the way)."""
    key = new_key(key_kind)
    attributes: list[x509.NameAttribute] = []
    if organization is not None:
        asn1 = {
            "utf8": _ASN1Type.UTF8String,
            "bmp": _ASN1Type.BMPString,
            "universal": _ASN1Type.UniversalString,
            "t61": _ASN1Type.T61String,
            "printable": _ASN1Type.PrintableString,
        }[org_type]
        attributes.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization, _type=asn1))
    if broken_utf8:
        attributes.append(x509.NameAttribute(NameOID.COMMON_NAME, MARK))
    elif cn is not None:
        attributes.append(x509.NameAttribute(NameOID.COMMON_NAME, cn))
    name = x509.Name(attributes)
    now = datetime.now(UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now + timedelta(days=days_from))
        .not_valid_after(now + timedelta(days=days_to))
    )
    general: list[x509.GeneralName] = [x509.DNSName(d) for d in san_dns]
    general += [x509.IPAddress(ipaddress.ip_address(i)) for i in san_ip]
    if general:
        builder = builder.add_extension(x509.SubjectAlternativeName(general), critical=False)
    algorithm = None if isinstance(key, ed25519.Ed25519PrivateKey) else hashes.SHA256()
    cert = builder.sign(key, algorithm)
    der = cert.public_bytes(Encoding.DER)
    if broken_utf8:  # both the issuer's and the subject's CN
        der = der.replace(MARK.encode(), b"\xff\xfe\xc3(" + MARK.encode()[4:])
    pem = b"-----BEGIN CERTIFICATE-----\n" + _b64_lines(der) + b"-----END CERTIFICATE-----\n"
    key_pem = key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    return Made(der, pem, key_pem, host, broken_utf8)


def _b64_lines(der: bytes) -> bytes:
    import base64

    text = base64.b64encode(der)
    return b"".join(text[i : i + 64] + b"\n" for i in range(0, len(text), 64))
