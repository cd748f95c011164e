"""Cross-tenant synchronization's anchor as Graph shows it: ``alternativeSecurityIds``.

A synchronized user stores one anchor, ``"<type>::<source object id>"`` (type 5, what ``AltSecIdFromNetId``
produces). On the wire it is one ``alternativeSecurityId``: ``type`` the number, ``key`` the source object id as
base64 (Graph's ``Edm.Binary``) and ``identityProvider`` the source tenant's id. Another deployment's connector
finds the user with ``alternativeSecurityIds/any(x:x/type eq 5 and x/key eq '<base64>')`` and creates it by an
invitation that carries the same object.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from hospes.domain.errors import InvalidInputError

ANCHOR_TYPE = 5
HOME_ISSUER = "ExternalAzureAD"  # the identity a synchronized (or home-redeemed) guest has: "<tenant>/<user>"
_MAX_KEY = 128


def anchor(source_object_id: str, kind: int = ANCHOR_TYPE) -> str:
    return f"{kind}::{source_object_id}"


def home_tenant(identities: list[dict[str, Any]] | None) -> str | None:
    """The source tenant named by a synchronized user's home identity, if it has one."""
    for identity in identities or []:
        if isinstance(identity, dict) and identity.get("issuer") == HOME_ISSUER:
            assigned = str(identity.get("issuerAssignedId") or "")
            if "/" in assigned:
                return assigned.partition("/")[0]
    return None


def to_wire(stored: str | None, identities: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    if not stored or "::" not in stored:
        return []
    kind, _, key = stored.partition("::")
    return [
        {
            "type": int(kind) if kind.isdigit() else ANCHOR_TYPE,
            "identityProvider": home_tenant(identities),
            "key": base64.b64encode(key.encode()).decode("ascii"),
        }
    ]


def decode_key(key: Any) -> str:
    """A ``key`` (base64) -> the source object id it names."""
    if not isinstance(key, str) or not key or len(key) > _MAX_KEY * 2:
        raise InvalidInputError("'key' of an alternativeSecurityId must be base64 text.", target="key")
    try:
        text = base64.b64decode(key.encode("ascii"), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeError, ValueError):
        raise InvalidInputError("'key' of an alternativeSecurityId must be base64 text.", target="key") from None
    if not text or len(text) > _MAX_KEY - 8 or not text.isprintable() or "::" in text:
        raise InvalidInputError("'key' of an alternativeSecurityId is not a valid anchor.", target="key")
    return text


def from_wire(value: Any) -> tuple[str, str | None]:
    """A list of one ``alternativeSecurityId`` (as an invitation carries it) -> (stored anchor, source tenant)."""
    if not isinstance(value, list) or len(value) != 1 or not isinstance(value[0], dict):
        raise InvalidInputError(
            "'alternativeSecurityIds' must hold exactly one alternativeSecurityId.", target="alternativeSecurityIds"
        )
    item = value[0]
    kind = item.get("type", ANCHOR_TYPE)
    if not isinstance(kind, int) or isinstance(kind, bool) or kind != ANCHOR_TYPE:
        raise InvalidInputError(f"'type' of an alternativeSecurityId must be {ANCHOR_TYPE}.", target="type")
    provider = item.get("identityProvider")
    if provider is not None and (not isinstance(provider, str) or not provider.strip() or len(provider) > 64):
        raise InvalidInputError("'identityProvider' must be the source tenant's id.", target="identityProvider")
    return anchor(decode_key(item.get("key")), kind), provider.strip().lower() if provider else None
