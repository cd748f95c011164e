"""The identity provider's federation metadata: a signed ``EntityDescriptor`` naming the tenant's issuer, every
active signing certificate (old and new during a rollover), the four NameID formats and the SSO/SLO endpoints."""

from __future__ import annotations

from collections.abc import Sequence

from lxml import etree

from hospes.auth.certificates import SigningKey
from hospes.saml.common import BINDING_POST, BINDING_REDIRECT, DS, MD, SAMLP, new_message_id, q
from hospes.saml.nameid import FORMATS
from hospes.saml.signing import Algorithm, placeholder, sign


def build_metadata(
    *,
    entity_id: str,
    endpoint: str,
    certificates_b64: Sequence[str],
    signing_key: SigningKey | None,
    algorithm: Algorithm = "rsa-sha256",
) -> bytes:
    """``entity_id`` is ``{base}/{tenant id}/``, ``endpoint`` ``{base}/{tenant id}/saml2``; ``certificates_b64``
    the base64 DER certificates to publish. Signed with ``signing_key`` when given."""
    descriptor_id = new_message_id()
    root = etree.Element(q(MD, "EntityDescriptor"), nsmap={None: MD})
    root.set("ID", descriptor_id)
    root.set("entityID", entity_id)
    idp = etree.SubElement(root, q(MD, "IDPSSODescriptor"))
    idp.set("protocolSupportEnumeration", SAMLP)
    for certificate in dict.fromkeys(certificates_b64):
        key_descriptor = etree.SubElement(idp, q(MD, "KeyDescriptor"))
        key_descriptor.set("use", "signing")
        key_info = etree.SubElement(key_descriptor, q(DS, "KeyInfo"), nsmap={None: DS})
        x509_data = etree.SubElement(key_info, q(DS, "X509Data"))
        etree.SubElement(x509_data, q(DS, "X509Certificate")).text = certificate
    logout = etree.SubElement(idp, q(MD, "SingleLogoutService"))
    logout.set("Binding", BINDING_REDIRECT)
    logout.set("Location", endpoint)
    for name_format in FORMATS:
        etree.SubElement(idp, q(MD, "NameIDFormat")).text = name_format
    for binding in (BINDING_REDIRECT, BINDING_POST):
        service = etree.SubElement(idp, q(MD, "SingleSignOnService"))
        service.set("Binding", binding)
        service.set("Location", endpoint)
    if signing_key is not None:
        root.insert(0, placeholder())
        root = sign(root, reference_id=descriptor_id, key=signing_key, algorithm=algorithm)
    data: bytes = etree.tostring(root, encoding="utf-8", xml_declaration=True)
    return data
