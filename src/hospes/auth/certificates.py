"""X.509 certificates of applications: reading the certificates admins upload (an app's client-assertion keys, a
service provider's request-signing keys), making the self-signed token-signing certificates of SAML apps, and
sealing their private keys for storage.

Entra names a certificate by its thumbprint: the upper-case hex SHA-1 of the DER encoding. Graph's
``customKeyIdentifier`` defaults to it.

Key objects should be loaded once and reused (``load_signing_key``): loading a PEM re-validates the RSA key, which
costs about 40 ms, thirty times a signature."""

from __future__ import annotations

import base64
import binascii
import hashlib
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from hospes.auth.crypto import SecretBox

# The SecretBox purpose of token-signing private keys; the ciphertext is bound to the credential's key id.
SIGNING_KEY_PURPOSE = "token-signing-key"
MAX_CERTIFICATE_BYTES = 16 * 1024


class CertificateError(ValueError):
    """The bytes given are not one usable X.509 certificate; the message says why, for people (``template`` and
    ``params`` let a page say it in its language)."""

    def __init__(self, template: str, **params: object) -> None:
        super().__init__(template % params if params else template)
        self.template, self.params = template, params


@dataclass(frozen=True)
class CertificateInfo:
    """The public half, shaped like Graph's ``keyCredential`` / ``selfSignedCertificate``."""

    key_id: str
    display_name: str  # "CN=..." of the subject
    start: datetime
    end: datetime
    thumbprint: str
    der_b64: str


@dataclass(frozen=True)
class NewSigningCertificate:
    info: CertificateInfo
    private_key_pem: bytes  # PKCS#8, unencrypted: seal it (``seal_private_key``) before it is stored


@dataclass(frozen=True)
class SigningKey:
    """What a signer needs, loaded: the private key object and the certificate put into ``KeyInfo``."""

    key: rsa.RSAPrivateKey
    certificate: x509.Certificate
    der_b64: str
    thumbprint: str


def thumbprint_of(der: bytes) -> str:
    return hashlib.sha1(der, usedforsecurity=False).hexdigest().upper()


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def subject_name(certificate: x509.Certificate) -> str:
    names = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if names:
        return f"CN={names[0].value!s}"
    return certificate.subject.rfc4514_string()


def describe(certificate: x509.Certificate, key_id: str | None = None) -> CertificateInfo:
    der = certificate.public_bytes(serialization.Encoding.DER)
    return CertificateInfo(
        key_id=key_id or str(uuid.uuid4()),
        display_name=subject_name(certificate),
        start=_utc(certificate.not_valid_before_utc),
        end=_utc(certificate.not_valid_after_utc),
        thumbprint=thumbprint_of(der),
        der_b64=base64.b64encode(der).decode(),
    )


def load_certificate(data: bytes | str) -> x509.Certificate:
    """A certificate as people hand it over: a PEM file, a binary ``.cer`` (DER), or the base64 of the DER (Graph's
    ``keyCredential.key``, metadata's ``X509Certificate``)."""
    raw = data.encode() if isinstance(data, str) else data
    if not raw.strip():
        raise CertificateError("The certificate is empty.")
    if len(raw) > MAX_CERTIFICATE_BYTES:
        raise CertificateError("The certificate is too large (at most %(num)d KB).", num=MAX_CERTIFICATE_BYTES // 1024)
    stripped = raw.strip()
    if stripped.startswith(b"-----BEGIN") and b"PRIVATE KEY" in stripped:
        raise CertificateError("This is a private key. Upload the certificate (public key) only.")
    try:
        if stripped.startswith(b"-----BEGIN"):
            return x509.load_pem_x509_certificate(stripped)
        if stripped[:1] == b"\x30":  # an ASN.1 SEQUENCE: binary DER
            return x509.load_der_x509_certificate(stripped)
        der = base64.b64decode(b"".join(stripped.split()), validate=True)
        return x509.load_der_x509_certificate(der)
    except (ValueError, binascii.Error) as exc:
        raise CertificateError("This isn't an X.509 certificate (PEM, DER or base64 DER).") from exc


def read_certificate(data: bytes | str, key_id: str | None = None) -> CertificateInfo:
    """``load_certificate`` and its Graph description; an RSA or EC public key is required (what JWT and XML
    signatures use)."""
    certificate = load_certificate(data)
    try:
        public_key = certificate.public_key()
    except ValueError as exc:
        raise CertificateError("The certificate's public key cannot be read.") from exc
    if not isinstance(public_key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey):
        raise CertificateError("The certificate must hold an RSA or elliptic-curve public key.")
    return describe(certificate, key_id)


def _common_name(display_name: str) -> str:
    name = display_name.strip()
    name = name[3:] if name[:3].upper() == "CN=" else name
    if not name or len(name) > 64 or any(ord(c) < 32 for c in name):
        raise CertificateError("The certificate's name must be 'CN=' followed by 1 to 64 printable characters.")
    return name


def create_signing_certificate(
    display_name: str, *, start: datetime | None = None, end: datetime | None = None
) -> NewSigningCertificate:
    """A self-signed RSA-2048 / SHA-256 certificate, ``CN`` from ``display_name`` (``"CN=app"`` or ``"app"``),
    valid from ``start`` (now) to ``end`` (three years, Entra's default)."""
    common_name = _common_name(display_name)
    start = _utc(start or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
    end = _utc(end or start + timedelta(days=3 * 365)).astimezone(UTC).replace(microsecond=0)
    if end <= start:
        raise CertificateError("The certificate must end after it starts.")
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
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return NewSigningCertificate(describe(certificate), pem)


def seal_private_key(box: SecretBox, key_id: str, private_key_pem: bytes) -> str:
    return box.encrypt(SIGNING_KEY_PURPOSE, private_key_pem, key_id)


def open_private_key(box: SecretBox, key_id: str, sealed: str) -> bytes:
    return box.decrypt(SIGNING_KEY_PURPOSE, sealed, key_id)


def load_signing_key(private_key_pem: bytes, der_b64: str) -> SigningKey:
    """Load once, sign many times. Refuses a key that does not match the certificate."""
    key = serialization.load_pem_private_key(private_key_pem, password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise CertificateError("A token-signing key must be RSA.")
    der = base64.b64decode(der_b64, validate=True)
    certificate = x509.load_der_x509_certificate(der)
    if certificate.public_key() != key.public_key():
        raise CertificateError("The private key does not belong to the certificate.")
    return SigningKey(key, certificate, base64.b64encode(der).decode(), thumbprint_of(der))


def pem_of(der_b64: str) -> str:
    """The PEM text of a stored certificate (what a "Certificate (Base64)" download holds)."""
    body = "\n".join(der_b64[i : i + 64] for i in range(0, len(der_b64), 64))
    return f"-----BEGIN CERTIFICATE-----\n{body}\n-----END CERTIFICATE-----\n"
