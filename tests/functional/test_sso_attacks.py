"""Attacks on the OpenID Connect provider and the SAML identity provider, each named for what it tries."""

from __future__ import annotations

import base64
import hashlib
import zlib
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus, urlencode

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from hospes.saml.nameid import EMAIL
from hospes.storage.tables_signin import WebSession
from hospes.storage.tables_sso import SsoParticipant
from tests.helpers.oidc import RelyingParty, admin_consent, answer_of, register_rp
from tests.helpers.portal import sign_in
from tests.helpers.redemption import follow, path_of
from tests.helpers.saml import Sp, form_fields, new_party, pysaml2_client, register_saml_app
from tests.helpers.tenants import TenantHandle

WEB = "https://rp.example/callback"
SPA = "https://rp.example/spa"


def _code(web: TestClient, rp: RelyingParty, redirect_uri: str, **extra: str) -> str:
    query = {
        "client_id": rp.client_id,
        "redirect_uri": redirect_uri,
        "response_type": "code",
        "scope": "openid profile offline_access",
        **extra,
    }
    response = web.get(f"/{rp.tenant.id}/oauth2/v2.0/authorize?{urlencode(query)}")
    assert response.status_code == 302, response.text[:500]
    return answer_of(response.headers["location"])["code"]


def _token(client: TestClient, rp: RelyingParty, **fields: str) -> Any:
    return client.post(f"/{rp.tenant.id}/oauth2/v2.0/token", data={"client_id": rp.client_id, **fields})


def test_stolen_confidential_refresh_token_needs_the_client_secret(tenant: TenantHandle, web: TestClient) -> None:
    """An app with a web (confidential) and a single-page (public) redirect URI: a refresh token its server got
    with the client secret must not be redeemable without that secret, as if it came from the SPA."""
    rp = register_rp(tenant, web=(WEB,), spa=(SPA,))
    admin_consent(rp)
    user = tenant.new_user()
    assert sign_in(web, tenant.domain, user["userPrincipalName"]).status_code == 303
    code = _code(web, rp, WEB)
    issued = _token(
        tenant.client, rp, grant_type="authorization_code", code=code, redirect_uri=WEB, client_secret=rp.secret
    )
    assert issued.status_code == 200, issued.text
    stolen = issued.json()["refresh_token"]
    refused = _token(tenant.client, rp, grant_type="refresh_token", refresh_token=stolen)
    assert refused.status_code == 401, refused.text
    assert refused.json()["error"] == "invalid_client"
    # the rightful server still refreshes with its secret
    good = _token(tenant.client, rp, grant_type="refresh_token", refresh_token=stolen, client_secret=rp.secret)
    assert good.status_code == 200, good.text


def test_spa_refresh_token_still_refreshes_without_a_secret(tenant: TenantHandle, web: TestClient) -> None:
    rp = register_rp(tenant, web=(WEB,), spa=(SPA,))
    admin_consent(rp)
    user = tenant.new_user()
    assert sign_in(web, tenant.domain, user["userPrincipalName"]).status_code == 303
    verifier = "v" * 64
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    code = _code(web, rp, SPA, code_challenge=challenge, code_challenge_method="S256")
    issued = _token(
        tenant.client, rp, grant_type="authorization_code", code=code, redirect_uri=SPA, code_verifier=verifier
    )
    assert issued.status_code == 200, issued.text
    renewed = _token(tenant.client, rp, grant_type="refresh_token", refresh_token=issued.json()["refresh_token"])
    assert renewed.status_code == 200, renewed.text


# --- SAML ---------------------------------------------------------------------------------------------------------

SAML_PARTY = new_party("attacks.example")
SAML_NS = 'xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion"'


def _deflated(xml: bytes) -> str:
    compressor = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    return quote_plus(base64.b64encode(compressor.compress(xml) + compressor.flush()).decode())


def test_forged_unsigned_logout_request_cannot_end_someone_elses_session(
    tmp_path: Path, app: FastAPI, web: TestClient, tenant: TenantHandle, sessions: sessionmaker[Session]
) -> None:
    """An app that does not require signed requests: anyone can write it an unsigned LogoutRequest naming a
    user's (guessable, email-format) NameID. Without the app's signature that names nothing but the sender's own
    browser session; the victim's session and single sign-on to other apps survive."""
    sp = Sp(
        "https://victim-app.example/md", "https://victim-app.example/acs", "https://victim-app.example/sls", SAML_PARTY
    )
    handle = register_saml_app(tenant, sessions, app.state.runtime.box, sp, name_id_format=EMAIL)
    user = tenant.new_user()
    assert sign_in(web, tenant.domain, user["userPrincipalName"]).status_code == 303
    client = pysaml2_client(
        tmp_path,
        handle.idp,
        sp,
        metadata=web.get(f"/{tenant.id}/federationmetadata/2007-06/federationmetadata.xml?appid={handle.app_id}").text,
    )
    _, info = client.prepare_for_authenticate(entityid=handle.idp.entity_id)
    page = follow(web, web.get(path_of(dict(info["headers"])["Location"])))
    assert page.status_code == 200 and "SAMLResponse" in form_fields(page.text)[1]
    with sessions() as session:
        participant = session.scalars(select(SsoParticipant).where(SsoParticipant.tenant_id == tenant.id)).one()
    name_id = participant.name_id
    assert name_id and "@" in name_id
    forged = (
        f'<samlp:LogoutRequest {SAML_NS} ID="_forged" Version="2.0" IssueInstant="2026-12-03T10:00:00Z">'
        f"<saml:Issuer>{sp.entity_id}</saml:Issuer>"
        f'<saml:NameID Format="{EMAIL}">{name_id}</saml:NameID></samlp:LogoutRequest>'
    ).encode()
    with TestClient(app, follow_redirects=False) as attacker:
        attacker.get(f"/{tenant.id}/saml2?SAMLRequest={_deflated(forged)}")
    with sessions() as session:
        alive = session.scalars(select(WebSession).where(WebSession.sid == participant.sid)).all()
    assert alive, "the victim's session was ended by an unsigned LogoutRequest from another browser"
    # The victim's own browser may still end its own session unsigned (the app's sign-out button).
    own = web.get(f"/{tenant.id}/saml2?SAMLRequest={_deflated(forged.replace(b'_forged', b'_own'))}")
    assert own.status_code == 303 and own.headers["location"].startswith(sp.slo + "?")
    with sessions() as session:
        assert not session.scalars(select(WebSession).where(WebSession.sid == participant.sid)).all()


def test_refresh_after_the_users_assignment_is_removed_is_refused(tenant: TenantHandle, web: TestClient) -> None:
    """An app that requires assignment: taking a user's assignment away must stop their tokens, not only their
    next sign-in (a refresh token would otherwise renew itself for ever)."""
    rp = register_rp(tenant, web=(WEB,), assignment_required=True)
    admin_consent(rp)
    user = tenant.new_user()
    assigned = tenant.post(
        f"/servicePrincipals/{rp.sp_id}/appRoleAssignedTo",
        json={"principalId": user["id"], "resourceId": rp.sp_id, "appRoleId": "00000000-0000-0000-0000-000000000000"},
    )
    assert assigned.status_code == 201, assigned.text
    assert sign_in(web, tenant.domain, user["userPrincipalName"]).status_code == 303
    code = _code(web, rp, WEB)
    issued = _token(
        tenant.client, rp, grant_type="authorization_code", code=code, redirect_uri=WEB, client_secret=rp.secret
    )
    assert issued.status_code == 200, issued.text
    renewed = _token(
        tenant.client,
        rp,
        grant_type="refresh_token",
        refresh_token=issued.json()["refresh_token"],
        client_secret=rp.secret,
    )
    assert renewed.status_code == 200, renewed.text
    removed = tenant.delete(f"/servicePrincipals/{rp.sp_id}/appRoleAssignedTo/{assigned.json()['id']}")
    assert removed.status_code == 204, removed.text
    refused = _token(
        tenant.client,
        rp,
        grant_type="refresh_token",
        refresh_token=renewed.json()["refresh_token"],
        client_secret=rp.secret,
    )
    assert refused.status_code == 400, refused.text
    assert refused.json()["error"] == "invalid_grant" and refused.json()["error_codes"] == [50105]


def test_oversized_state_is_refused_not_echoed(tenant: TenantHandle, web: TestClient) -> None:
    """``state`` is echoed to the client: an unbounded one makes Hospes emit arbitrarily large redirects."""
    rp = register_rp(tenant, web=(WEB,))
    admin_consent(rp)
    user = tenant.new_user()
    assert sign_in(web, tenant.domain, user["userPrincipalName"]).status_code == 303
    query = {"client_id": rp.client_id, "redirect_uri": WEB, "response_type": "code", "scope": "openid"}
    response = web.get(f"/{tenant.id}/oauth2/v2.0/authorize?{urlencode(query | {'state': 's' * 9000})}")
    assert response.status_code == 302
    location = response.headers["location"]
    answer = answer_of(location)
    assert answer["error"] == "invalid_request" and "code" not in answer and "state" not in answer
    assert len(location) < 1000
    fine = web.get(f"/{tenant.id}/oauth2/v2.0/authorize?{urlencode(query | {'state': 's' * 1000})}")
    assert answer_of(fine.headers["location"])["state"] == "s" * 1000


def test_replaying_a_spent_code_without_the_client_secret_revokes_nothing(
    tenant: TenantHandle, web: TestClient
) -> None:
    """Reuse of a code revokes what it bought, but only once the caller proved to be the client: a code leaked
    from a log or a Referer must not let a stranger end the user's refresh tokens."""
    rp = register_rp(tenant, web=(WEB,))
    admin_consent(rp)
    user = tenant.new_user()
    assert sign_in(web, tenant.domain, user["userPrincipalName"]).status_code == 303
    code = _code(web, rp, WEB)
    fields = {"grant_type": "authorization_code", "code": code, "redirect_uri": WEB}
    issued = _token(tenant.client, rp, **fields, client_secret=rp.secret)
    assert issued.status_code == 200, issued.text
    stranger = _token(tenant.client, rp, **fields, client_secret="not-the-secret")
    assert stranger.status_code == 401 and stranger.json()["error"] == "invalid_client", stranger.text
    anonymous = _token(tenant.client, rp, **fields)
    assert anonymous.status_code == 401 and anonymous.json()["error"] == "invalid_client", anonymous.text
    renewed = _token(
        tenant.client,
        rp,
        grant_type="refresh_token",
        refresh_token=issued.json()["refresh_token"],
        client_secret=rp.secret,
    )
    assert renewed.status_code == 200, renewed.text
    reused = _token(tenant.client, rp, **fields, client_secret=rp.secret)
    assert reused.json()["error_codes"] == [54005]


def test_refresh_after_consent_is_revoked_is_refused(tenant: TenantHandle, web: TestClient) -> None:
    """An administrator removing the app's permission grant must stop its refresh tokens from minting access
    tokens with the revoked permissions (AADSTS65001), not only the next sign-in."""
    rp = register_rp(tenant, web=(WEB,))
    grant = admin_consent(rp)
    user = tenant.new_user()
    assert sign_in(web, tenant.domain, user["userPrincipalName"]).status_code == 303
    code = _code(web, rp, WEB, scope="openid profile offline_access User.Read")
    issued = _token(
        tenant.client, rp, grant_type="authorization_code", code=code, redirect_uri=WEB, client_secret=rp.secret
    )
    assert issued.status_code == 200, issued.text
    assert tenant.delete(f"/oauth2PermissionGrants/{grant['id']}").status_code == 204
    refused = _token(
        tenant.client,
        rp,
        grant_type="refresh_token",
        refresh_token=issued.json()["refresh_token"],
        client_secret=rp.secret,
    )
    assert refused.status_code == 400, refused.text
    assert refused.json()["error"] == "invalid_grant" and refused.json()["error_codes"] == [65001]


def test_token_request_with_a_repeated_parameter_is_refused(tenant: TenantHandle) -> None:
    """RFC 6749 section 3.2: a parameter appears at most once. Taking the last of two (while the authorization
    endpoint takes the first) lets whatever sits in front of Hospes read a different request than Hospes does."""
    rp = register_rp(tenant, web=(WEB,))
    body = urlencode(
        [
            ("grant_type", "client_credentials"),
            ("client_id", rp.client_id),
            ("client_secret", "wrong"),
            ("client_secret", rp.secret),
            ("scope", "https://graph.microsoft.com/.default"),
        ]
    )
    response = tenant.client.post(
        f"/{tenant.id}/oauth2/v2.0/token",
        content=body,
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "invalid_request" and response.json()["error_codes"] == [90023]


def test_control_characters_in_a_users_profile_do_not_break_saml_sign_in(
    tmp_path: Path, app: FastAPI, web: TestClient, tenant: TenantHandle, sessions: sessionmaker[Session]
) -> None:
    """Graph stores what an inviter or an administrator typed, control characters included; XML 1.0 cannot
    carry them. The assertion leaves them out instead of failing with a 500 (which would lock the user out of
    every SAML app)."""
    sp = Sp("https://ctl-app.example/md", "https://ctl-app.example/acs", "https://ctl-app.example/sls", SAML_PARTY)
    handle = register_saml_app(tenant, sessions, app.state.runtime.box, sp)
    user = tenant.new_user(givenName="Ada\u0001", surname="Love\u000blace", displayName="Ada\ufffe L")
    assert sign_in(web, tenant.domain, user["userPrincipalName"]).status_code == 303
    metadata = f"/{tenant.id}/federationmetadata/2007-06/federationmetadata.xml?appid={handle.app_id}"
    client = pysaml2_client(tmp_path, handle.idp, sp, metadata=web.get(metadata).text)
    _, info = client.prepare_for_authenticate(entityid=handle.idp.entity_id)
    page = follow(web, web.get(path_of(dict(info["headers"])["Location"])))
    assert page.status_code == 200, page.text[:300]
    xml = base64.b64decode(form_fields(page.text)[1]["SAMLResponse"])
    assert b">Ada<" in xml and b">Lovelace<" in xml
