"""The Graph shapes of guests' identity providers, checked before anything is stored, and the tenant a Hospes
issuer names."""

from __future__ import annotations

import pytest

from hospes.domain import federation as shape
from hospes.domain.errors import InvalidInputError


def test_tenant_of_issuer() -> None:
    tid = "0f8fad5b-d9cb-469f-a165-70867728950e"
    assert shape.tenant_of_issuer(f"https://login.partner.example/{tid}/v2.0") == tid
    assert shape.tenant_of_issuer(f"http://127.0.0.1:8000/{tid.upper()}/v2.0/") == tid
    assert shape.tenant_of_issuer(f"https://login.partner.example/{tid}/") is None
    assert shape.tenant_of_issuer("https://accounts.google.com") is None


@pytest.mark.parametrize(
    ("value", "ok"),
    [("Fabrikam.Example", True), ("a.b.co", True), ("localhost", False), ("-x.example", False), ("x..example", False)],
)
def test_domain_names(value: str, ok: bool) -> None:
    if ok:
        assert shape.domain_name(value) == value.lower()
    else:
        with pytest.raises(InvalidInputError):
            shape.domain_name(value)


def test_plain_http_only_for_a_loopback_provider() -> None:
    base = {
        "@odata.type": shape.OIDC_TYPE,
        "displayName": "P",
        "clientId": "c",
        "clientAuthentication": {"@odata.type": shape.SECRET_AUTH, "clientSecret": "s"},
    }
    local = shape.parse_oidc({**base, "issuer": "http://127.0.0.1:9/t/v2.0", "wellKnownEndpoint": "http://[::1]:9/w"})
    assert local.issuer == "http://127.0.0.1:9/t/v2.0"
    with pytest.raises(InvalidInputError):
        shape.parse_oidc({**base, "issuer": "http://partner.example/", "wellKnownEndpoint": "https://p.example/w"})
