"""XML signatures (enveloped, exclusive c14n, signxml) and the HTTP-Redirect binding's query-string signature.

A signature goes where a ``<ds:Signature Id="placeholder"/>`` was put when the document was built: signxml then
signs the tree in place. Signing a detached copy of an element and inserting it afterwards changes the canonical
form of what was signed, and verifiers reject the result."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from lxml import etree
from signxml.algorithms import CanonicalizationMethod, DigestAlgorithm, SignatureMethod
from signxml.exceptions import InvalidInput
from signxml.exceptions import InvalidSignature as XmlInvalidSignature
from signxml.signer import XMLSigner
from signxml.verifier import SignatureConfiguration, XMLVerifier

from hospes.auth.certificates import SigningKey
from hospes.saml.common import DS, invalid_message, parser, q

Algorithm = Literal["rsa-sha256", "rsa-sha1"]

RSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
RSA_SHA384 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384"
RSA_SHA512 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512"
RSA_SHA1 = "http://www.w3.org/2000/09/xmldsig#rsa-sha1"

_SIGN_METHODS = {"rsa-sha256": SignatureMethod.RSA_SHA256, "rsa-sha1": SignatureMethod.RSA_SHA1}
_DIGESTS = {"rsa-sha256": DigestAlgorithm.SHA256, "rsa-sha1": DigestAlgorithm.SHA1}
_RSA_SHA2: dict[str, type[hashes.HashAlgorithm]] = {
    RSA_SHA256: hashes.SHA256,
    RSA_SHA384: hashes.SHA384,
    RSA_SHA512: hashes.SHA512,
}
_QUERY_SIGN = {"rsa-sha256": (RSA_SHA256, hashes.SHA256), "rsa-sha1": (RSA_SHA1, hashes.SHA1)}

# What Hospes accepts from a service provider: the SHA-2 family only.
_ACCEPTED = SignatureConfiguration(
    require_x509=True,
    location="./",
    expect_references=1,
    signature_methods=frozenset({SignatureMethod.RSA_SHA256, SignatureMethod.RSA_SHA384, SignatureMethod.RSA_SHA512}),
    digest_algorithms=frozenset({DigestAlgorithm.SHA256, DigestAlgorithm.SHA384, DigestAlgorithm.SHA512}),
)


class _Signer(XMLSigner):
    def check_deprecated_methods(self) -> None:
        # RSA-SHA1 is an admin's explicit choice for old service providers (Entra offers it too).
        return None


def placeholder() -> etree._Element:
    element = etree.Element(q(DS, "Signature"), nsmap={"ds": DS})
    element.set("Id", "placeholder")
    return element


def sign(root: etree._Element, *, reference_id: str, key: SigningKey, algorithm: Algorithm) -> etree._Element:
    """Sign the element whose ``ID`` is ``reference_id`` at the placeholder inside ``root``; returns the signed
    tree (a new one: signxml works on its own copy)."""
    signer = _Signer(
        signature_algorithm=_SIGN_METHODS[algorithm],
        digest_algorithm=_DIGESTS[algorithm],
        c14n_algorithm=CanonicalizationMethod.EXCLUSIVE_XML_CANONICALIZATION_1_0,
    )
    signed: etree._Element = signer.sign(
        root, key=key.key, key_info=_key_info(key), reference_uri="#" + reference_id, id_attribute="ID"
    )
    return signed


def _key_info(key: SigningKey) -> etree._Element:
    # The certificate on one line, as Entra writes it (signxml's own KeyInfo keeps the PEM line breaks).
    key_info = etree.Element(q(DS, "KeyInfo"), nsmap={"ds": DS})
    x509_data = etree.SubElement(key_info, q(DS, "X509Data"))
    etree.SubElement(x509_data, q(DS, "X509Certificate")).text = key.der_b64
    return key_info


def verify_enveloped(data: bytes, certificates: Sequence[x509.Certificate]) -> etree._Element:
    """The element a signature that is a child of the document's root covers, verified against one of the
    configured certificates. Callers read only what this returns: anything else in ``data`` is unsigned."""
    method = etree.fromstring(data, parser=parser()).find(
        f"{q(DS, 'Signature')}/{q(DS, 'SignedInfo')}/{q(DS, 'SignatureMethod')}"
    )
    algorithm = method.get("Algorithm", "") if method is not None else ""
    if algorithm not in _RSA_SHA2:
        raise invalid_message(f"The signature algorithm '{algorithm[:128]}' is not supported; use RSA-SHA256.")
    for certificate in certificates:
        try:
            result = XMLVerifier().verify(
                data, x509_cert=certificate, parser=parser(), id_attribute="ID", expect_config=_ACCEPTED
            )
        except (XmlInvalidSignature, InvalidInput, etree.LxmlError, ValueError, LookupError, TypeError):
            # Whatever a peer's malformed signature makes the verifier throw (schema errors, references to
            # nothing, bad base64) means the same: not verified by this certificate.
            continue
        signed = result.signed_xml  # type: ignore[union-attr]
        if signed is not None:
            return signed
    raise invalid_message("The signature of the SAML message is not valid for the application's certificate.")


@dataclass(frozen=True)
class QuerySignature:
    sig_alg: str
    signature: bytes
    signed_octets: bytes


def verify_query(query: QuerySignature, certificates: Sequence[x509.Certificate]) -> None:
    hash_type = _RSA_SHA2.get(query.sig_alg)
    if hash_type is None:
        raise invalid_message(f"The signature algorithm '{query.sig_alg}' is not supported; use RSA-SHA256.")
    for certificate in certificates:
        public = certificate.public_key()
        if not isinstance(public, rsa.RSAPublicKey):
            continue
        try:
            public.verify(query.signature, query.signed_octets, padding.PKCS1v15(), hash_type())
        except InvalidSignature:
            continue
        return
    raise invalid_message("The signature of the SAML message is not valid for the application's certificate.")


def sign_query(octets: bytes, *, key: SigningKey, algorithm: Algorithm) -> tuple[str, str]:
    """(SigAlg URI, base64 signature) over the already-encoded query octets."""
    uri, hash_type = _QUERY_SIGN[algorithm]
    signature = key.key.sign(octets, padding.PKCS1v15(), hash_type())
    return uri, base64.b64encode(signature).decode()


def sig_alg_uri(algorithm: Algorithm) -> str:
    return _QUERY_SIGN[algorithm][0]
