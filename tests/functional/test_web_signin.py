"""Password sign-in, sessions, sign-out, CSRF, lockout, escaping and languages of the sign-in pages."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from hospes.asgi import create_app
from hospes.domain.clock import utcnow
from hospes.services.web_sessions import token_hash
from hospes.settings import Settings
from hospes.storage.tables import AuditLog
from hospes.storage.tables_signin import WebSession
from tests.helpers.portal import PASSWORD, csrf_of, session_cookie, sign_in
from tests.helpers.tenants import TenantHandle


def _rows(sessions: sessionmaker[Session], user_id: str) -> list[WebSession]:
    with sessions() as session:
        return list(session.scalars(select(WebSession).where(WebSession.user_id == user_id)))


def test_sign_in_lands_on_me_and_stores_only_a_hash(
    web: TestClient, tenant: TenantHandle, sessions: sessionmaker[Session]
) -> None:
    user = tenant.new_user("alice", displayName="Alice Martin")
    response = sign_in(web, tenant.domain, user["userPrincipalName"].upper())  # names are case-insensitive
    assert response.status_code == 303
    assert response.headers["location"] == f"/{tenant.domain}/me"
    cookie = response.headers.get_list("set-cookie")[0]
    assert cookie.startswith("hospes_session=") and "HttpOnly" in cookie and "SameSite=lax" in cookie
    token = session_cookie(web)
    assert token and len(token) >= 43  # 256 bits, base64url
    rows = _rows(sessions, user["id"])
    assert [r.token_hash for r in rows] == [token_hash(token)]
    me = web.get(f"/{tenant.domain}/me")
    assert me.status_code == 200
    assert "Alice Martin" in me.text and user["userPrincipalName"] in me.text and "Contoso" in me.text
    assert "default-src 'none'" in me.headers["content-security-policy"]
    assert me.headers["cache-control"] == "no-store"


def test_sign_in_by_tenant_id_too(web: TestClient, tenant: TenantHandle) -> None:
    user = tenant.new_user()
    response = sign_in(web, tenant.id, user["userPrincipalName"])
    assert response.headers["location"] == f"/{tenant.id}/me"
    assert web.get(f"/{tenant.id}/me").status_code == 200


def test_failures_are_generic(web: TestClient, tenant: TenantHandle) -> None:
    user = tenant.new_user()
    tenant.new_user("disabled", accountEnabled=False)
    wrong = sign_in(web, tenant.domain, user["userPrincipalName"], "Wrong-Password-1")
    unknown = sign_in(web, tenant.domain, f"nobody@{tenant.domain}", PASSWORD)
    disabled = sign_in(web, tenant.domain, f"disabled@{tenant.domain}", PASSWORD)
    for response in (wrong, unknown, disabled):
        assert response.status_code == 401
        assert "The sign-in name or password is incorrect." in response.text
        assert session_cookie(web) is None
    assert web.get(f"/{tenant.domain}/me").headers["location"].startswith(f"/{tenant.domain}/login")


def test_unknown_tenant_is_a_page(web: TestClient) -> None:
    response = web.get("/no-such-tenant.example/login")
    assert response.status_code == 404
    assert "text/html" in response.headers["content-type"]
    assert "Organization not found" in response.text


def test_new_session_at_each_sign_in(web: TestClient, tenant: TenantHandle, sessions: sessionmaker[Session]) -> None:
    user = tenant.new_user()
    web.cookies.set("hospes_session", "planted-by-an-attacker", domain="testserver.local")
    sign_in(web, tenant.domain, user["userPrincipalName"])
    first = session_cookie(web)
    assert first and first != "planted-by-an-attacker"
    sign_in(web, tenant.domain, user["userPrincipalName"])
    second = session_cookie(web)
    assert second and second != first
    # The session the browser arrived with is gone, not merely replaced in the cookie.
    assert [r.token_hash for r in _rows(sessions, user["id"])] == [token_hash(second)]


def test_logout_ends_the_session_server_side(
    web: TestClient, tenant: TenantHandle, sessions: sessionmaker[Session]
) -> None:
    user = tenant.new_user()
    sign_in(web, tenant.domain, user["userPrincipalName"])
    token = session_cookie(web)
    me = web.get(f"/{tenant.domain}/me")
    confirm = web.get(f"/{tenant.domain}/logout")  # a GET only asks
    assert confirm.status_code == 200 and _rows(sessions, user["id"])
    out = web.post(f"/{tenant.domain}/logout", data={"csrf": csrf_of(me.text)})
    assert out.status_code == 303 and out.headers["location"] == f"/{tenant.domain}/login?signed_out=1"
    assert _rows(sessions, user["id"]) == []
    # Replaying the old cookie gets nothing.
    replay = TestClient(web.app, follow_redirects=False, cookies={"hospes_session": token or ""})
    assert replay.get(f"/{tenant.domain}/me").status_code == 303
    assert "You have signed out." in web.get(out.headers["location"]).text


def test_sign_out_everywhere(web: TestClient, tenant: TenantHandle, app: Any, sessions: sessionmaker[Session]) -> None:
    user = tenant.new_user()
    other = TestClient(app, follow_redirects=False, client=("10.251.0.1", 1))
    sign_in(other, tenant.domain, user["userPrincipalName"])
    sign_in(web, tenant.domain, user["userPrincipalName"])
    me = web.get(f"/{tenant.domain}/me")
    assert "signed in on 2 browsers" in me.text
    web.post(f"/{tenant.domain}/logout", data={"csrf": csrf_of(me.text), "scope": "all"})
    assert _rows(sessions, user["id"]) == []
    assert other.get(f"/{tenant.domain}/me").status_code == 303


def test_disabled_deleted_or_reset_user_loses_sessions(
    web: TestClient, tenant: TenantHandle, sessions: sessionmaker[Session]
) -> None:
    for change in ("disable", "reset", "delete"):
        user = tenant.new_user()
        sign_in(web, tenant.domain, user["userPrincipalName"])
        assert web.get(f"/{tenant.domain}/me").status_code == 200
        if change == "disable":
            assert tenant.patch(f"/users/{user['id']}", json={"accountEnabled": False}).status_code == 204
        elif change == "reset":
            body = {"passwordProfile": {"password": "Another-Horse-8"}}
            assert tenant.patch(f"/users/{user['id']}", json=body).status_code == 204
        else:
            assert tenant.delete(f"/users/{user['id']}").status_code == 204
        assert _rows(sessions, user["id"]) == [], change
        assert web.get(f"/{tenant.domain}/me").status_code == 303, change


def test_idle_and_absolute_timeouts(web: TestClient, tenant: TenantHandle, sessions: sessionmaker[Session]) -> None:
    user = tenant.new_user()
    for column in ("last_seen_at", "expires_at"):
        sign_in(web, tenant.domain, user["userPrincipalName"])
        assert web.get(f"/{tenant.domain}/me").status_code == 200
        past = utcnow() - timedelta(hours=13)
        with sessions.begin() as session:
            session.execute(update(WebSession).where(WebSession.user_id == user["id"]).values({column: past}))
        assert web.get(f"/{tenant.domain}/me").status_code == 303, column
        assert _rows(sessions, user["id"]) == []


def test_a_session_is_bound_to_its_tenant(web: TestClient, tenant: TenantHandle, other_tenant: TenantHandle) -> None:
    user = tenant.new_user()
    sign_in(web, tenant.domain, user["userPrincipalName"])
    assert web.get(f"/{other_tenant.domain}/me").status_code == 303
    # Nor can a Contoso user sign in at Fabrikam.
    assert sign_in(web, other_tenant.domain, user["userPrincipalName"]).status_code == 401


def test_csrf_missing_wrong_or_cross_origin_is_refused(web: TestClient, tenant: TenantHandle) -> None:
    user = tenant.new_user()
    path = f"/{tenant.domain}/login"
    token = csrf_of(web.get(path).text)
    creds = {"username": user["userPrincipalName"], "password": PASSWORD}
    missing = web.post(path, data=creds)
    wrong = web.post(path, data={**creds, "csrf": "0" * 64})
    foreign = web.post(path, data={**creds, "csrf": token}, headers={"Origin": "https://evil.example"})
    opaque = web.post(path, data={**creds, "csrf": token}, headers={"Origin": "null"})
    referer = web.post(path, data={**creds, "csrf": token}, headers={"Referer": "https://evil.example/x"})
    for response in (missing, wrong, foreign, opaque, referer):
        assert response.status_code == 403
        assert "Request refused" in response.text and "text/html" in response.headers["content-type"]
    assert session_cookie(web) is None
    ok = web.post(path, data={**creds, "csrf": token}, headers={"Origin": "http://testserver"})
    assert ok.status_code == 303
    # Signed in: the sign-out form needs the session's own token, not the sign-in one.
    refused = web.post(f"/{tenant.domain}/logout", data={"csrf": token})
    assert refused.status_code == 403
    assert web.get(f"/{tenant.domain}/me").status_code == 200


def test_bad_bodies_get_a_page(web: TestClient, tenant: TenantHandle) -> None:
    path = f"/{tenant.domain}/login"
    web.get(path)
    for response in (
        web.post(path, content=b"\xff\xfe", headers={"Content-Type": "application/x-www-form-urlencoded"}),
        web.post(path, json={"username": "x"}),
        web.post(path, content=b"a=" + b"x" * 20000, headers={"Content-Type": "application/x-www-form-urlencoded"}),
    ):
        assert response.status_code == 400 and "text/html" in response.headers["content-type"]


def test_next_is_kept_but_never_leaves_the_tenant(web: TestClient, tenant: TenantHandle) -> None:
    user = tenant.new_user()
    good = sign_in(web, tenant.domain, user["userPrincipalName"], next=f"/{tenant.domain}/me/mfa")
    assert good.headers["location"] == f"/{tenant.domain}/me/mfa"
    for hostile in ("https://evil.example/", "//evil.example/x", f"/{tenant.domain}/../x", "/\\evil.example", "/x"):
        response = sign_in(web, tenant.domain, user["userPrincipalName"], next=hostile)
        assert response.headers["location"] == f"/{tenant.domain}/me", hostile


def test_lockout_after_five_failures(web: TestClient, tenant: TenantHandle, sessions: sessionmaker[Session]) -> None:
    user = tenant.new_user()
    for _ in range(5):
        assert sign_in(web, tenant.domain, user["userPrincipalName"], "Wrong-Password-1").status_code == 401
    locked = sign_in(web, tenant.domain, user["userPrincipalName"])  # even the right password now
    assert locked.status_code == 429
    assert "Too many failed attempts" in locked.text
    # The same for a name that does not exist: a lockout says nothing about existence.
    ghost = f"ghost@{tenant.domain}"
    statuses = [sign_in(web, tenant.domain, ghost, "Wrong-Password-1").status_code for _ in range(6)]
    assert statuses == [401] * 5 + [429]
    with sessions() as session:
        reasons = session.scalars(
            select(AuditLog.result_reason).where(
                AuditLog.tenant_id == tenant.id, AuditLog.activity == "Sign in", AuditLog.result == "failure"
            )
        ).all()
    assert reasons.count("locked out") == 2 and reasons.count("invalid credentials") == 10


def test_web_lockout_holds_for_the_password_grant(app: Any, web: TestClient, tenant: TenantHandle) -> None:
    user = tenant.new_user()
    for _ in range(5):
        assert sign_in(web, tenant.domain, user["userPrincipalName"], "Wrong-Password-1").status_code == 401
    api = TestClient(app, client=("10.253.0.1", 1))  # another address: only the account's lock applies
    data = {
        "grant_type": "password",
        "client_id": tenant.boot.client_id,
        "username": user["userPrincipalName"],
        "password": PASSWORD,
        "scope": "https://graph.microsoft.com/.default",
    }
    token = api.post(f"/{tenant.domain}/oauth2/v2.0/token", data=data)
    assert token.status_code == 400, "a token was issued while the web sign-in of the same user was locked"
    assert token.json()["error"] == "invalid_grant" and token.json()["error_codes"] == [50053]


def test_per_address_limit(app: Any, tenant: TenantHandle) -> None:
    web = TestClient(app, follow_redirects=False, client=("10.252.7.7", 1))
    names = [f"spray{i}@{tenant.domain}" for i in range(20)]
    statuses = [sign_in(web, tenant.domain, name, "Summer2026!").status_code for name in names]
    assert statuses == [401] * 20
    user = tenant.new_user()
    assert sign_in(web, tenant.domain, user["userPrincipalName"]).status_code == 429
    elsewhere = TestClient(app, follow_redirects=False, client=("10.252.7.8", 1))
    assert sign_in(elsewhere, tenant.domain, user["userPrincipalName"]).status_code == 303


def test_hostile_display_name_is_escaped(web: TestClient, tenant: TenantHandle) -> None:
    hostile = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    user = tenant.new_user(displayName=hostile)
    sign_in(web, tenant.domain, user["userPrincipalName"])
    page = web.get(f"/{tenant.domain}/me").text
    assert "<script>alert" not in page and "<img src=x" not in page
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in page
    failed = sign_in(web, tenant.domain, '"><script>x</script>', "x")
    assert "<script>x" not in failed.text


def test_french_pages(web: TestClient, tenant: TenantHandle) -> None:
    login = web.get(f"/{tenant.domain}/login?lang=fr")
    assert '<html lang="fr">' in login.text and "Se connecter" in login.text and "Mot de passe" in login.text
    # The choice is remembered; then a user's own preferredLanguage wins over the tenant's.
    assert "Se connecter" in web.get(f"/{tenant.domain}/login").text
    web.cookies.clear()
    assert "Se connecter" not in web.get(f"/{tenant.domain}/login").text
    user = tenant.new_user(preferredLanguage="fr-FR")
    sign_in(web, tenant.domain, user["userPrincipalName"])
    me = web.get(f"/{tenant.domain}/me")
    assert "Bonjour" in me.text and "Se déconnecter" in me.text
    wrong = sign_in(web, tenant.domain, user["userPrincipalName"] + "x", "nope-nope")
    assert "Le nom de connexion ou le mot de passe est incorrect." in wrong.text


def test_accept_language_when_tenant_has_none(web: TestClient, tenant: TenantHandle) -> None:
    org = tenant.get("/organization").json()["value"][0]["id"]
    assert tenant.patch(f"/organization/{org}", json={"preferredLanguage": None}).status_code == 204
    page = web.get(f"/{tenant.domain}/login", headers={"Accept-Language": "it;q=0.9, fr-CA;q=0.8, en;q=0.1"})
    assert "Se connecter" in page.text


def test_https_cookies_use_the_host_prefix(settings: Settings, tenant: TenantHandle) -> None:
    secure = create_app(settings.model_copy(update={"public_url": "https://testserver"}), housekeeping=False)
    with TestClient(secure, base_url="https://testserver", follow_redirects=False) as web:
        form = web.get(f"/{tenant.domain}/login")
        assert form.headers["set-cookie"].startswith("__Host-hospes_login=")
        user = tenant.new_user()
        response = web.post(
            f"/{tenant.domain}/login",
            data={"csrf": csrf_of(form.text), "username": user["userPrincipalName"], "password": PASSWORD},
            headers={"Origin": "https://testserver"},
        )
        cookie = response.headers.get_list("set-cookie")[0]
        assert cookie.startswith("__Host-hospes_session=")
        for flag in ("HttpOnly", "Secure", "Path=/", "SameSite=lax"):
            assert flag in cookie
        assert "Domain" not in cookie
