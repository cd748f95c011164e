"""ID token rules that need no database: the pairwise subject formula, amr values, the group overage rule."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime
from typing import Any

from joserfc.jwk import RSAKey

from hospes.auth.keys import ServerKeys
from hospes.auth.tokens import TokenIssuer
from hospes.services.oidc.claims import GROUP_OVERAGE, Issuance, OidcTokens, Subject, amr_claim
from hospes.services.oidc.scopes import RequestedScopes, Resource

KEYS = ServerKeys(jwt_key=RSAKey.generate_key(2048, auto_kid=True), hmac_key=b"deployment-hmac-key")
TOKENS = OidcTokens(TokenIssuer(KEYS, "https://login.example", 3600), KEYS.hmac_key)
GRAPH = Resource("graph", "graph-sp", "https://graph.microsoft.com", "00000003-0000-0000-c000-000000000000", "")


def _payload(token: str) -> dict[str, Any]:
    part = token.split(".")[1]
    result: dict[str, Any] = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    return result


def _grant() -> Issuance:
    scopes = RequestedScopes(("openid", "profile"), GRAPH, (), False, "graph-sp")
    return Issuance("tid-1", "client-1", "oid-1", "sid-1", scopes, (), "n", datetime.now(UTC), ("pwd",), 1)


def _subject(**extra: Any) -> Subject:
    return Subject(
        "oid-1", "tid-1", "a@contoso.example", "a@contoso.example", "A", None, None, None, False, None, **extra
    )


def test_pairwise_subject_is_the_documented_hmac() -> None:
    tenant_key = hmac.new(KEYS.hmac_key, b"oidc-pairwise\x00tid-1", hashlib.sha256).digest()
    expected = base64.urlsafe_b64encode(hmac.new(tenant_key, b"client-1\x00oid-1", hashlib.sha256).digest())
    sub = TOKENS.pairwise("tid-1", "client-1", "oid-1")
    assert sub == expected.rstrip(b"=").decode() and len(sub) == 43
    assert sub != TOKENS.pairwise("tid-1", "client-2", "oid-1")  # unlinkable across apps
    assert sub != TOKENS.pairwise("tid-2", "client-1", "oid-1")  # and across tenants


def test_amr_values() -> None:
    assert amr_claim(["pwd"]) == ["pwd"]
    assert amr_claim(["pwd", "otp"]) == ["mfa", "otp", "pwd"]
    assert amr_claim(["email"]) == ["otp"]
    assert amr_claim(["email", "otp"]) == ["mfa", "otp"]


def test_groups_above_the_limit_become_a_claim_source() -> None:
    few = _payload(TOKENS.id_token(_grant(), _subject(groups=("g1", "g2"))))
    assert few["groups"] == ["g1", "g2"] and "_claim_names" not in few
    many = _payload(TOKENS.id_token(_grant(), _subject(groups=tuple(f"g{i}" for i in range(GROUP_OVERAGE + 1)))))
    assert "groups" not in many
    assert many["_claim_names"] == {"groups": "src1"}
    assert many["_claim_sources"]["src1"]["endpoint"] == "https://login.example/v1.0/users/oid-1/getMemberObjects"
    exactly = _payload(TOKENS.id_token(_grant(), _subject(groups=tuple(f"g{i}" for i in range(GROUP_OVERAGE)))))
    assert len(exactly["groups"]) == GROUP_OVERAGE
