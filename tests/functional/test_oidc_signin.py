"""Who may sign in to an app, and how: consent, assignment (AADSTS50105), prompt, max_age, hints, a user of another
tenant (50020), guests by emailed passcode and by their home tenant (redeemed just in time), cross-tenant reuse,
and the sign-in log."""

from __future__ import annotations

import base64
import hashlib
import html
import json
import re
import time
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from hospes.domain.principals import Principal
from hospes.services.guest_policy import GuestPolicyService
from hospes.storage.tables_sso import SignIn, SsoParticipant
from tests.helpers.oidc import (
    RelyingParty,
    admin_consent,
    answer_of,
    consent,
    follow,
    form_post_fields,
    id_token_claims,
    register_rp,
)
from tests.helpers.portal import PASSWORD, csrf_of, sign_in
from tests.helpers.redemption import invite, latest_code, path_of, redeem_with_otp
from tests.helpers.tenants import TenantHandle

_CTX = re.compile(r'name="ctx" value="([^"]+)"')


def _authorize(rp: RelyingParty, **params: str) -> str:
    query = {
        "client_id": rp.client_id,
        "redirect_uri": rp.redirect_uri,
        "response_type": "code",
        "scope": "openid profile email offline_access",
        "state": "st",
        "nonce": "n-0",
        **params,
    }
    return f"/{rp.tenant.id}/oauth2/v2.0/authorize?{urlencode(query)}"


def _redeem(rp: RelyingParty, code: str, **extra: str) -> Any:
    return rp.tenant.client.post(
        f"/{rp.tenant.id}/oauth2/v2.0/token",
        data={
            "grant_type": "authorization_code",
            "client_id": rp.client_id,
            "client_secret": rp.secret,
            "code": code,
            "redirect_uri": rp.redirect_uri,
            **extra,
        },
    )


def _member(tenant: TenantHandle, web: TestClient, **props: Any) -> dict[str, Any]:
    user = tenant.new_user(**props)
    assert sign_in(web, tenant.domain, user["userPrincipalName"]).status_code == 303
    return user


def _log(sessions: sessionmaker[Session], tenant_id: str) -> list[SignIn]:
    """The sign-ins at the authorization endpoint (not the token endpoint's: the tenant fixture's own token)."""
    with sessions() as session:
        query = select(SignIn).where(SignIn.tenant_id == tenant_id, SignIn.protocol == "oidc")
        return list(session.scalars(query.order_by(SignIn.created_at)))


def _identifier(web: TestClient, response: Any, address: str) -> Any:
    """The "who are you" page an app's sign-in starts with, answered."""
    assert response.status_code == 303 and "/oauth2/v2.0/authorize/signin?" in response.headers["location"]
    page = web.get(response.headers["location"])
    assert page.status_code == 200, page.text
    ctx = html.unescape(_CTX.search(page.text).group(1))  # type: ignore[union-attr]
    return web.post(page.url.path, data={"csrf": csrf_of(page.text), "ctx": ctx, "email": address})


def _password(web: TestClient, response: Any, upn: str) -> Any:
    """The member sign-in page the identifier step sent us to, answered."""
    location = response.headers["location"]
    assert "/login?" in location, location
    page = web.get(location)
    assert page.status_code == 200, page.text
    next_path = parse_qs(urlsplit(location).query)["next"][0]
    return web.post(
        location.split("?")[0],
        data={"csrf": csrf_of(page.text), "username": upn, "password": PASSWORD, "next": next_path},
    )


# --- consent ------------------------------------------------------------------------------------------------------


def test_a_member_consents_once_for_themselves(tenant: TenantHandle, web: TestClient) -> None:
    rp = register_rp(tenant)
    user = _member(tenant, web)
    asked = follow(web, web.get(_authorize(rp)))
    assert asked.status_code == 200 and "/authorize/consent" in str(asked.url)
    assert {"openid", "profile", "email", "offline_access"} <= set(re.findall(r'data-scope="([^"]+)"', asked.text))
    back = follow(web, consent(web, asked))
    assert isinstance(back, str) and answer_of(back)["code"]
    grants = tenant.get(f"/oauth2PermissionGrants?$filter=clientId eq '{rp.sp_id}'").json()["value"]
    assert [(g["consentType"], g["principalId"]) for g in grants] == [("Principal", user["id"])]
    again = follow(web, web.get(_authorize(rp)))
    assert isinstance(again, str) and answer_of(again)["code"]  # no second question
    forced = follow(web, web.get(_authorize(rp, prompt="consent")))
    assert forced.status_code == 200 and 'id="permissions"' in forced.text


def test_declining_consent_answers_access_denied(tenant: TenantHandle, web: TestClient) -> None:
    rp = register_rp(tenant)
    _member(tenant, web)
    asked = follow(web, web.get(_authorize(rp)))
    back = follow(web, consent(web, asked, accept=False))
    answer = answer_of(back)
    assert answer["error"] == "access_denied" and answer["state"] == "st"
    assert answer["error_description"].startswith("AADSTS65004")


def test_prompt_none_without_consent_is_consent_required(tenant: TenantHandle, web: TestClient) -> None:
    rp = register_rp(tenant)
    _member(tenant, web)
    response = web.get(_authorize(rp, prompt="none"))
    assert answer_of(response.headers["location"])["error"] == "consent_required"


def test_graph_grants_are_managed_by_admins(tenant: TenantHandle) -> None:
    rp = register_rp(tenant)
    grant = admin_consent(rp, scope="openid profile")
    assert grant["consentType"] == "AllPrincipals" and grant["principalId"] is None
    assert tenant.patch(f"/oauth2PermissionGrants/{grant['id']}", json={"scope": "openid User.Read"}).status_code == 204
    assert tenant.get(f"/oauth2PermissionGrants/{grant['id']}").json()["scope"] == "openid User.Read"
    bad = tenant.patch(f"/oauth2PermissionGrants/{grant['id']}", json={"scope": "Mail.Send.Everything"})
    assert bad.status_code == 400
    duplicate = tenant.post(
        "/oauth2PermissionGrants",
        json={"clientId": rp.sp_id, "consentType": "AllPrincipals", "resourceId": grant["resourceId"], "scope": ""},
    )
    assert duplicate.status_code == 409, duplicate.text
    assert tenant.get("/oauth2PermissionGrants?$filter=displayName eq 'x'").status_code == 400
    assert tenant.delete(f"/oauth2PermissionGrants/{grant['id']}").status_code == 204
    assert tenant.get(f"/oauth2PermissionGrants/{grant['id']}").status_code == 404


def test_grants_of_another_tenant_are_invisible(tenant: TenantHandle, other_tenant: TenantHandle) -> None:
    rp = register_rp(tenant)
    grant = admin_consent(rp)
    assert other_tenant.get(f"/oauth2PermissionGrants/{grant['id']}").status_code == 404
    assert other_tenant.get("/oauth2PermissionGrants").json()["value"] == []
    assert other_tenant.delete(f"/oauth2PermissionGrants/{grant['id']}").status_code == 404


# --- assignment ---------------------------------------------------------------------------------------------------


def test_assignment_required_refuses_unassigned_users_50105(
    tenant: TenantHandle, web: TestClient, sessions: sessionmaker[Session]
) -> None:
    rp = register_rp(tenant, assignment_required=True)
    admin_consent(rp)
    user = _member(tenant, web)
    refused = web.get(_authorize(rp))
    answer = answer_of(refused.headers["location"])
    assert answer["error"] == "access_denied" and answer["error_description"].startswith("AADSTS50105")
    # Assigned through a group nested in the assigned group: allowed.
    outer, inner = tenant.new_group("Outer"), tenant.new_group("Inner")
    for group, member in ((outer, inner["id"]), (inner, user["id"])):
        ref = {"@odata.id": f"http://testserver/v1.0/directoryObjects/{member}"}
        assert tenant.post(f"/groups/{group['id']}/members/$ref", json=ref).status_code == 204
    assigned = tenant.post(
        f"/servicePrincipals/{rp.sp_id}/appRoleAssignedTo",
        json={"principalId": outer["id"], "resourceId": rp.sp_id, "appRoleId": "00000000-0000-0000-0000-000000000000"},
    )
    assert assigned.status_code == 201, assigned.text
    allowed = web.get(_authorize(rp))
    assert "code" in answer_of(allowed.headers["location"])
    codes = [row.error_code for row in _log(sessions, tenant.id) if row.app_id == rp.client_id]
    assert codes == [50105, 0]


# --- prompt, max_age, hints -----------------------------------------------------------------------------------------


def test_oidcc_prompt_none_not_logged_in(tenant: TenantHandle, web: TestClient) -> None:
    rp = register_rp(tenant)
    response = web.get(_authorize(rp, prompt="none"))
    answer = answer_of(response.headers["location"])
    assert answer["error"] == "login_required" and answer["state"] == "st"
    assert answer["error_description"].startswith("AADSTS50058")


def test_oidcc_prompt_none_logged_in(tenant: TenantHandle, web: TestClient) -> None:
    rp = register_rp(tenant)
    admin_consent(rp)
    _member(tenant, web)
    response = web.get(_authorize(rp, prompt="none"))
    assert response.status_code == 302 and answer_of(response.headers["location"])["code"]
    assert response.headers["cache-control"] == "no-store"


def test_oidcc_prompt_login(tenant: TenantHandle, web: TestClient) -> None:
    rp = register_rp(tenant)
    admin_consent(rp)
    user = _member(tenant, web)
    first = answer_of(web.get(_authorize(rp)).headers["location"])
    time.sleep(1.1)
    forced = _identifier(web, web.get(_authorize(rp, prompt="login")), user["userPrincipalName"])
    back = follow(web, _password(web, forced, user["userPrincipalName"]))
    assert isinstance(back, str)
    before = id_token_claims(rp, _redeem(rp, first["code"]).json()["id_token"], "n-0")
    after = id_token_claims(rp, _redeem(rp, answer_of(back)["code"]).json()["id_token"], "n-0")
    assert after["auth_time"] > before["auth_time"]


def test_oidcc_max_age_1(tenant: TenantHandle, web: TestClient) -> None:
    rp = register_rp(tenant)
    admin_consent(rp)
    user = _member(tenant, web)
    time.sleep(2)
    asked = web.get(_authorize(rp, max_age="1", login_hint=user["userPrincipalName"]))
    assert "/authorize/signin?" in asked.headers["location"]
    to_login = web.get(asked.headers["location"])  # the hint names a member: straight to the password page
    back = follow(web, _password(web, to_login, user["userPrincipalName"]))
    assert isinstance(back, str) and answer_of(back)["code"]


def test_oidcc_max_age_10000(tenant: TenantHandle, web: TestClient) -> None:
    rp = register_rp(tenant)
    admin_consent(rp)
    _member(tenant, web)
    response = web.get(_authorize(rp, max_age="10000"))
    assert response.status_code == 302 and answer_of(response.headers["location"])["code"]


def test_oidcc_login_hint(tenant: TenantHandle, web: TestClient) -> None:
    rp = register_rp(tenant)
    admin_consent(rp)
    user = tenant.new_user()
    asked = web.get(_authorize(rp, login_hint=user["userPrincipalName"]))
    to_login = web.get(asked.headers["location"])
    assert to_login.status_code == 303
    assert parse_qs(urlsplit(to_login.headers["location"]).query)["login_hint"] == [user["userPrincipalName"]]
    back = follow(web, _password(web, to_login, user["userPrincipalName"]))
    assert isinstance(back, str) and answer_of(back)["code"]


def test_oidcc_id_token_hint(tenant: TenantHandle, web: TestClient) -> None:
    rp = register_rp(tenant)
    admin_consent(rp)
    _member(tenant, web)
    first = answer_of(web.get(_authorize(rp)).headers["location"])
    id_token = _redeem(rp, first["code"]).json()["id_token"]
    same = web.get(_authorize(rp, prompt="none", id_token_hint=id_token))
    assert answer_of(same.headers["location"])["code"]
    other = TestClient(tenant.client.app, follow_redirects=False, client=("10.9.9.9", 1))
    _member(tenant, other)  # someone else's browser, with the first user's hint
    refused = other.get(_authorize(rp, prompt="none", id_token_hint=id_token))
    assert answer_of(refused.headers["location"])["error"] == "login_required"
    forged = web.get(_authorize(rp, id_token_hint=id_token[:-4] + "AAAA"))
    assert answer_of(forged.headers["location"])["error"] == "invalid_request"


def test_oidcc_ensure_request_with_unknown_parameter_succeeds(tenant: TenantHandle, web: TestClient) -> None:
    rp = register_rp(tenant)
    admin_consent(rp)
    _member(tenant, web)
    response = web.get(_authorize(rp, frobnicate="yes", claims_locales="x"))
    assert answer_of(response.headers["location"])["code"]


def test_response_modes(tenant: TenantHandle, web: TestClient) -> None:
    rp = register_rp(tenant)
    admin_consent(rp)
    _member(tenant, web)
    fragment = web.get(_authorize(rp, response_mode="fragment"))
    assert urlsplit(fragment.headers["location"]).fragment.startswith("code=")
    posted = web.get(_authorize(rp, response_mode="form_post"))
    assert posted.status_code == 200
    assert f'action="{rp.redirect_uri}"' in posted.text
    assert form_post_fields(posted.text)["state"] == "st"
    assert "form-action https://rp.example" in posted.headers["content-security-policy"]
    assert _redeem(rp, form_post_fields(posted.text)["code"]).status_code == 200
    unknown = web.get(_authorize(rp, response_mode="telepathy"))
    assert answer_of(unknown.headers["location"])["error"] == "invalid_request"


# --- users of another tenant, cross-tenant reuse -------------------------------------------------------------------


def test_a_user_of_another_tenant_is_told_50020(
    tenant: TenantHandle, other_tenant: TenantHandle, web: TestClient, sessions: sessionmaker[Session]
) -> None:
    rp = register_rp(tenant)
    stranger = other_tenant.new_user()
    page = _identifier(web, web.get(_authorize(rp)), stranger["userPrincipalName"])
    assert page.status_code == 400 and "AADSTS50020" in page.text
    assert html.escape(stranger["userPrincipalName"]) in page.text
    assert f"http://testserver/{other_tenant.id}/v2.0" in page.text
    assert [r.error_code for r in _log(sessions, tenant.id)] == [50020]


def test_nothing_crosses_tenants(tenant: TenantHandle, other_tenant: TenantHandle, web: TestClient) -> None:
    rp = register_rp(tenant)
    admin_consent(rp)
    _member(tenant, web)
    code = answer_of(web.get(_authorize(rp)).headers["location"])["code"]
    elsewhere = tenant.client.post(
        f"/{other_tenant.id}/oauth2/v2.0/token",
        data={
            "grant_type": "authorization_code",
            "client_id": rp.client_id,
            "client_secret": rp.secret,
            "code": code,
            "redirect_uri": rp.redirect_uri,
        },
    )
    assert elsewhere.status_code == 400 and elsewhere.json()["error"] in ("unauthorized_client", "invalid_grant")
    tokens = _redeem(rp, code).json()
    refresh_elsewhere = tenant.client.post(
        f"/{other_tenant.id}/oauth2/v2.0/token",
        data={
            "grant_type": "refresh_token",
            "client_id": rp.client_id,
            "client_secret": rp.secret,
            "refresh_token": tokens["refresh_token"],
        },
    )
    assert refresh_elsewhere.status_code == 400
    # The browser's session at this tenant is no session at the other one.
    other_rp = register_rp(other_tenant)
    admin_consent(other_rp)
    silent = web.get(_authorize(other_rp, prompt="none"))
    assert answer_of(silent.headers["location"])["error"] == "login_required"


def test_disabling_the_user_revokes_refresh_tokens(tenant: TenantHandle, web: TestClient) -> None:
    rp = register_rp(tenant)
    admin_consent(rp)
    user = _member(tenant, web)
    tokens = _redeem(rp, answer_of(web.get(_authorize(rp)).headers["location"])["code"]).json()
    assert tenant.patch(f"/users/{user['id']}", json={"accountEnabled": False}).status_code == 204
    refused = tenant.client.post(
        f"/{tenant.id}/oauth2/v2.0/token",
        data={
            "grant_type": "refresh_token",
            "client_id": rp.client_id,
            "client_secret": rp.secret,
            "refresh_token": tokens["refresh_token"],
        },
    )
    assert refused.status_code == 400 and refused.json()["error_codes"] == [50173]


def test_revoke_sign_in_sessions_ends_sessions_and_refresh_tokens(tenant: TenantHandle, web: TestClient) -> None:
    rp = register_rp(tenant)
    admin_consent(rp)
    user = _member(tenant, web)
    tokens = _redeem(rp, answer_of(web.get(_authorize(rp)).headers["location"])["code"]).json()
    revoked = tenant.post(f"/users/{user['id']}/revokeSignInSessions")
    assert revoked.status_code == 200 and revoked.json()["value"] is True
    silent = web.get(_authorize(rp, prompt="none"))
    assert answer_of(silent.headers["location"])["error"] == "login_required"
    refused = tenant.client.post(
        f"/{tenant.id}/oauth2/v2.0/token",
        data={
            "grant_type": "refresh_token",
            "client_id": rp.client_id,
            "client_secret": rp.secret,
            "refresh_token": tokens["refresh_token"],
        },
    )
    assert refused.json()["error_codes"] == [50173]


# --- guests ---------------------------------------------------------------------------------------------------------


def test_a_pending_guest_redeems_with_a_passcode_on_the_way_to_the_app(
    tenant: TenantHandle, web: TestClient, sessions: sessionmaker[Session]
) -> None:
    rp = register_rp(tenant)
    admin_consent(rp)
    address = "ada@partner-otp.example"
    invitation = invite(tenant, address)
    went = _identifier(web, web.get(_authorize(rp)), address)
    assert went.headers["location"].endswith("/redeem/continue")
    signin = web.get(web.get(went.headers["location"]).headers["location"])
    assert signin.status_code == 200
    sent = web.post(f"/{tenant.id}/redeem/code/send", data={"csrf": csrf_of(signin.text)})
    assert sent.status_code == 303
    code_page = web.get(f"/{tenant.id}/redeem/code")
    verified = web.post(
        f"/{tenant.id}/redeem/code", data={"csrf": csrf_of(code_page.text), "code": latest_code(sessions, address)}
    )
    step = web.get(verified.headers["location"])
    assert step.headers["location"].endswith("/redeem/consent")  # Review permissions: redeemed just in time
    review = web.get(step.headers["location"])
    accepted = web.post(f"/{tenant.id}/redeem/consent", data={"csrf": csrf_of(review.text), "decision": "accept"})
    back = follow(web, accepted)
    assert isinstance(back, str), getattr(back, "text", "")[:500]
    claims = id_token_claims(rp, _redeem(rp, answer_of(back)["code"]).json()["id_token"], "n-0")
    assert claims["acct"] == 1 and claims["idp"] == "mail" and claims["tid"] == tenant.id
    assert claims["preferred_username"] == address and claims["email"] == address
    assert claims["oid"] == invitation["invitedUser"]["id"] and claims["amr"] == ["otp"]
    with sessions() as session:
        participants = list(session.scalars(select(SsoParticipant).where(SsoParticipant.app_id == rp.client_id)))
    assert [(p.protocol, p.user_id) for p in participants] == [("oidc", invitation["invitedUser"]["id"])]


def test_a_home_tenant_guest_signs_in_at_home(
    tenant: TenantHandle, other_tenant: TenantHandle, web: TestClient
) -> None:
    rp = register_rp(tenant)
    admin_consent(rp)
    bob = other_tenant.new_user("bob")
    invite(tenant, bob["userPrincipalName"])
    went = _identifier(web, web.get(_authorize(rp)), bob["userPrincipalName"])
    signin = web.get(web.get(went.headers["location"]).headers["location"])
    home_url = html.unescape(re.search(r'id="home-signin" href="([^"]+)"', signin.text).group(1))  # type: ignore[union-attr]
    login = web.get(home_url)
    next_path = parse_qs(urlsplit(home_url).query)["next"][0]
    signed = web.post(
        home_url.split("?")[0],
        data={
            "csrf": csrf_of(login.text),
            "username": bob["userPrincipalName"],
            "password": PASSWORD,
            "next": next_path,
        },
    )
    assertion = web.get(signed.headers["location"])
    returned = web.get(path_of(assertion.headers["location"]))
    step = web.get(returned.headers["location"])
    review = web.get(step.headers["location"])
    accepted = web.post(f"/{tenant.id}/redeem/consent", data={"csrf": csrf_of(review.text), "decision": "accept"})
    back = follow(web, accepted)
    assert isinstance(back, str)
    claims = id_token_claims(rp, _redeem(rp, answer_of(back)["code"]).json()["id_token"], "n-0")
    assert claims["iss"] == f"http://testserver/{tenant.id}/v2.0" and claims["tid"] == tenant.id
    assert claims["idp"] == f"http://testserver/{other_tenant.id}/v2.0" and claims["acct"] == 1
    assert claims["oid"] != bob["id"] and claims["preferred_username"] == bob["userPrincipalName"]


def test_a_guest_cannot_consent_for_an_app_no_admin_consented(
    tenant: TenantHandle, web: TestClient, sessions: sessionmaker[Session]
) -> None:
    rp = register_rp(tenant)
    address = "grace@partner-noconsent.example"
    invitation = invite(tenant, address)
    # An accepted guest with a session here (redeemed with the emailed link earlier).
    done = redeem_with_otp(web, sessions, invitation["inviteRedeemUrl"], tenant.id, address)
    assert done.status_code == 303
    asked = follow(web, web.get(_authorize(rp)))
    assert asked.status_code == 403 and "AADSTS90094" in asked.text
    # Once an administrator consented for everyone, the guest signs in.
    admin_consent(rp)
    assert answer_of(follow(web, web.get(_authorize(rp))))["code"]


@pytest.mark.parametrize("platform", ["spa", "publicClient"])
def test_public_clients_need_pkce_and_send_no_secret(tenant: TenantHandle, web: TestClient, platform: str) -> None:
    uri = "https://spa.example/cb" if platform == "spa" else "http://localhost:8400"
    rp = register_rp(tenant, web=(), **({"spa": (uri,)} if platform == "spa" else {"public": (uri,)}))
    admin_consent(rp)
    _member(tenant, web)
    without = web.get(_authorize(rp))
    assert answer_of(without.headers["location"])["error"] == "invalid_request"
    verifier = "v" * 50
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    response = web.get(_authorize(rp, code_challenge=challenge, code_challenge_method="S256"))
    code = answer_of(response.headers["location"])["code"]
    with_secret = _redeem(rp, code, code_verifier=verifier)
    assert with_secret.status_code == 401 and with_secret.json()["error_codes"] == [700025]
    public = rp.tenant.client.post(
        f"/{tenant.id}/oauth2/v2.0/token",
        data={
            "grant_type": "authorization_code",
            "client_id": rp.client_id,
            "code": code,
            "redirect_uri": rp.redirect_uri,
            "code_verifier": verifier,
        },
    )
    assert public.status_code == 200, public.text
    access = public.json()["access_token"]
    payload = access.split(".")[1]
    assert json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["azpacr"] == "0"


# --- sign-out -----------------------------------------------------------------------------------------------------


def test_end_session_with_front_channel_logout(
    tenant: TenantHandle, web: TestClient, sessions: sessionmaker[Session]
) -> None:
    first = register_rp(tenant, name="Payroll", logout_url="https://rp.example/logout")
    second = register_rp(tenant, name="Wiki", web=("https://wiki.example/cb",))
    for rp in (first, second):
        admin_consent(rp)
    _member(tenant, web)
    tokens = _redeem(first, answer_of(web.get(_authorize(first)).headers["location"])["code"]).json()
    assert answer_of(web.get(_authorize(second)).headers["location"])["code"]
    sid = id_token_claims(first, tokens["id_token"], "n-0")["sid"]
    query = urlencode(
        {"id_token_hint": tokens["id_token"], "post_logout_redirect_uri": first.redirect_uri, "state": "bye"}
    )
    page = web.get(f"/{tenant.id}/oauth2/v2.0/logout?{query}")
    assert page.status_code == 200
    assert 'data-count="2"' in page.text
    frames = [html.unescape(u) for u in re.findall(r'<iframe class="logout-frame" src="([^"]+)"', page.text)]
    assert len(frames) == 1
    frame = urlsplit(frames[0])
    assert frame.netloc == "rp.example" and frame.path == "/logout"
    assert parse_qs(frame.query) == {"iss": [f"http://testserver/{tenant.id}/v2.0"], "sid": [sid]}
    assert "frame-src https://rp.example" in page.headers["content-security-policy"]
    assert f'url={html.escape(first.redirect_uri)}?state=bye"' in page.text
    silent = web.get(_authorize(first, prompt="none"))
    assert answer_of(silent.headers["location"])["error"] == "login_required"
    with sessions() as session:
        assert list(session.scalars(select(SsoParticipant).where(SsoParticipant.sid == sid))) == []


def test_end_session_without_a_hint_asks_first(tenant: TenantHandle, web: TestClient) -> None:
    rp = register_rp(tenant)
    admin_consent(rp)
    _member(tenant, web)
    assert answer_of(web.get(_authorize(rp)).headers["location"])["code"]
    unregistered = urlencode({"client_id": rp.client_id, "post_logout_redirect_uri": "https://evil.example/"})
    asked = web.get(f"/{tenant.id}/oauth2/v2.0/logout?{unregistered}")
    assert asked.status_code == 200 and 'id="confirm-logout"' in asked.text
    still = web.get(_authorize(rp, prompt="none"))  # nothing ended by the GET alone
    assert answer_of(still.headers["location"])["code"]
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', asked.text))
    done = web.post(f"/{tenant.id}/oauth2/v2.0/logout/confirm", data={k: html.unescape(v) for k, v in fields.items()})
    assert done.status_code == 200 and 'data-count="1"' in done.text
    assert "evil.example" not in done.text and 'http-equiv="refresh"' not in done.text
    gone = web.get(_authorize(rp, prompt="none"))
    assert answer_of(gone.headers["location"])["error"] == "login_required"


def test_signing_out_of_hospes_signs_out_of_the_apps(tenant: TenantHandle, web: TestClient) -> None:
    rp = register_rp(tenant, name="Payroll", logout_url="https://rp.example/logout")
    admin_consent(rp)
    _member(tenant, web)
    assert answer_of(web.get(_authorize(rp)).headers["location"])["code"]
    confirm = web.get(f"/{tenant.domain}/logout")
    done = web.post(f"/{tenant.domain}/logout", data={"csrf": csrf_of(confirm.text)})
    assert done.status_code == 200 and 'data-count="1"' in done.text
    assert re.search(r'<iframe class="logout-frame" src="https://rp\.example/logout\?iss=', done.text)
    assert f'url=/{tenant.domain}/login?signed_out=1"' in done.text
    again = web.get(_authorize(rp, prompt="none"))
    assert answer_of(again.headers["location"])["error"] == "login_required"


def test_prompt_select_account_and_domain_hint(tenant: TenantHandle, web: TestClient) -> None:
    rp = register_rp(tenant)
    admin_consent(rp)
    _member(tenant, web)
    chooser = web.get(_authorize(rp, prompt="select_account"))
    assert "/oauth2/v2.0/authorize/signin?" in chooser.headers["location"]  # asks who, even when signed in
    for hint in (tenant.domain, tenant.id):
        fresh = TestClient(tenant.client.app, follow_redirects=False, client=("10.9.9.8", 1))
        asked = fresh.get(_authorize(rp, domain_hint=hint))
        to_login = fresh.get(asked.headers["location"])
        assert to_login.status_code == 303 and f"/{tenant.id}/login?" in to_login.headers["location"]


def test_a_disabled_account_is_told_50057(tenant: TenantHandle, web: TestClient) -> None:
    rp = register_rp(tenant)
    user = tenant.new_user()
    assert tenant.patch(f"/users/{user['id']}", json={"accountEnabled": False}).status_code == 204
    page = _identifier(web, web.get(_authorize(rp)), user["userPrincipalName"])
    assert page.status_code == 400 and "AADSTS50057" in page.text


def _accepted_home_guest(tenant: TenantHandle, other_tenant: TenantHandle, web: TestClient) -> dict[str, Any]:
    """A member of ``other_tenant`` who redeemed an invitation of ``tenant`` with that account; the browser is left
    signed in at home."""
    bob = other_tenant.new_user()
    invite(tenant, bob["userPrincipalName"])
    rp = register_rp(tenant, name="Redeem helper")
    admin_consent(rp)
    went = _identifier(web, web.get(_authorize(rp)), bob["userPrincipalName"])
    signin = web.get(web.get(went.headers["location"]).headers["location"])
    home_url = html.unescape(re.search(r'id="home-signin" href="([^"]+)"', signin.text).group(1))  # type: ignore[union-attr]
    login = web.get(home_url)
    next_path = parse_qs(urlsplit(home_url).query)["next"][0]
    data = {"csrf": csrf_of(login.text), "username": bob["userPrincipalName"], "password": PASSWORD, "next": next_path}
    assertion = web.get(web.post(home_url.split("?")[0], data=data).headers["location"])
    step = web.get(web.get(path_of(assertion.headers["location"])).headers["location"])
    review = web.get(step.headers["location"])
    web.post(f"/{tenant.id}/redeem/consent", data={"csrf": csrf_of(review.text), "decision": "accept"})
    assert sign_in(web, other_tenant.domain, bob["userPrincipalName"]).status_code == 303  # back home
    return bob


def test_a_guest_signed_in_at_home_needs_no_page(
    tenant: TenantHandle, other_tenant: TenantHandle, web: TestClient
) -> None:
    bob = _accepted_home_guest(tenant, other_tenant, web)
    rp = register_rp(tenant, logout_url="https://rp.example/logout")
    admin_consent(rp)
    silent = web.get(_authorize(rp, prompt="none"))
    code = answer_of(silent.headers["location"])["code"]
    claims = id_token_claims(rp, _redeem(rp, code).json()["id_token"], "n-0")
    assert claims["tid"] == tenant.id and claims["idp"] == f"http://testserver/{other_tenant.id}/v2.0"
    assert claims["preferred_username"] == bob["userPrincipalName"] and claims["acct"] == 1
    # Signing out at home signs out of the host's app too.
    confirm = web.get(f"/{other_tenant.domain}/logout")
    done = web.post(f"/{other_tenant.domain}/logout", data={"csrf": csrf_of(confirm.text)})
    frames = re.findall(r'<iframe class="logout-frame" src="([^"]+)"', done.text)
    assert len(frames) == 1 and f"iss=http%3A%2F%2Ftestserver%2F{tenant.id}%2Fv2.0" in html.unescape(frames[0])
    assert answer_of(web.get(_authorize(rp, prompt="none")).headers["location"])["error"] == "login_required"


def test_a_home_session_is_no_session_for_non_guests_or_untrusted_mfa(
    tenant: TenantHandle, other_tenant: TenantHandle, web: TestClient, sessions: sessionmaker[Session]
) -> None:
    rp = register_rp(tenant)
    admin_consent(rp)
    stranger = other_tenant.new_user()
    assert sign_in(web, other_tenant.domain, stranger["userPrincipalName"]).status_code == 303
    assert answer_of(web.get(_authorize(rp, prompt="none")).headers["location"])["error"] == "login_required"
    _accepted_home_guest(tenant, other_tenant, web)
    GuestPolicyService(sessions, Principal(tenant.id, "system", "", "test")).update(
        require_guest_mfa=True, trust_home_mfa=True
    )
    # The home session was a password only: this tenant's MFA rule needs the guest sign-in.
    assert answer_of(web.get(_authorize(rp, prompt="none")).headers["location"])["error"] == "login_required"
