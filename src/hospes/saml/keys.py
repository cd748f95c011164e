"""Token-signing certificates of SAML apps, as the SAML messages use them. The certificate code is shared with the
applications' uploaded certificates and lives in ``hospes.auth.certificates`` (one implementation of the
self-signed RSA-2048 certificate Graph's ``addTokenSigningCertificate`` returns, of the thumbprint, and of the
loaded key a signer keeps); this module names what the SAML side needs from it."""

from __future__ import annotations

from hospes.auth.certificates import (
    CertificateInfo,
    NewSigningCertificate,
    SigningKey,
    create_signing_certificate,
    load_certificate,
    load_signing_key,
    thumbprint_of,
)

__all__ = [
    "CertificateInfo",
    "NewSigningCertificate",
    "SigningKey",
    "create_signing_certificate",
    "load_certificate",
    "load_signing_key",
    "thumbprint_of",
]
