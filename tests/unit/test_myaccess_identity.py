"""The identity an outside requestor proved on a package's link is the one their guest is created with: a person
who signed in at their organization's own identity provider (SAML or OpenID Connect federation) keeps that
provider, and so signs in there again later rather than with a passcode to the mailbox."""

from __future__ import annotations

from hospes.services.guest_flows import FlowView
from hospes.web.myaccess import _identity


def _flow(method: str, data: dict[str, object]) -> FlowView:
    return FlowView("h", "f", "access", "t1", None, "Pat@Fabrikam.example", None, None, None, method, data)


def test_a_federated_requestor_keeps_their_provider() -> None:
    federated = {"provider": "p1", "issuer": "https://idp.fabrikam.example/", "sub": "pat-42", "email": "pat@x"}
    for method in ("saml", "oidc"):
        who = _identity(_flow(method, {"federated": federated, "name": "Pat"}))
        assert who.identity == {
            "signInType": "federated",
            "issuer": "https://idp.fabrikam.example/",
            "issuerAssignedId": "pat-42",
        }
        assert who.email == "pat@fabrikam.example" and who.home_tenant_id is None


def test_passcode_and_home_tenant_requestors_are_unchanged() -> None:
    mail = _identity(_flow("mail", {}))
    assert mail.identity == {"signInType": "federated", "issuer": "mail", "issuerAssignedId": "pat@fabrikam.example"}
    home = _identity(_flow("home", {"home": {"tenant": "t9", "user": "u9"}}))
    assert home.identity["issuer"] == "ExternalAzureAD" and home.identity["issuerAssignedId"] == "t9/u9"
