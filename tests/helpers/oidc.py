"""Relying parties for the OpenID Connect tests: register an app through Graph, pre-consent for it, drive the
authorization request in a browser-like TestClient, and an authlib client (the independent relying party) talking
to the same app."""

from __future__ import annotations

import html
import re
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

from authlib.integrations.httpx_client import OAuth2Client
from authlib.oidc.core import CodeIDToken
from fastapi.testclient import TestClient
from joserfc import jwt
from joserfc.jwk import KeySet

from tests.helpers.portal import csrf_of
from tests.helpers.tenants import TenantHandle

REDIRECT = "https://rp.example/callback"
DEFAULT_SCOPE = "openid profile email offline_access User.Read"
_META = re.compile(r'<meta http-equiv="refresh" content="0;url=([^"]+)">')
_FIELD = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)">')
_CTX = re.compile(r'name="ctx" value="([^"]+)"')


@dataclass
class RelyingParty:
    tenant: TenantHandle
    client_id: str
    secret: str
    app_object_id: str
    sp_id: str
    redirect_uri: str

    def authlib(self, scope: str = DEFAULT_SCOPE, public: bool = False, **kw: Any) -> OAuth2Client:
        """authlib's OAuth 2.0 client, wired to the in-process app through the TestClient's transport."""
        return OAuth2Client(
            client_id=self.client_id,
            client_secret=None if public else self.secret,
            token_endpoint_auth_method="none" if public else kw.pop("auth_method", "client_secret_post"),
            scope=scope,
            redirect_uri=self.redirect_uri,
            code_challenge_method="S256",
            transport=self.tenant.client._transport,
            base_url="http://testserver",
            **kw,
        )

    @property
    def authorize_url(self) -> str:
        return f"http://testserver/{self.tenant.id}/oauth2/v2.0/authorize"

    @property
    def token_url(self) -> str:
        return f"http://testserver/{self.tenant.id}/oauth2/v2.0/token"


_GRAPH_NAMES = {
    "is_fallback_public_client": "isFallbackPublicClient",
    "group_membership_claims": "groupMembershipClaims",
    "identifier_uris": "identifierUris",
}


def register_rp(
    tenant: TenantHandle,
    name: str = "Relying Party",
    web: tuple[str, ...] = (REDIRECT,),
    app_roles: list[dict[str, Any]] | None = None,
    assignment_required: bool = False,
    spa: tuple[str, ...] = (),
    public: tuple[str, ...] = (),
    logout_url: str | None = None,
    scopes: list[str] | None = None,
    **registration: Any,
) -> RelyingParty:
    """An app registration with its service principal and a secret, all through Graph: redirect URIs per
    platform, the front-channel logout URL, the delegated permissions its API publishes (``scopes``), and any other
    property named by its column (``group_membership_claims``, ``identifier_uris``, ...)."""
    body: dict[str, Any] = {
        "displayName": name,
        "web": {"redirectUris": list(web), "logoutUrl": logout_url},
        "spa": {"redirectUris": list(spa)},
        "publicClient": {"redirectUris": list(public)},
        "appRoles": app_roles or [],
        **{_GRAPH_NAMES[k]: v for k, v in registration.items()},
    }
    if scopes:
        body["api"] = {"oauth2PermissionScopes": [{"value": v, "type": "User", "isEnabled": True} for v in scopes]}
    created = tenant.post("/applications", json=body)
    assert created.status_code == 201, created.text
    app = created.json()
    sp = tenant.post(
        "/servicePrincipals", json={"appId": app["appId"], "appRoleAssignmentRequired": assignment_required}
    )
    assert sp.status_code == 201, sp.text
    secret = tenant.post(f"/applications/{app['id']}/addPassword", json={"passwordCredential": {}})
    assert secret.status_code == 200, secret.text
    first = [*web, *spa, *public][0]
    return RelyingParty(tenant, app["appId"], secret.json()["secretText"], app["id"], sp.json()["id"], first)


def graph_sp_id(tenant: TenantHandle) -> str:
    found = tenant.get("/servicePrincipals?$filter=appId eq '00000003-0000-0000-c000-000000000000'")
    assert found.status_code == 200, found.text
    return str(found.json()["value"][0]["id"])


def admin_consent(rp: RelyingParty, scope: str = DEFAULT_SCOPE, resource_id: str | None = None) -> dict[str, Any]:
    """An administrator's consent for every user (``AllPrincipals``), through Graph."""
    tenant = rp.tenant
    body = {
        "clientId": rp.sp_id,
        "consentType": "AllPrincipals",
        "resourceId": resource_id or graph_sp_id(tenant),
        "scope": scope,
    }
    response = tenant.post("/oauth2PermissionGrants", json=body)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


def follow(web: TestClient, response: Any, limit: int = 12) -> Any:
    """Follow our own redirects and "continue" pages until the answer leaves for the relying party (an absolute
    URL off testserver), returned as that URL; or the first page that is not a hop (returned as the response)."""
    for _ in range(limit):
        if response.status_code in (302, 303):
            location = response.headers["location"]
        elif response.status_code == 200 and _META.search(response.text):
            location = html.unescape(_META.search(response.text).group(1))  # type: ignore[union-attr]
        else:
            return response
        if location.startswith("http") and not location.startswith("http://testserver"):
            return location
        response = web.get(location)
    raise AssertionError("too many hops")


def answer_of(url: str) -> dict[str, str]:
    """The parameters the client received (query or fragment)."""
    parts = urlsplit(url)
    raw = parts.fragment if parts.fragment and not parts.query else parts.query
    return {k: v[0] for k, v in parse_qs(raw).items()}


def form_post_fields(page_html: str) -> dict[str, str]:
    return {name: html.unescape(value) for name, value in _FIELD.findall(page_html)}


def consent(web: TestClient, page: Any, accept: bool = True) -> Any:
    assert page.status_code == 200 and 'id="permissions"' in page.text, page.text[:500]
    ctx = html.unescape(_CTX.search(page.text).group(1))  # type: ignore[union-attr]
    return web.post(
        page.url.path,
        data={"csrf": csrf_of(page.text), "ctx": ctx, "decision": "accept" if accept else "decline"},
    )


def id_token_claims(rp: RelyingParty, id_token: str, nonce: str | None = None) -> dict[str, Any]:
    """Verified as a relying party would: signature against the published JWKS, then authlib's ID token rules
    (issuer, audience, expiry, nonce, azp)."""
    client = rp.tenant.client
    config = client.get(f"/{rp.tenant.id}/v2.0/.well-known/openid-configuration").json()
    keys = client.get(urlsplit(config["jwks_uri"]).path).json()
    decoded = jwt.decode(id_token, KeySet.import_key_set(keys))
    claims = CodeIDToken(
        decoded.claims,
        decoded.header,
        options={
            "iss": {"essential": True, "value": config["issuer"]},
            "aud": {"essential": True, "value": rp.client_id},
        },
        params={"nonce": nonce, "client_id": rp.client_id},
    )
    claims.validate()
    return dict(claims)


def new_nonce() -> str:
    return uuid.uuid4().hex
