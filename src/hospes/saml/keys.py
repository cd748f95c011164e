"""Token-signing certificates of SAML apps: a self-signed RSA-2048 certificate as Graph's
``addTokenSigningCertificate`` returns it, and the loaded form a signer keeps.

Key objects are built once (``load_signing_key``) and reused: loading a PEM re-validates the RSA key, which costs
about 40 ms, thirty times the signature itself."""

from __future__ import annotations

import base64
import hashlib
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID


@dataclass(frozen=True)
class CertificateInfo:
    """The public half, shaped like Graph's ``selfSignedCertificate`` (the key is base64 DER, the thumbprint the
    upper-case SHA-1 hex of the DER)."""

    key_id: str
    display_name: str
    start: datetime
    end: datetime
    thumbprint: str
    der_b64: str


@dataclass(frozen=True)
class NewSigningCertificate:
    info: CertificateInfo
    private_key_pem: bytes  # PKCS#8, unencrypted: the caller seals it before it is stored


@dataclass(frozen=True)
class SigningKey:
    """What the signer needs, loaded: the private key object and the certificate put into ``KeyInfo``."""

    key: rsa.RSAPrivateKey
    certificate: x509.Certificate
    der_b64: str
    thumbprint: str


def thumbprint_of(der: bytes) -> str:
    return hashlib.sha1(der, usedforsecurity=False).hexdigest().upper()


def _common_name(display_name: str) -> str:
    name = display_name.strip()
    name = name[3:] if name[:3].upper() == "CN=" else name
    if not name or len(name) > 64 or any(ord(c) < 32 for c in name):
        raise ValueError("the certificate's display name must be 'CN=' and 1 to 64 printable characters")
    return name


def create_signing_certificate(
    display_name: str, *, start: datetime | None = None, end: datetime | None = None
) -> NewSigningCertificate:
    """A self-signed RSA-2048 / SHA-256 certificate, ``CN`` from ``display_name`` (``"CN=app"`` or ``"app"``),
    valid from ``start`` (now) to ``end`` (three years, Entra's default)."""
    common_name = _common_name(display_name)
    start = (start or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
    end = (end or start + timedelta(days=3 * 365)).astimezone(UTC).replace(microsecond=0)
    if end <= start:
        raise ValueError("the certificate must end after it starts")
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .sign(key, hashes.SHA256())
    )
    der = certificate.public_bytes(serialization.Encoding.DER)
    info = CertificateInfo(
        key_id=str(uuid.uuid4()),
        display_name=f"CN={common_name}",
        start=start,
        end=end,
        thumbprint=thumbprint_of(der),
        der_b64=base64.b64encode(der).decode(),
    )
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return NewSigningCertificate(info, pem)


def load_signing_key(private_key_pem: bytes, der_b64: str) -> SigningKey:
    """Load once, sign many times. Refuses a key that does not match the certificate."""
    key = serialization.load_pem_private_key(private_key_pem, password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError("a SAML signing key must be RSA")
    der = base64.b64decode(der_b64, validate=True)
    certificate = x509.load_der_x509_certificate(der)
    if certificate.public_key() != key.public_key():
        raise ValueError("the private key does not belong to the certificate")
    return SigningKey(key, certificate, base64.b64encode(der).decode(), thumbprint_of(der))


def load_certificate(text: str) -> x509.Certificate:
    """An SP's certificate as an admin pastes it: PEM, or the bare base64 DER of metadata's X509Certificate."""
    stripped = text.strip()
    try:
        if stripped.startswith("-----BEGIN"):
            return x509.load_pem_x509_certificate(stripped.encode())
        return x509.load_der_x509_certificate(base64.b64decode("".join(stripped.split()), validate=True))
    except ValueError as exc:
        raise ValueError("not an X.509 certificate (PEM or base64 DER)") from exc
