"""The subject's NameID: which format (the request's NameIDPolicy wins, then the app's configured format, then the
source's default) and its value.

Persistent (and unspecified) NameIDs are pairwise: ``base64(HMAC-SHA256(tenant key, sp_entity_id || 0x00 || oid))``,
so two apps cannot correlate a user by NameID, the value never changes for one app and user, and it is never
reassigned to someone else. Transient NameIDs are 16 random bytes, new for every sign-in."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass

PERSISTENT = "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"
EMAIL = "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress"
UNSPECIFIED = "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified"
TRANSIENT = "urn:oasis:names:tc:SAML:2.0:nameid-format:transient"

FORMATS = (PERSISTENT, EMAIL, UNSPECIFIED, TRANSIENT)


@dataclass(frozen=True)
class NameId:
    value: str
    format: str
    sp_name_qualifier: str | None = None


def resolve_format(requested: str | None, configured: str | None, source_default: str = EMAIL) -> str:
    """The format to send. The request's ``NameIDPolicy/@Format`` was checked against ``FORMATS`` when the request
    was read; a configured format outside them falls back to persistent."""
    for candidate in (requested, configured):
        if candidate:
            return candidate if candidate in FORMATS else PERSISTENT
    return source_default


def pairwise_id(tenant_key: bytes, sp_entity_id: str, object_id: str) -> str:
    mac = hmac.new(tenant_key, sp_entity_id.encode() + b"\x00" + object_id.encode(), hashlib.sha256).digest()
    return base64.b64encode(mac).decode()


def build_name_id(
    name_format: str,
    *,
    source_value: str | None,
    tenant_key: bytes,
    sp_entity_id: str,
    object_id: str,
    sp_name_qualifier: str | None = None,
    configured: bool = False,
) -> NameId:
    """``source_value`` is what the NameID claim's source gave (e.g. the UPN, or a guest's mail); emailAddress
    uses it when it looks like an address, and a missing or unusable value becomes a persistent pairwise id.
    ``unspecified`` asked for by the request lets the IdP choose, and it sends the pairwise id; ``configured``
    (the app's own setting, the request named no format) sends the source's value as it is."""
    if name_format == UNSPECIFIED and configured and source_value:
        return NameId(source_value, UNSPECIFIED, sp_name_qualifier)
    if name_format == TRANSIENT:
        return NameId(base64.b64encode(secrets.token_bytes(16)).decode(), TRANSIENT, sp_name_qualifier)
    if name_format == EMAIL and source_value and _looks_like_address(source_value):
        return NameId(source_value, EMAIL, sp_name_qualifier)
    value = pairwise_id(tenant_key, sp_entity_id, object_id)
    return NameId(value, UNSPECIFIED if name_format == UNSPECIFIED else PERSISTENT, sp_name_qualifier)


def _looks_like_address(value: str) -> bool:
    local, at, domain = value.rpartition("@")
    return bool(at and local and domain) and not any(c.isspace() for c in value)
