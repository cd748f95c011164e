"""The portal's application screens: an enterprise app's properties and deletion, its Single sign-on page (mode,
basic SAML configuration, signing certificates, signing and NameID options, the NameID preview per guest), and the
App registrations screens (authentication, certificates and secrets, token configuration, API permissions,
properties). PRG after every save, confirmations before deletes, errors in words next to their field."""

from __future__ import annotations

import base64
import html
import re
from datetime import UTC, datetime
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from hospes.domain.principals import USER_ADMINISTRATOR
from hospes.services.saml_apps import app_by_app_id, request_certificates
from hospes.storage.tables import User
from hospes.storage.tables_sso import OAuth2PermissionGrant
from tests.functional.test_app_registration import make_certificate
from tests.helpers.portal import alerts, csrf_of, sign_in, sign_in_as_admin
from tests.helpers.tenants import TenantHandle, fetch_token


def _csrf(web: TestClient, tenant: TenantHandle) -> str:
    return csrf_of(web.get(f"/{tenant.domain}/admin").text)


def _post(web: TestClient, tenant: TenantHandle, path: str, data: dict[str, Any], token: str) -> Any:
    return web.post(f"/{tenant.domain}/admin{path}", data={"csrf": token, **data})


def _enterprise_app(tenant: TenantHandle, name: str = "8x8") -> tuple[dict[str, Any], dict[str, Any]]:
    app = tenant.post("/applications", json={"displayName": name}).json()
    sp = tenant.post("/servicePrincipals", json={"appId": app["appId"]}).json()
    return app, sp


def _done(response: Any, path: str) -> str:
    assert response.status_code == 303, response.text
    location: str = response.headers["location"]
    assert path in location and "done=" in location, location
    return location


def test_enterprise_app_properties_and_delete(web: TestClient, tenant: TenantHandle) -> None:
    sign_in_as_admin(web, tenant)
    token = _csrf(web, tenant)
    app, sp = _enterprise_app(tenant)
    page = web.get(f"/{tenant.domain}/admin/apps/{sp['id']}")
    assert page.status_code == 200 and 'id="f-visible" name="visible" checked' in page.text
    bad = _post(web, tenant, f"/apps/{sp['id']}/properties", {"enabled": "on", "login_url": "http://x.example"}, token)
    assert bad.status_code == 400
    assert "must use https" in alerts(bad.text)["login_url"] and "Invalid value" not in bad.text
    assert tenant.get(f"/servicePrincipals/{sp['id']}").json()["loginUrl"] is None  # nothing half-saved
    saved = _post(
        web,
        tenant,
        f"/apps/{sp['id']}/properties",
        {"assignment_required": "on", "login_url": "https://8x8.example/login", "logout_url": ""},
        token,
    )
    location = _done(saved, f"/apps/{sp['id']}")
    assert "The properties were saved." in web.get(location).text
    got = tenant.get(f"/servicePrincipals/{sp['id']}").json()
    assert got["accountEnabled"] is False and got["appRoleAssignmentRequired"] is True
    assert got["tags"] == ["HideApp"] and got["loginUrl"] == "https://8x8.example/login"

    confirm = web.get(f"/{tenant.domain}/admin/apps/{sp['id']}/delete")
    assert confirm.status_code == 200 and 'id="confirm-button"' in confirm.text
    unconfirmed = _post(web, tenant, f"/apps/{sp['id']}/delete", {}, token)
    assert unconfirmed.status_code == 303 and unconfirmed.headers["location"].endswith("/delete")
    assert tenant.get(f"/servicePrincipals/{sp['id']}").status_code == 200
    deleted = _post(web, tenant, f"/apps/{sp['id']}/delete", {"confirm": "yes"}, token)
    assert "The application was deleted." in web.get(_done(deleted, "/admin/apps")).text
    assert tenant.get(f"/servicePrincipals/{sp['id']}").status_code == 404
    assert tenant.get(f"/applications/{app['id']}").status_code == 200  # the registration stays


def test_single_sign_on_page_saml_configuration(web: TestClient, tenant: TenantHandle) -> None:
    sign_in_as_admin(web, tenant)
    token = _csrf(web, tenant)
    app, sp = _enterprise_app(tenant, "<b>8x8</b>")
    base = f"/apps/{sp['id']}/sso"
    first = web.get(f"/{tenant.domain}/admin{base}")
    assert first.status_code == 200 and "&lt;b&gt;8x8&lt;/b&gt;" in first.text and "<b>8x8</b>" not in first.text
    assert 'id="sso-basic"' not in first.text  # SAML settings appear once SAML is chosen
    assert _post(web, tenant, f"{base}/mode", {"mode": "kerberos"}, token).status_code == 400
    _done(_post(web, tenant, f"{base}/mode", {"mode": "saml"}, token), base)
    assert tenant.get(f"/servicePrincipals/{sp['id']}").json()["preferredSingleSignOnMode"] == "saml"

    basic = {
        "identifiers": "https://sso.8x8.example/saml2",
        "reply_urls": "http://sso.8x8.example/acs",
        "sign_on_url": "",
        "relay_state": "/home",
        "logout_url": "https://sso.8x8.example/slo",
    }
    refused = _post(web, tenant, f"{base}/basic", basic, token)
    assert refused.status_code == 400 and "must use https" in alerts(refused.text)["reply_urls"]
    assert "http://sso.8x8.example/acs" in refused.text  # what was typed comes back
    assert tenant.get(f"/applications/{app['id']}").json()["identifierUris"] == []  # nothing half-saved
    empty = _post(web, tenant, f"{base}/basic", {**basic, "identifiers": " "}, token)
    assert empty.status_code == 400 and "identifiers" in alerts(empty.text)
    _done(_post(web, tenant, f"{base}/basic", {**basic, "reply_urls": "https://sso.8x8.example/acs"}, token), base)
    got_app = tenant.get(f"/applications/{app['id']}").json()
    assert got_app["identifierUris"] == ["https://sso.8x8.example/saml2"]
    assert got_app["web"]["redirectUris"] == ["https://sso.8x8.example/acs"]
    got_sp = tenant.get(f"/servicePrincipals/{sp['id']}").json()
    assert got_sp["samlSingleSignOnSettings"] == {"relayState": "/home"}
    assert got_sp["logoutUrl"] == "https://sso.8x8.example/slo" and got_sp["loginUrl"] is None

    page = web.get(f"/{tenant.domain}/admin{base}").text
    metadata = f"/{tenant.id}/federationmetadata/2007-06/federationmetadata.xml?appid={app['appId']}"
    assert metadata in page and f"/{tenant.id}/saml2" in page

    # Certificates: the first is active at once; a second waits; activating it lets the first be removed.
    _done(_post(web, tenant, f"{base}/certificates/new", {}, token), base)
    _done(_post(web, tenant, f"{base}/certificates/new", {}, token), base)
    got_sp = tenant.get(f"/servicePrincipals/{sp['id']}?$select=keyCredentials,preferredTokenSigningKeyThumbprint")
    body = got_sp.json()
    verify = [c for c in body["keyCredentials"] if c["usage"] == "Verify"]
    assert len(verify) == 2
    page = web.get(f"/{tenant.domain}/admin{base}").text
    key_ids = re.findall(r"/sso/certificates/([0-9a-f-]{36})/download", page)
    assert len(key_ids) == 2
    download = web.get(f"/{tenant.domain}/admin{base}/certificates/{key_ids[0]}/download")
    assert download.status_code == 200 and "attachment" in download.headers["content-disposition"]
    cert = x509.load_pem_x509_certificate(download.content)
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "<b>8x8</b>"
    active = body["preferredTokenSigningKeyThumbprint"]
    first_id = next(c["keyId"] for c in verify if c["customKeyIdentifier"] and _thumb(c) == active)
    second_id = next(k for k in key_ids if k != first_id)
    refused_remove = _post(web, tenant, f"{base}/certificates/{first_id}/remove", {"confirm": "yes"}, token)
    assert refused_remove.status_code == 400 and "active signing certificate" in refused_remove.text
    _done(_post(web, tenant, f"{base}/certificates/{second_id}/activate", {}, token), base)
    confirm = web.get(f"/{tenant.domain}/admin{base}/certificates/{first_id}/remove")
    assert confirm.status_code == 200 and 'id="confirm-button"' in confirm.text
    _done(_post(web, tenant, f"{base}/certificates/{first_id}/remove", {"confirm": "yes"}, token), base)
    remaining = tenant.get(f"/servicePrincipals/{sp['id']}").json()["keyCredentials"]
    assert {c["keyId"] for c in remaining if c["usage"] == "Verify"} == {second_id}

    # Signing and NameID options.
    assert _post(web, tenant, f"{base}/signing", {"signing": "all", "algorithm": "sha256"}, token).status_code == 400
    _done(_post(web, tenant, f"{base}/signing", {"signing": "both", "algorithm": "sha1"}, token), base)
    page = web.get(f"/{tenant.domain}/admin{base}").text
    assert '<option value="both" selected>' in page and '<option value="sha1" selected>' in page
    bad_format = {"name_id_format": "urn:x", "name_id_source": "mail"}
    assert _post(web, tenant, f"{base}/nameid", bad_format, token).status_code == 400
    persistent = {"name_id_format": "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent", "name_id_source": "mail"}
    _done(_post(web, tenant, f"{base}/nameid", persistent, token), base)


def _thumb(credential: dict[str, Any]) -> str:
    return base64.b64decode(credential["customKeyIdentifier"]).hex().upper()


def _guest(sessions: sessionmaker[Session], tenant: TenantHandle, name: str, state: str, issuer: str | None) -> None:
    with sessions.begin() as session:
        user = session.scalar(
            select(User).where(User.tenant_id == tenant.id, User.user_principal_name.like(f"{name}%"))
        )
        assert user is not None
        user.user_type = "Guest"
        user.external_user_state = state
        user.mail = f"{name}@partner.example"
        user.identities = (
            [{"signInType": "federated", "issuer": issuer, "issuerAssignedId": user.mail}] if issuer else []
        )


def test_name_id_preview_follows_the_guest_rule(
    web: TestClient, tenant: TenantHandle, sessions: sessionmaker[Session]
) -> None:
    sign_in_as_admin(web, tenant)
    token = _csrf(web, tenant)
    _, sp = _enterprise_app(tenant)
    base = f"/apps/{sp['id']}/sso"
    _done(_post(web, tenant, f"{base}/mode", {"mode": "saml"}, token), base)
    for name, state, issuer in (
        ("homeguest", "Accepted", "ExternalAzureAD"),
        ("otpguest", "Accepted", "mail"),
        ("pendingguest", "PendingAcceptance", None),
    ):
        tenant.new_user(name)
        _guest(sessions, tenant, name, state, issuer)
    page = web.get(f"/{tenant.domain}/admin{base}").text
    rows = {
        upn: (how, value)
        for upn, how, value in re.findall(
            r"<code>([^<]+)</code></td>\s*<td[^>]*>([^<]+)</td>\s*<td[^>]*>(?:<code>([^<]*)</code>|<em>)", page
        )
    }
    home_upn = next(u for u in rows if u.startswith("homeguest"))
    otp_upn = next(u for u in rows if u.startswith("otpguest"))
    assert rows[home_upn] == ("Home organization", "homeguest@partner.example")  # the mail, not the UPN
    assert rows[otp_upn] == ("One-time passcode", otp_upn)  # the stored UPN
    assert any(how == "Not redeemed yet" for how, _ in rows.values())
    # A persistent NameID is opaque: no value is previewed.
    persistent = {"name_id_format": "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent", "name_id_source": "mail"}
    _done(_post(web, tenant, f"{base}/nameid", persistent, token), base)
    page = web.get(f"/{tenant.domain}/admin{base}?preview=homeguest").text
    assert "An opaque identifier made at sign-in" in page and "homeguest@partner.example</code>" not in page


def test_app_registration_screens(web: TestClient, tenant: TenantHandle, sessions: sessionmaker[Session]) -> None:
    sign_in_as_admin(web, tenant)
    token = _csrf(web, tenant)
    listing = web.get(f"/{tenant.domain}/admin/registrations")
    assert listing.status_code == 200 and 'aria-current="page">App registrations' in listing.text
    assert _post(web, tenant, "/registrations/new", {"name": " "}, token).status_code == 400
    created = _post(web, tenant, "/registrations/new", {"name": "Expense reports"}, token)
    location = _done(created, "/admin/registrations/")
    app_id = location.split("/registrations/")[1].split("?")[0]
    path = f"/registrations/{app_id}"
    assert "The app registration was created." in web.get(location).text

    auth = {
        "web": "https://expenses.example/signin-oidc\nhttp://expenses.example/insecure",
        "spa": "",
        "public": "",
        "logout_url": "https://expenses.example/signout",
        "id_tokens": "on",
    }
    refused = _post(web, tenant, f"{path}/authentication", auth, token)
    assert refused.status_code == 400 and "must use https" in alerts(refused.text)["web"]
    auth["web"] = "https://expenses.example/signin-oidc"
    auth["public"] = "com.example.expenses:/callback"
    auth["public_flows"] = "on"
    _done(_post(web, tenant, f"{path}/authentication", auth, token), path)
    got = tenant.get(f"/applications/{app_id}").json()
    assert got["web"]["redirectUris"] == ["https://expenses.example/signin-oidc"]
    assert got["web"]["logoutUrl"] == "https://expenses.example/signout"
    assert got["web"]["implicitGrantSettings"]["enableIdTokenIssuance"] is True
    assert got["publicClient"]["redirectUris"] == ["com.example.expenses:/callback"]
    assert got["isFallbackPublicClient"] is True

    # Certificates: upload a file; a non-certificate is refused in words; remove after a confirmation.
    der_b64, thumbprint = make_certificate("expenses")
    pem = "-----BEGIN CERTIFICATE-----\n" + der_b64 + "\n-----END CERTIFICATE-----\n"
    upload = web.post(
        f"/{tenant.domain}/admin{path}/certificates",
        data={"csrf": token, "description": "Build server"},
        files={"file": ("expenses.cer", pem.encode(), "application/x-x509-ca-cert")},
    )
    _done(upload, path)
    page = web.get(f"/{tenant.domain}/admin{path}").text
    assert thumbprint in page and "Build server" in page
    junk = web.post(
        f"/{tenant.domain}/admin{path}/certificates",
        data={"csrf": token},
        files={"file": ("notes.txt", b"hello", "text/plain")},
    )
    assert junk.status_code == 400 and "X.509 certificate (PEM, DER" in alerts(junk.text)["certificate"]
    no_csrf = web.post(
        f"/{tenant.domain}/admin{path}/certificates", files={"file": ("a.cer", pem.encode(), "text/plain")}
    )
    assert no_csrf.status_code == 403
    key_id = tenant.get(f"/applications/{app_id}").json()["keyCredentials"][0]["keyId"]
    assert web.get(f"/{tenant.domain}/admin{path}/certificates/{key_id}/remove").status_code == 200
    _done(_post(web, tenant, f"{path}/certificates/{key_id}/remove", {"confirm": "yes"}, token), path)
    assert tenant.get(f"/applications/{app_id}").json()["keyCredentials"] == []

    # A new client secret is shown once, after a redirect; it works at the token endpoint; a reload shows nothing.
    bad_lifetime = _post(web, tenant, f"{path}/secrets/new", {"secret_description": "x", "lifetime": "9999"}, token)
    assert bad_lifetime.status_code == 400 and "lifetime" in alerts(bad_lifetime.text)
    made = _post(web, tenant, f"{path}/secrets/new", {"secret_description": "Portal", "lifetime": "180"}, token)
    assert made.status_code == 303 and "/secrets/done?result=" in made.headers["location"]
    shown = web.get(made.headers["location"])
    assert shown.status_code == 200 and shown.headers["cache-control"] == "no-store"
    value = html.unescape(re.search(r'id="secret-value">([^<]+)<', shown.text).group(1))  # type: ignore[union-attr]
    app_client_id = tenant.get(f"/applications/{app_id}").json()["appId"]
    assert tenant.get(f"/applications/{app_id}").json()["passwordCredentials"][0]["displayName"] == "Portal"
    assert tenant.post("/servicePrincipals", json={"appId": app_client_id}).status_code == 201
    assert fetch_token(web, tenant.domain, app_client_id, value)  # the value shown is the secret
    assert web.get(made.headers["location"]).status_code == 410
    assert value not in web.get(f"/{tenant.domain}/admin{path}").text
    portal_secret_id = tenant.get(f"/applications/{app_id}").json()["passwordCredentials"][0]["keyId"]
    _done(_post(web, tenant, f"{path}/secrets/{portal_secret_id}/remove", {"confirm": "yes"}, token), path)

    # Client secrets made through the API are listed and removed here.
    secret = tenant.post(f"/applications/{app_id}/addPassword", json={"passwordCredential": {"displayName": "CI"}})
    secret_id = secret.json()["keyId"]
    assert secret.json()["hint"] in web.get(f"/{tenant.domain}/admin{path}").text
    _done(_post(web, tenant, f"{path}/secrets/{secret_id}/remove", {"confirm": "yes"}, token), path)
    assert tenant.get(f"/applications/{app_id}").json()["passwordCredentials"] == []

    # Token configuration.
    assert _post(web, tenant, f"{path}/token", {"groups": "Everything"}, token).status_code == 400
    _done(_post(web, tenant, f"{path}/token", {"groups": "SecurityGroup"}, token), path)
    assert tenant.get(f"/applications/{app_id}").json()["groupMembershipClaims"] == "SecurityGroup"

    # API permissions and admin consent (an AllPrincipals grant on the tenant's Microsoft Graph).
    consent_first = _post(web, tenant, f"{path}/consent", {}, token)
    assert consent_first.status_code == 400 and "Add at least one permission" in consent_first.text
    chosen = {"permission": ["openid", "User.Read"]}
    _done(_post(web, tenant, f"{path}/permissions", chosen, token), path)
    rra = tenant.get(f"/applications/{app_id}").json()["requiredResourceAccess"]
    assert rra[0]["resourceAppId"] == "00000003-0000-0000-c000-000000000000"
    graph = tenant.get("/servicePrincipals?$filter=appId eq '00000003-0000-0000-c000-000000000000'").json()
    published = {s["id"]: s["value"] for s in graph["value"][0]["oauth2PermissionScopes"]}
    assert sorted(published[a["id"]] for a in rra[0]["resourceAccess"]) == ["User.Read", "openid"]
    _done(_post(web, tenant, f"{path}/consent", {}, token), path)
    with sessions() as session:
        grants = list(
            session.scalars(select(OAuth2PermissionGrant).where(OAuth2PermissionGrant.tenant_id == tenant.id))
        )
    assert [(g.consent_type, g.principal_id, g.scope) for g in grants] == [("AllPrincipals", None, "openid User.Read")]
    page = web.get(f"/{tenant.domain}/admin{path}").text
    assert page.count("Granted for") == 2
    sps = tenant.get("/servicePrincipals").json()["value"]
    assert any(s["appId"] == got["appId"] for s in sps)  # consent used its enterprise application

    # Properties, then delete after a confirmation.
    _done(_post(web, tenant, f"{path}/properties", {"name": "Expenses", "description": "Claims"}, token), path)
    assert tenant.get(f"/applications/{app_id}").json()["displayName"] == "Expenses"
    too_long = _post(web, tenant, f"{path}/properties", {"name": "", "description": ""}, token)
    assert too_long.status_code == 400 and "name" in alerts(too_long.text)
    assert web.get(f"/{tenant.domain}/admin{path}/delete").status_code == 200
    deleted = _post(web, tenant, f"{path}/delete", {"confirm": "yes"}, token)
    assert "The app registration was deleted." in web.get(_done(deleted, "/admin/registrations")).text
    assert tenant.get(f"/applications/{app_id}").status_code == 404


def test_application_screens_are_for_global_administrators_of_the_tenant(
    web: TestClient, tenant: TenantHandle, other_tenant: TenantHandle
) -> None:
    _, sp = _enterprise_app(other_tenant)
    other_app = other_tenant.get("/applications").json()["value"][0]
    sign_in_as_admin(web, tenant)
    for path in (f"/apps/{sp['id']}/sso", f"/registrations/{other_app['id']}", f"/apps/{sp['id']}/delete"):
        assert web.get(f"/{tenant.domain}/admin{path}").status_code == 404, path
    token = _csrf(web, tenant)
    assert _post(web, tenant, f"/apps/{sp['id']}/sso/mode", {"mode": "saml"}, token).status_code == 404
    assert other_tenant.get(f"/servicePrincipals/{sp['id']}").json()["preferredSingleSignOnMode"] is None

    user = tenant.new_user()
    body = {"@odata.id": f"https://graph.microsoft.com/v1.0/directoryObjects/{user['id']}"}
    assert tenant.post(f"/directoryRoles/{USER_ADMINISTRATOR}/members/$ref", json=body).status_code == 204
    _, own_sp = _enterprise_app(tenant)
    with TestClient(web.app, follow_redirects=False) as other_browser:
        assert sign_in(other_browser, tenant.domain, user["userPrincipalName"]).status_code == 303
        for path in ("/registrations", f"/apps/{own_sp['id']}/sso"):
            assert other_browser.get(f"/{tenant.domain}/admin{path}").status_code == 403, path


def test_my_apps_shows_only_visible_apps_that_can_be_opened(web: TestClient, tenant: TenantHandle) -> None:
    user = tenant.new_user("tiles")
    zero = "00000000-0000-0000-0000-000000000000"
    made = {}
    for name, body in (
        ("Opens", {"loginUrl": "https://opens.example/"}),
        ("Hidden", {"loginUrl": "https://hidden.example/", "tags": ["HideApp"]}),
        ("Nowhere", {}),
        ("Saml", {"preferredSingleSignOnMode": "saml"}),
    ):
        _, sp = _enterprise_app(tenant, name)
        if body:
            assert tenant.patch(f"/servicePrincipals/{sp['id']}", json=body).status_code == 204
        assignment = {"principalId": user["id"], "resourceId": sp["id"], "appRoleId": zero}
        assert tenant.post(f"/servicePrincipals/{sp['id']}/appRoleAssignedTo", json=assignment).status_code == 201
        made[name] = sp["id"]
    assert sign_in(web, tenant.domain, user["userPrincipalName"]).status_code == 303
    page = web.get(f"/{tenant.domain}/myapps").text
    tiles = re.findall(r"/myapps/launch/([0-9a-f-]{36})\">([^<]+)<", page)
    assert sorted(name for _, name in tiles) == ["Opens", "Saml"]
    assert web.get(f"/{tenant.domain}/myapps/launch/{made['Hidden']}").status_code == 404


def test_admin_consent_creates_the_enterprise_app(
    web: TestClient, tenant: TenantHandle, sessions: sessionmaker[Session]
) -> None:
    sign_in_as_admin(web, tenant)
    token = _csrf(web, tenant)
    app = tenant.post("/applications", json={"displayName": "No principal yet"}).json()
    path = f"/registrations/{app['id']}"
    _done(_post(web, tenant, f"{path}/permissions", {"permission": ["User.Read"]}, token), path)
    assert not [s for s in tenant.get("/servicePrincipals").json()["value"] if s["appId"] == app["appId"]]
    _done(_post(web, tenant, f"{path}/consent", {}, token), path)
    sps = [s for s in tenant.get("/servicePrincipals").json()["value"] if s["appId"] == app["appId"]]
    assert len(sps) == 1
    with sessions() as session:
        grant = session.scalar(select(OAuth2PermissionGrant).where(OAuth2PermissionGrant.client_id == sps[0]["id"]))
        assert grant is not None and grant.consent_type == "AllPrincipals" and grant.scope == "User.Read"
    # Revoking (after its confirmation page) removes the grant.
    assert web.get(f"/{tenant.domain}/admin{path}/consent/revoke").status_code == 200
    _done(_post(web, tenant, f"{path}/consent/revoke", {"confirm": "yes"}, token), path)
    with sessions() as session:
        assert (
            session.scalar(select(OAuth2PermissionGrant).where(OAuth2PermissionGrant.client_id == sps[0]["id"])) is None
        )


def test_verification_certificates_and_signed_requests(
    web: TestClient, tenant: TenantHandle, sessions: sessionmaker[Session]
) -> None:
    sign_in_as_admin(web, tenant)
    token = _csrf(web, tenant)
    app, sp = _enterprise_app(tenant)
    base = f"/apps/{sp['id']}/sso"
    _done(_post(web, tenant, f"{base}/mode", {"mode": "saml"}, token), base)
    early = _post(web, tenant, f"{base}/require-signed", {"require_signed": "on"}, token)
    assert early.status_code == 400
    assert "Upload the service provider's certificate first" in html.unescape(alerts(early.text)["require_signed"])
    der_b64, thumbprint = make_certificate("sp-signing")
    pem = "-----BEGIN CERTIFICATE-----\n" + der_b64 + "\n-----END CERTIFICATE-----\n"
    uploaded = web.post(
        f"/{tenant.domain}/admin{base}/verification",
        data={"csrf": token},
        files={"file": ("sp.cer", pem.encode(), "application/x-x509-ca-cert")},
    )
    _done(uploaded, base)
    _done(_post(web, tenant, f"{base}/require-signed", {"require_signed": "on"}, token), base)
    page = web.get(f"/{tenant.domain}/admin{base}").text
    assert thumbprint in page and 'id="f-require_signed" name="require_signed" checked' in page
    graph = tenant.get(f"/servicePrincipals/{sp['id']}?$select=keyCredentials").json()["keyCredentials"]
    assert [c["key"] for c in graph] == [der_b64]

    # The SAML side reads the same rows: signed requests required, verified with this certificate.
    with sessions() as session:
        saml_app = app_by_app_id(session, tenant.id, app["appId"])
        assert saml_app is not None and saml_app.require_signed_requests
        found = request_certificates(session, saml_app, datetime.now(UTC))
    assert [c.public_bytes(serialization.Encoding.DER) for c in found] == [base64.b64decode(der_b64)]

    key_id = graph[0]["keyId"]
    last = _post(web, tenant, f"{base}/verification/{key_id}/remove", {"confirm": "yes"}, token)
    assert last.status_code == 400 and "turn that off" in alerts(last.text)["verification"]
    _done(_post(web, tenant, f"{base}/require-signed", {}, token), base)
    assert web.get(f"/{tenant.domain}/admin{base}/verification/{key_id}/remove").status_code == 200
    _done(_post(web, tenant, f"{base}/verification/{key_id}/remove", {"confirm": "yes"}, token), base)
    assert tenant.get(f"/servicePrincipals/{sp['id']}").json()["keyCredentials"] == []


def test_faults_in_the_pages_language(web: TestClient, tenant: TenantHandle) -> None:
    sign_in_as_admin(web, tenant)
    _, sp = _enterprise_app(tenant)
    page = web.get(f"/{tenant.domain}/admin/apps/{sp['id']}", params={"lang": "fr"})
    assert page.status_code == 200 and "Activée pour la connexion des utilisateurs" in html.unescape(page.text)
    token = csrf_of(page.text)
    refused = _post(web, tenant, f"/apps/{sp['id']}/properties", {"login_url": "http://x.example/in"}, token)
    assert refused.status_code == 400
    error = html.unescape(alerts(refused.text)["login_url"])
    assert (
        error
        == "« http://x.example/in » doit utiliser https (http simple n’est autorisé que pour localhost et 127.0.0.1)."
    )
    junk = web.post(
        f"/{tenant.domain}/admin/registrations/{_app_object(tenant, sp)}/certificates",
        data={"csrf": token},
        files={"file": ("x.cer", b"nope", "text/plain")},
    )
    assert "Ce n’est pas un certificat X.509" in html.unescape(alerts(junk.text)["certificate"])


def _app_object(tenant: TenantHandle, sp: dict[str, Any]) -> str:
    found = tenant.get(f"/applications?$filter=appId eq '{sp['appId']}'").json()["value"]
    return str(found[0]["id"])
