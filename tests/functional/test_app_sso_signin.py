"""A SAML app set up only through the portal's screens (new enterprise app, Single sign-on: SAML, basic
configuration, a new certificate, "sign response and assertion", an assignment), then a member signs in to it with
pysaml2 as the service provider, trusting only the metadata at the URL the page shows: what the administrator
configured is what the identity provider does."""

from __future__ import annotations

import base64
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.helpers.portal import csrf_of, sign_in, sign_in_as_admin
from tests.helpers.redemption import follow, path_of
from tests.helpers.saml import POST, REDIRECT, Idp, Sp, form_fields, new_party, pysaml2_client
from tests.helpers.tenants import TenantHandle

SP_PARTY = new_party("portal-configured.example")


def _post(web: TestClient, tenant: TenantHandle, path: str, data: dict[str, Any], token: str) -> Any:
    response = web.post(f"/{tenant.domain}/admin{path}", data={"csrf": token, **data})
    assert response.status_code == 303, response.text
    return response


def test_an_app_configured_in_the_portal_signs_a_member_in(
    tmp_path: Path, app: FastAPI, web: TestClient, tenant: TenantHandle
) -> None:
    sp = Sp(
        "https://portal-configured.example/saml/metadata",
        "https://portal-configured.example/saml/acs",
        "https://portal-configured.example/saml/sls",
        SP_PARTY,
    )
    member = tenant.new_user("adele", givenName="Adele", mail=f"adele@{tenant.domain}")
    sign_in_as_admin(web, tenant)
    token = csrf_of(web.get(f"/{tenant.domain}/admin").text)
    created = _post(web, tenant, "/apps/new", {"name": "Portal configured", "roles": "User"}, token)
    sp_path = created.headers["location"].split("?")[0].removeprefix(f"/{tenant.domain}/admin")
    _post(
        web,
        tenant,
        f"{sp_path}/assign",
        {"principal": member["userPrincipalName"], "role": _role(web, tenant, sp_path)},
        token,
    )
    _post(web, tenant, f"{sp_path}/sso/mode", {"mode": "saml"}, token)
    basic = {
        "identifiers": sp.entity_id,
        "reply_urls": sp.acs,
        "sign_on_url": "",
        "relay_state": "",
        "logout_url": sp.slo,
    }
    _post(web, tenant, f"{sp_path}/sso/basic", basic, token)
    _post(web, tenant, f"{sp_path}/sso/certificates/new", {}, token)
    _post(web, tenant, f"{sp_path}/sso/signing", {"signing": "both", "algorithm": "sha256"}, token)

    page = web.get(f"/{tenant.domain}/admin{sp_path}/sso").text
    metadata_url = re.search(r'id="metadata-url">([^<]+)<', page).group(1).replace("&amp;", "&")  # type: ignore[union-attr]
    metadata = web.get(path_of(metadata_url))
    assert metadata.status_code == 200, metadata.text
    download = re.search(r'href="([^"]+/download)"', page).group(1)  # type: ignore[union-attr]
    downloaded = x509.load_pem_x509_certificate(web.get(download).content)

    browser = TestClient(app, follow_redirects=False, client=("10.77.0.9", 1))
    assert sign_in(browser, tenant.domain, member["userPrincipalName"]).status_code == 303
    idp = Idp("http://testserver", tenant.id, SP_PARTY)  # only its addresses are used: trust comes from metadata
    client = pysaml2_client(
        tmp_path, idp, sp, want_assertions_signed=True, want_response_signed=True, metadata=metadata.text
    )
    request_id, info = client.prepare_for_authenticate(entityid=idp.entity_id, binding=REDIRECT)
    landed = follow(browser, browser.get(path_of(dict(info["headers"])["Location"])))
    assert landed.status_code == 200, landed.text
    action, fields = form_fields(landed.text)
    assert action == sp.acs
    response = client.parse_authn_request_response(fields["SAMLResponse"], POST, outstanding={request_id: "/"})
    assert response.name_id.text == member["userPrincipalName"]
    assert response.assertion.issuer.text == f"http://testserver/{tenant.id}/"
    key_info = response.response.signature.key_info.x509_data[0].x509_certificate.text
    assert base64.b64decode("".join(key_info.split())) == downloaded.public_bytes(serialization.Encoding.DER)
    assert urlsplit(metadata_url).query == f"appid={_app_id(web, tenant, sp_path)}"


def _role(web: TestClient, tenant: TenantHandle, sp_path: str) -> str:
    page = web.get(f"/{tenant.domain}/admin{sp_path}").text
    found = re.search(r'<option value="([0-9a-f-]{36})"[^>]*>User</option>', page)
    assert found, page
    return found.group(1)


def _app_id(web: TestClient, tenant: TenantHandle, sp_path: str) -> str:
    page = web.get(f"/{tenant.domain}/admin{sp_path}").text
    found = re.search(r"<dt>Application id</dt><dd><code>([0-9a-f-]{36})</code>", page)
    assert found, page
    return found.group(1)
