"""Terms of use: agreements on Graph (files per language, versions, acceptances), a conditional-access policy
that requires one, the acceptance page on the way into Hospes's own pages and into an app (OpenID Connect),
re-acceptance of a new version, a decline, and the token endpoint refusing a refresh until the new version is
accepted."""

from __future__ import annotations

import base64
import html
import re
import uuid
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from hospes.domain.clock import utcnow
from hospes.domain.terms_of_use import expires_at, pick_file
from tests.helpers.oidc import RelyingParty, admin_consent, answer_of, follow, register_rp
from tests.helpers.portal import sign_in, sign_in_as_admin
from tests.helpers.redemption import invite, redeem_with_otp
from tests.helpers.saml import Sp, form_fields, new_party, register_saml_app
from tests.helpers.tenants import TenantHandle

AGREEMENTS = "/identityGovernance/termsOfUse/agreements"
POLICIES = "/identity/conditionalAccess/policies"
ENGLISH = "Be kind to the shared printer."
FRENCH = "Soyez gentil avec l’imprimante."


def _file(text: str, language: str, **extra: Any) -> dict[str, Any]:
    data = base64.b64encode(text.encode()).decode()
    return {"fileName": f"terms-{language}.txt", "language": language, "fileData": {"data": data}, **extra}


def _agreement(tenant: TenantHandle, **extra: Any) -> dict[str, Any]:
    body = {"displayName": "Printer rules", "files": [_file(ENGLISH, "en", isDefault=True), _file(FRENCH, "fr")]}
    created = tenant.post(AGREEMENTS, json={**body, **extra})
    assert created.status_code == 201, created.text
    return dict(created.json())


def _require(tenant: TenantHandle, agreement_id: str, users: list[str], apps: list[str]) -> str:
    created = tenant.post(
        POLICIES,
        json={
            "displayName": "Accept the printer rules",
            "state": "enabled",
            "conditions": {"users": {"includeUsers": users}, "applications": {"includeApplications": apps}},
            "grantControls": {"operator": "AND", "builtInControls": [], "termsOfUse": [agreement_id]},
        },
    )
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


def _acceptances(tenant: TenantHandle, agreement_id: str) -> list[dict[str, Any]]:
    return list(tenant.get(f"{AGREEMENTS}/{agreement_id}/acceptances").json()["value"])


def test_agreements_on_graph(tenant: TenantHandle) -> None:
    agreement = _agreement(tenant, userReacceptRequiredFrequency="P90D", isViewingBeforeAcceptanceRequired=True)
    assert agreement["userReacceptRequiredFrequency"] == "P90D" and agreement["isViewingBeforeAcceptanceRequired"]
    files = tenant.get(f"{AGREEMENTS}/{agreement['id']}/files").json()["value"]
    assert sorted((f["language"], f["isDefault"]) for f in files) == [("en", True), ("fr", False)]
    one = tenant.get(f"{AGREEMENTS}/{agreement['id']}/files/{files[0]['id']}").json()
    assert base64.b64decode(one["fileData"]["data"]).decode() in (ENGLISH, FRENCH)
    assert [a["id"] for a in tenant.get(AGREEMENTS).json()["value"]] == [agreement["id"]]
    assert tenant.patch(f"{AGREEMENTS}/{agreement['id']}", json={"displayName": "Printer rules v2"}).status_code == 204
    assert tenant.get(f"{AGREEMENTS}/{agreement['id']}").json()["displayName"] == "Printer rules v2"
    for wrong in (
        {"displayName": "No files", "files": []},
        {"displayName": "Bad data", "files": [{"fileName": "x", "language": "en", "fileData": {"data": "@@"}}]},
        {
            "displayName": "Binary",
            "files": [_file("", "en") | {"fileData": {"data": base64.b64encode(b"\xff\xfe\x00").decode()}}],
        },
        {"displayName": "Twice", "files": [_file("a", "en"), _file("b", "en")]},
        {"displayName": "Duration", "userReacceptRequiredFrequency": "P1Y", "files": [_file("a", "en")]},
        {"displayName": "Unknown", "files": [_file("a", "en")], "color": "red"},
    ):
        refused = tenant.post(AGREEMENTS, json=wrong)
        assert refused.status_code == 400, (wrong["displayName"], refused.text)
    unknown = tenant.post(
        POLICIES,
        json={
            "displayName": "x",
            "state": "enabled",
            "conditions": {"users": {"includeUsers": ["All"]}, "applications": {"includeApplications": ["All"]}},
            "grantControls": {"operator": "OR", "termsOfUse": ["0d6a3c2e-0000-4000-8000-000000000000"]},
        },
    )
    assert unknown.status_code == 400
    policy = _require(tenant, agreement["id"], ["None"], ["All"])
    assert tenant.delete(f"{AGREEMENTS}/{agreement['id']}").status_code == 400  # a policy requires it
    assert tenant.delete(f"{POLICIES}/{policy}").status_code == 204
    assert tenant.delete(f"{AGREEMENTS}/{agreement['id']}").status_code == 204


def _terms_step(web: TestClient, location: str) -> tuple[str, dict[str, str]]:
    """The terms page a sign-in was sent to: its text and the fields of its form."""
    assert "/terms?" in location, location
    page = web.get(location)
    assert page.status_code == 200, page.text
    fields = dict(re.findall(r'<input type="hidden" name="([a-z]+)" value="([^"]*)">', page.text))
    return page.text, {k: html.unescape(v) for k, v in fields.items()}


def test_a_member_accepts_on_the_way_in_and_again_for_a_new_version(
    tenant: TenantHandle, web: TestClient, sessions: sessionmaker[Session]
) -> None:
    user = tenant.new_user("tess")
    agreement = _agreement(tenant)
    _require(tenant, agreement["id"], [user["id"]], ["All"])
    signed = sign_in(web, tenant.domain, user["userPrincipalName"])
    assert signed.status_code == 303
    text, fields = _terms_step(web, signed.headers["location"])
    assert ENGLISH in text and FRENCH not in text
    french = web.get(signed.headers["location"] + "&lang=fr")
    assert FRENCH in french.text  # the reader's language
    accepted = web.post(f"/{tenant.domain}/terms", data={**fields, "decision": "accept"})
    assert accepted.status_code == 303 and "/terms" not in accepted.headers["location"]
    [row] = _acceptances(tenant, agreement["id"])
    assert (row["userId"], row["state"], row["expirationDateTime"]) == (user["id"], "accepted", None)
    again = sign_in(web, tenant.domain, user["userPrincipalName"])
    assert "/terms" not in again.headers["location"]  # accepted: straight in
    added = tenant.post(f"{AGREEMENTS}/{agreement['id']}/files", json=_file("New rules.", "en", isMajorVersion=True))
    assert added.status_code == 201, added.text
    third = sign_in(web, tenant.domain, user["userPrincipalName"])
    text, fields = _terms_step(web, third.headers["location"] + "&lang=en")
    assert "New rules." in text
    # My Apps asks for them too, whatever way the user came in.
    assert "/terms?" in web.get(f"/{tenant.domain}/myapps").headers["location"]
    declined = web.post(f"/{tenant.domain}/terms", data={**fields, "decision": "decline"})
    assert declined.status_code == 403
    states = sorted(a["state"] for a in _acceptances(tenant, agreement["id"]))
    assert states == ["accepted", "declined"]


def _authorize_url(rp: RelyingParty, **params: str) -> str:
    query = {
        "client_id": rp.client_id,
        "redirect_uri": rp.redirect_uri,
        "response_type": "code",
        "scope": "openid profile offline_access",
        "state": "st",
        **params,
    }
    return f"/{rp.tenant.id}/oauth2/v2.0/authorize?{urlencode(query)}"


def test_an_app_sign_in_goes_through_the_terms_and_a_refresh_stops_at_a_new_version(
    tenant: TenantHandle, web: TestClient
) -> None:
    rp = register_rp(tenant)
    admin_consent(rp)
    user = tenant.new_user("otto")
    agreement = _agreement(tenant)
    _require(tenant, agreement["id"], [user["id"]], [rp.client_id])
    assert sign_in(web, tenant.domain, user["userPrincipalName"]).status_code == 303  # own pages: no terms
    silent = web.get(_authorize_url(rp, prompt="none"))
    assert answer_of(silent.headers["location"])["error"] == "interaction_required"
    asked = web.get(_authorize_url(rp))
    assert asked.status_code in (302, 303), asked.text[:300]
    _text, fields = _terms_step(web, asked.headers["location"])
    back = web.post(f"/{tenant.id}/terms", data={**fields, "decision": "accept"})
    assert back.status_code == 303 and "/authorize/continue" in back.headers["location"]
    code = answer_of(follow(web, back))["code"]
    tokens = tenant.client.post(
        f"/{tenant.id}/oauth2/v2.0/token",
        data={"grant_type": "authorization_code", "client_id": rp.client_id, "client_secret": rp.secret,
              "code": code, "redirect_uri": rp.redirect_uri},
    ).json()  # fmt: skip
    refresh = {"grant_type": "refresh_token", "client_id": rp.client_id, "client_secret": rp.secret}
    renewed = tenant.client.post(
        f"/{tenant.id}/oauth2/v2.0/token", data={**refresh, "refresh_token": tokens["refresh_token"]}
    )
    assert renewed.status_code == 200, renewed.text
    tenant.post(f"{AGREEMENTS}/{agreement['id']}/files", json=_file("Version two.", "en", isMajorVersion=True))
    stopped = tenant.client.post(
        f"/{tenant.id}/oauth2/v2.0/token", data={**refresh, "refresh_token": renewed.json()["refresh_token"]}
    )
    assert (stopped.json()["error"], stopped.json()["error_codes"]) == ("interaction_required", [50158])


def test_acceptances_expire_and_the_reader_gets_their_language() -> None:
    now = utcnow()
    assert expires_at(now, 30, None) == now + timedelta(days=30)
    start = now - timedelta(days=10)
    window = {"startDateTime": start.strftime("%Y-%m-%dT%H:%M:%SZ"), "frequency": "P7D"}
    ends = expires_at(now, None, window)
    assert ends is not None and timedelta(0) < ends - now <= timedelta(days=7)
    assert expires_at(now, 2, window) == now + timedelta(days=2)
    files = [{"language": "en", "is_default": True}, {"language": "fr", "is_default": False}]
    assert pick_file(files, ["fr-ca"]) == files[1]
    assert pick_file(files, ["ja"]) == files[0]


@pytest.mark.parametrize("path", ["/terms", "/terms/0d6a3c2e-0000-4000-8000-000000000000/document"])
def test_the_pages_want_a_signed_in_user(tenant: TenantHandle, web: TestClient, path: str) -> None:
    answer = web.get(f"/{tenant.domain}{path}")
    assert answer.status_code == 303 and "/login" in answer.headers["location"]
    assert "next" in parse_qs(urlsplit(answer.headers["location"]).query) or path.endswith("document")


def test_the_portal_shows_who_accepted(tenant: TenantHandle, web: TestClient) -> None:
    user = tenant.new_user("pia")
    agreement = _agreement(tenant)
    _require(tenant, agreement["id"], [user["id"]], ["All"])
    signed = sign_in(web, tenant.domain, user["userPrincipalName"])
    _text, fields = _terms_step(web, signed.headers["location"])
    assert web.post(f"/{tenant.domain}/terms", data={**fields, "decision": "accept"}).status_code == 303
    sign_in_as_admin(web, tenant)
    listing = web.get(f"/{tenant.domain}/admin/terms-of-use")
    assert listing.status_code == 200 and "Printer rules" in listing.text
    row = re.search(r"Printer rules</a></td>(.*?)</tr>", listing.text, re.S)
    assert row is not None and re.findall(r">(\d+)</td>", row.group(1)) == [
        "1",
        "1",
        "0",
    ]  # version, accepted, declined
    detail = web.get(f"/{tenant.domain}/admin/terms-of-use/{agreement['id']}")
    assert detail.status_code == 200 and user["userPrincipalName"] in detail.text and 'class="tag ok"' in detail.text
    assert web.get(f"/{tenant.domain}/admin/terms-of-use/0d6a3c2e-0000-4000-8000-000000000000").status_code == 404


def test_a_saml_sign_in_from_my_apps_goes_through_the_terms(
    app: FastAPI, web: TestClient, tenant: TenantHandle, sessions: sessionmaker[Session]
) -> None:
    sp = Sp("https://rules.example/saml/metadata", "https://rules.example/saml/acs", "https://rules.example/saml/sls",
            new_party("rules.example"))  # fmt: skip
    handle = register_saml_app(tenant, sessions, app.state.runtime.box, sp)
    user = tenant.new_user("sam", mail=f"sam@{tenant.domain}")
    assert sign_in(web, tenant.domain, user["userPrincipalName"]).status_code == 303
    agreement = _agreement(tenant)
    _require(tenant, agreement["id"], [user["id"]], [handle.app_id])
    asked = web.get(f"/{tenant.domain}/myapps/signin/{handle.app_id}")
    assert asked.status_code == 303
    _text, fields = _terms_step(web, asked.headers["location"])
    back = web.post(f"/{tenant.domain}/terms", data={**fields, "decision": "accept"})
    assert back.status_code == 303
    answered = web.get(back.headers["location"])
    action, posted = form_fields(answered.text)  # the signed Response, posted to the app
    assert action == sp.acs and b"Success" in base64.b64decode(posted["SAMLResponse"])


def test_the_portal_holds_the_terms_on_every_page_and_a_decline_signs_out(
    tenant: TenantHandle, web: TestClient, sessions: sessionmaker[Session]
) -> None:
    agreement = _agreement(tenant)
    admin_id = tenant.get(f"/users/{tenant.boot.admin_user_principal_name}").json()["id"]
    _require(tenant, agreement["id"], [admin_id], ["MicrosoftAdminPortals"])
    sign_in_as_admin(web, tenant)
    for path in ("/admin", "/admin/sign-ins", "/admin/terms-of-use"):
        skipped = web.get(f"/{tenant.domain}{path}")  # the terms page left unanswered
        assert skipped.status_code == 303 and "/terms?" in skipped.headers["location"], path
    assert web.get(f"/{tenant.domain}/me").status_code == 200  # not the portal: no terms asked
    _text, fields = _terms_step(web, web.get(f"/{tenant.domain}/admin/sign-ins").headers["location"])
    declined = web.post(f"/{tenant.domain}/terms", data={**fields, "decision": "decline"})
    assert declined.status_code == 403
    assert "/login" in web.get(f"/{tenant.domain}/me").headers["location"]  # signed out
    sign_in_as_admin(web, tenant)
    _text, fields = _terms_step(web, web.get(f"/{tenant.domain}/admin/sign-ins").headers["location"])
    accepted = web.post(f"/{tenant.domain}/terms", data={**fields, "decision": "accept"})
    assert accepted.headers["location"].endswith("/admin/sign-ins")
    assert web.get(accepted.headers["location"]).status_code == 200


def test_a_guest_accepts_after_redeeming_an_invitation(
    tenant: TenantHandle, web: TestClient, sessions: sessionmaker[Session]
) -> None:
    address = f"guest-{uuid.uuid4().hex[:8]}@partner.example"
    invitation = invite(tenant, address, redirect=f"http://testserver/{tenant.id}/myapps")
    agreement = _agreement(tenant)
    _require(tenant, agreement["id"], ["GuestsOrExternalUsers"], ["All"])
    redeemed = redeem_with_otp(web, sessions, invitation["inviteRedeemUrl"], tenant.id, address)
    assert redeemed.status_code == 303
    landing = web.get(redeemed.headers["location"])  # My Apps: the terms first
    assert landing.status_code == 303
    _text, fields = _terms_step(web, landing.headers["location"])
    accepted = web.post(f"/{tenant.id}/terms", data={**fields, "decision": "accept"})
    assert web.get(accepted.headers["location"]).status_code == 200
    [answer] = _acceptances(tenant, agreement["id"])
    assert (answer["userId"], answer["state"]) == (invitation["invitedUser"]["id"], "accepted")
