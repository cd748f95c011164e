"""What the tokens say (roles through nested groups, group claims, directory roles, tokens for the tenant's own
API), clients that prove themselves with a certificate (private_key_jwt), and time: a code lives 60 seconds, a
single-page app's refresh tokens 24 hours."""

from __future__ import annotations

import base64
import hashlib
import json
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from fastapi import FastAPI
from fastapi.testclient import TestClient
from joserfc import jwt
from joserfc.jwk import RSAKey
from sqlalchemy import insert, select
from sqlalchemy.orm import Session, sessionmaker

from hospes.asgi import create_app
from hospes.domain.principals import GLOBAL_ADMINISTRATOR
from hospes.services.oidc.grant_rules import prune_expired_grants
from hospes.settings import Settings
from hospes.storage.engine import raw_write
from hospes.storage.tables_sso import AuthorizationCode, RefreshToken
from tests.helpers.clock import FakeClock
from tests.helpers.oidc import RelyingParty, admin_consent, answer_of, graph_sp_id, id_token_claims, register_rp
from tests.helpers.portal import sign_in, sign_in_as_admin
from tests.helpers.tenants import TenantHandle

APPROVER = str(uuid.uuid4())


def _payload(token: str) -> dict[str, Any]:
    part = token.split(".")[1]
    result: dict[str, Any] = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    return result


def _code(web: TestClient, rp: RelyingParty, scope: str = "openid profile offline_access", **extra: str) -> str:
    query = {
        "client_id": rp.client_id,
        "redirect_uri": rp.redirect_uri,
        "response_type": "code",
        "scope": scope,
        "nonce": "n-1",
        **extra,
    }
    response = web.get(f"/{rp.tenant.id}/oauth2/v2.0/authorize?{urlencode(query)}")
    assert response.status_code == 302, response.text[:500]
    return answer_of(response.headers["location"])["code"]


def _redeem(client: TestClient, rp: RelyingParty, code: str, **extra: str) -> Any:
    data = {
        "grant_type": "authorization_code",
        "client_id": rp.client_id,
        "code": code,
        "redirect_uri": rp.redirect_uri,
        **extra,
    }
    if "client_assertion" not in extra and "code_verifier" not in extra:
        data["client_secret"] = rp.secret
    return client.post(f"/{rp.tenant.id}/oauth2/v2.0/token", data=data)


def _member_of(tenant: TenantHandle, group_id: str, member_id: str) -> None:
    ref = {"@odata.id": f"http://testserver/v1.0/directoryObjects/{member_id}"}
    assert tenant.post(f"/groups/{group_id}/members/$ref", json=ref).status_code == 204


def test_roles_and_groups_come_through_nested_groups(tenant: TenantHandle, web: TestClient) -> None:
    roles = [
        {
            "id": APPROVER,
            "value": "Approver",
            "displayName": "Approver",
            "description": "Approves expenses",
            "allowedMemberTypes": ["User"],
            "isEnabled": True,
        }
    ]
    rp = register_rp(tenant, app_roles=roles, group_membership_claims="SecurityGroup")
    admin_consent(rp)
    user = tenant.new_user()
    outer, inner = tenant.new_group("Finance"), tenant.new_group("Approvers")
    _member_of(tenant, outer["id"], inner["id"])
    _member_of(tenant, inner["id"], user["id"])
    assigned = tenant.post(
        f"/servicePrincipals/{rp.sp_id}/appRoleAssignedTo",
        json={"principalId": outer["id"], "resourceId": rp.sp_id, "appRoleId": APPROVER},
    )
    assert assigned.status_code == 201, assigned.text
    assert sign_in(web, tenant.domain, user["userPrincipalName"]).status_code == 303
    claims = id_token_claims(rp, _redeem(tenant.client, rp, _code(web, rp)).json()["id_token"], "n-1")
    assert claims["roles"] == ["Approver"]
    assert sorted(claims["groups"]) == sorted([outer["id"], inner["id"]])


def test_directory_roles_are_wids(tenant: TenantHandle, web: TestClient) -> None:
    rp = register_rp(tenant)
    admin_consent(rp)
    sign_in_as_admin(web, tenant)
    access = _redeem(tenant.client, rp, _code(web, rp)).json()["access_token"]
    claims = _payload(access)
    assert GLOBAL_ADMINISTRATOR in claims["wids"]
    assert claims["aud"] == "https://graph.microsoft.com" and claims["idtyp"] == "user"
    assert claims["azp"] == rp.client_id and claims["azpacr"] == "1" and "openid" in claims["scp"].split()


def test_a_token_for_the_tenants_own_api(tenant: TenantHandle, web: TestClient) -> None:
    reader = str(uuid.uuid4())
    api = register_rp(
        tenant,
        name="Expenses API",
        identifier_uris=["api://expenses"],
        scopes=["Expenses.Read"],
        app_roles=[
            {
                "id": reader,
                "value": "Reader",
                "displayName": "Reader",
                "description": "Reads",
                "allowedMemberTypes": ["User"],
                "isEnabled": True,
            }
        ],
    )
    client = register_rp(tenant, name="Expenses web")
    admin_consent(client, scope="openid profile offline_access")
    admin_consent(client, scope="Expenses.Read", resource_id=api.sp_id)
    user = tenant.new_user()
    assert (
        tenant.post(
            f"/servicePrincipals/{api.sp_id}/appRoleAssignedTo",
            json={"principalId": user["id"], "resourceId": api.sp_id, "appRoleId": reader},
        ).status_code
        == 201
    )
    assert sign_in(web, tenant.domain, user["userPrincipalName"]).status_code == 303
    tokens = _redeem(
        tenant.client, client, _code(web, client, scope="openid offline_access api://expenses/Expenses.Read")
    ).json()
    claims = _payload(tokens["access_token"])
    assert claims["aud"] == api.client_id and claims["scp"] == "Expenses.Read" and claims["roles"] == ["Reader"]
    assert tokens["scope"] == "openid offline_access api://expenses/Expenses.Read"
    # Graph does not take a token meant for another API.
    me = tenant.client.get("/v1.0/me", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert me.status_code == 401
    unknown = web.get(
        f"/{tenant.id}/oauth2/v2.0/authorize?"
        + urlencode(
            {
                "client_id": client.client_id,
                "redirect_uri": client.redirect_uri,
                "response_type": "code",
                "scope": "openid api://expenses/Expenses.Delete",
            }
        )
    )
    assert answer_of(unknown.headers["location"])["error"] == "invalid_scope"


# --- private_key_jwt ------------------------------------------------------------------------------------------------


def _certificate() -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "rp-client")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    return key, cert


def _assertion(rp: RelyingParty, key: rsa.RSAPrivateKey, cert: x509.Certificate, **override: Any) -> str:
    thumb = cert.fingerprint(hashes.SHA1())
    header = {"alg": "RS256", "typ": "JWT", "x5t": base64.urlsafe_b64encode(thumb).rstrip(b"=").decode()}
    now = int(time.time())
    claims = {
        "aud": f"http://testserver/{rp.tenant.id}/oauth2/v2.0/token",
        "iss": rp.client_id,
        "sub": rp.client_id,
        "jti": str(uuid.uuid4()),
        "nbf": now,
        "exp": now + 600,
        **override,
    }
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return jwt.encode(header, claims, RSAKey.import_key(pem))


ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def test_private_key_jwt(tenant: TenantHandle, web: TestClient) -> None:
    rp = register_rp(tenant)
    admin_consent(rp)
    key, cert = _certificate()
    uploaded = tenant.patch(
        f"/applications/{rp.app_object_id}",
        json={
            "keyCredentials": [
                {
                    "type": "AsymmetricX509Cert",
                    "usage": "Verify",
                    "key": base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode(),
                    "displayName": "CN=rp-client",
                }
            ]
        },
    )
    assert uploaded.status_code == 204, uploaded.text
    user = tenant.new_user()
    assert sign_in(web, tenant.domain, user["userPrincipalName"]).status_code == 303
    assertion = _assertion(rp, key, cert)
    good = _redeem(tenant.client, rp, _code(web, rp), client_assertion_type=ASSERTION_TYPE, client_assertion=assertion)
    assert good.status_code == 200, good.text
    assert _payload(good.json()["access_token"])["azpacr"] == "2"
    replay = _redeem(
        tenant.client, rp, _code(web, rp), client_assertion_type=ASSERTION_TYPE, client_assertion=assertion
    )
    assert replay.status_code == 401 and replay.json()["error"] == "invalid_client"
    for bad in (
        _assertion(rp, key, cert, aud="https://elsewhere.example/token"),
        _assertion(rp, key, cert, iss="someone-else"),
        _assertion(rp, key, cert, exp=int(time.time()) - 3600),
        _assertion(rp, *_certificate()),  # a certificate the app never uploaded
    ):
        refused = _redeem(tenant.client, rp, _code(web, rp), client_assertion_type=ASSERTION_TYPE, client_assertion=bad)
        assert refused.status_code == 401 and refused.json()["error"] == "invalid_client", refused.text


# --- time -----------------------------------------------------------------------------------------------------------


@pytest.fixture
def clocked(settings: Settings) -> Iterator[tuple[FastAPI, FakeClock]]:
    clock = FakeClock()
    app = create_app(settings, housekeeping=False, clock=clock)
    with TestClient(app):
        yield app, clock


def test_oidcc_codereuse_30seconds(clocked: tuple[FastAPI, FakeClock], tenant: TenantHandle) -> None:
    """A code is good for 60 seconds; after 30 a reuse is still refused, and after 61 even a first use is."""
    app, clock = clocked
    web = TestClient(app, follow_redirects=False, client=("10.77.1.1", 1))
    api = TestClient(app)
    rp = register_rp(tenant)
    admin_consent(rp)
    clock.advance((datetime.now(UTC) - clock()).total_seconds() + 1)  # past the new secret's start
    user = tenant.new_user()
    assert sign_in(web, tenant.domain, user["userPrincipalName"]).status_code == 303
    code = _code(web, rp)
    first = _redeem(api, rp, code)
    assert first.status_code == 200
    clock.advance(30)
    again = _redeem(api, rp, code)
    assert again.status_code == 400 and again.json()["error_codes"] == [54005]
    refresh = api.post(
        f"/{tenant.id}/oauth2/v2.0/token",
        data={
            "grant_type": "refresh_token",
            "client_id": rp.client_id,
            "client_secret": rp.secret,
            "refresh_token": first.json()["refresh_token"],
        },
    )
    assert refresh.json()["error_codes"] == [50173]  # what the first exchange bought is revoked
    late = _code(web, rp)
    clock.advance(61)
    assert _redeem(api, rp, late).json()["error_codes"] == [70008]


def test_a_single_page_apps_refresh_tokens_end_after_a_day(
    clocked: tuple[FastAPI, FakeClock], tenant: TenantHandle, sessions: sessionmaker[Session]
) -> None:
    app, clock = clocked
    web = TestClient(app, follow_redirects=False, client=("10.77.1.2", 1))
    api = TestClient(app)
    rp = register_rp(tenant, web=(), spa=("https://spa.example/app",))
    admin_consent(rp)
    user = tenant.new_user()
    assert sign_in(web, tenant.domain, user["userPrincipalName"]).status_code == 303
    verifier = "s" * 60
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    code = _code(web, rp, code_challenge=challenge, code_challenge_method="S256")
    tokens = _redeem(api, rp, code, code_verifier=verifier).json()

    def refresh(token: str) -> Any:
        return api.post(
            f"/{tenant.id}/oauth2/v2.0/token",
            data={"grant_type": "refresh_token", "client_id": rp.client_id, "refresh_token": token},
        )

    clock.advance(12 * 3600)
    renewed = refresh(tokens["refresh_token"])
    assert renewed.status_code == 200, renewed.text
    with sessions() as session:
        rows = list(session.scalars(select(RefreshToken).where(RefreshToken.client_id == rp.client_id)))
    assert len({r.expires_at for r in rows}) == 1  # the family keeps its first end
    clock.advance(12 * 3600 + 1)
    assert refresh(renewed.json()["refresh_token"]).json()["error_codes"] == [700084]


def test_graph_sp_is_the_resource_of_bare_scopes(tenant: TenantHandle) -> None:
    rp = register_rp(tenant)
    grant = admin_consent(rp, scope="User.Read")
    assert grant["resourceId"] == graph_sp_id(tenant)


def test_housekeeping_prunes_spent_codes_and_tokens(
    tenant: TenantHandle, web: TestClient, sessions: sessionmaker[Session]
) -> None:
    rp = register_rp(tenant)
    admin_consent(rp)
    user = tenant.new_user()
    assert sign_in(web, tenant.domain, user["userPrincipalName"]).status_code == 303
    _redeem(tenant.client, rp, _code(web, rp))
    with sessions() as session:
        assert session.scalars(select(RefreshToken).where(RefreshToken.client_id == rp.client_id)).all()
    prune_expired_grants(sessions, datetime.now(UTC))  # nothing is old enough yet
    with sessions() as session:
        assert session.scalars(select(RefreshToken).where(RefreshToken.client_id == rp.client_id)).all()
        assert session.scalars(select(AuthorizationCode).where(AuthorizationCode.client_id == rp.client_id)).all()
    prune_expired_grants(sessions, datetime.now(UTC) + timedelta(days=92))
    with sessions() as session:
        assert not session.scalars(select(RefreshToken).where(RefreshToken.client_id == rp.client_id)).all()
        assert not session.scalars(select(AuthorizationCode).where(AuthorizationCode.client_id == rp.client_id)).all()


def test_raw_write_commits_or_rolls_back_as_a_whole(tenant: TenantHandle, database: Any) -> None:
    """The refresh grant's write path (``storage.engine.raw_write``): typed values stored as a session stores
    them, and nothing of a block that raised."""
    now = datetime.now(UTC).replace(microsecond=0)
    row = {
        "tenant_id": tenant.id,
        "family_id": str(uuid.uuid4()),
        "client_id": "c",
        "user_id": "u",
        "sid": None,
        "scope": "openid",
        "auth_time": now,
        "amr": ["pwd", "otp"],
        "created_at": now,
        "expires_at": now + timedelta(days=1),
        "used_at": None,
        "revoked_at": None,
        "public_client": False,
    }
    statement = insert(RefreshToken)
    with raw_write(database.engine) as write:
        assert write.execute(statement, {**row, "token_hash": "kept-" + uuid.uuid4().hex}) == 1
    lost = "lost-" + uuid.uuid4().hex
    with pytest.raises(RuntimeError), raw_write(database.engine) as write:
        write.execute(statement, {**row, "token_hash": lost})
        raise RuntimeError("abandon")
    with database.sessions() as session:
        kept = session.scalars(select(RefreshToken).where(RefreshToken.family_id == row["family_id"])).all()
        assert [(r.amr, r.auth_time, r.expires_at) for r in kept] == [(["pwd", "otp"], now, now + timedelta(days=1))]
        assert session.get(RefreshToken, lost) is None


@pytest.mark.parametrize(
    "fields",
    [
        {"grant_type": "authorization_code"},
        {"grant_type": "authorization_code", "code": "x" * 5000, "redirect_uri": "https://rp.example/callback"},
        {"grant_type": "refresh_token", "refresh_token": "\u00e9" * 300},
        {"grant_type": "refresh_token", "refresh_token": "x", "scope": "api://nope/Read offline_access"},
        {"grant_type": "authorization_code", "code": "c", "redirect_uri": "r", "client_assertion": "a.b.c"},
        {
            "grant_type": "authorization_code",
            "code": "c",
            "redirect_uri": "r",
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": "W10.e30.AAAA",
        },
        {"grant_type": "refresh_token", "refresh_token": "x", "client_assertion_type": ASSERTION_TYPE},
    ],
)
def test_bad_token_requests_are_oauth_errors(tenant: TenantHandle, fields: dict[str, str]) -> None:
    rp = register_rp(tenant)
    response = tenant.client.post(
        f"/{tenant.id}/oauth2/v2.0/token", data={"client_id": rp.client_id, "client_secret": rp.secret, **fields}
    )
    assert response.status_code in (400, 401), response.text
    assert response.json()["error"] in ("invalid_request", "invalid_grant", "invalid_client")
