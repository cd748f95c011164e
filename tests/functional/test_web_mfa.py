"""TOTP enrolment, sign-in with a second factor, replay refusal, recovery codes, and secrets at rest."""

from __future__ import annotations

import time
from pathlib import Path

import pyotp
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from hospes.auth.crypto import KEY_FILE_NAME, DecryptionError, SecretBox, parse_key, secret_box
from hospes.settings import Settings
from hospes.storage.tables_signin import RecoveryCode, TotpAuthenticator, WebSession
from tests.helpers.portal import csrf_of, enrol_totp, session_cookie, sign_in
from tests.helpers.tenants import TenantHandle


def _next_code(totp: pyotp.TOTP) -> str:
    """The code of the next 30-second step: still accepted (one step of clock skew), and newer than any used."""
    return totp.at(time.time() + 30)


def _enrolled_user(web: TestClient, tenant: TenantHandle) -> tuple[dict[str, str], pyotp.TOTP, list[str]]:
    user = tenant.new_user()
    sign_in(web, tenant.domain, user["userPrincipalName"])
    totp, codes = enrol_totp(web, tenant.domain)
    me = web.get(f"/{tenant.domain}/me")
    web.post(f"/{tenant.domain}/logout", data={"csrf": csrf_of(me.text)})
    return user, totp, codes


def _second_factor(web: TestClient, tenant: TenantHandle, code: str) -> int:
    form = web.get(f"/{tenant.domain}/login/mfa")
    assert form.status_code == 200, form.text
    return web.post(f"/{tenant.domain}/login/mfa", data={"csrf": csrf_of(form.text), "code": code}).status_code


def test_enrolment_then_sign_in_with_a_code(
    web: TestClient, tenant: TenantHandle, sessions: sessionmaker[Session]
) -> None:
    user = tenant.new_user()
    sign_in(web, tenant.domain, user["userPrincipalName"])
    setup = web.get(f"/{tenant.domain}/me/mfa")
    assert "<svg" in setup.text and 'class="qr"' in setup.text  # the QR code, inline
    totp, codes = enrol_totp(web, tenant.domain)
    assert "Two-step verification is on" in web.get(f"/{tenant.domain}/me").text
    with sessions() as session:
        stored = session.get(TotpAuthenticator, user["id"])
        assert stored is not None and totp.secret not in stored.secret and stored.secret.startswith("v1:")
        hashes = session.scalars(select(RecoveryCode.code_hash).where(RecoveryCode.user_id == user["id"])).all()
        assert len(hashes) == 10 and not {c.replace("-", "") for c in codes} & set(hashes)
    me = web.get(f"/{tenant.domain}/me")
    web.post(f"/{tenant.domain}/logout", data={"csrf": csrf_of(me.text)})

    password_step = sign_in(web, tenant.domain, user["userPrincipalName"])
    assert password_step.headers["location"] == f"/{tenant.domain}/login/mfa"
    pending = session_cookie(web)
    # Password alone is not a sign-in: the landing page still sends you to sign in.
    assert web.get(f"/{tenant.domain}/me").status_code == 303
    form = web.get(f"/{tenant.domain}/login/mfa")
    done = web.post(f"/{tenant.domain}/login/mfa", data={"csrf": csrf_of(form.text), "code": _next_code(totp)})
    assert done.status_code == 303 and done.headers["location"] == f"/{tenant.domain}/me"
    full = session_cookie(web)
    assert full and full != pending  # a new session id once the second factor is done
    page = web.get(f"/{tenant.domain}/me").text
    assert "authenticator app" in page
    with sessions() as session:
        levels = session.scalars(select(WebSession.auth_level).where(WebSession.user_id == user["id"])).all()
    assert levels == ["full"]


def test_a_code_is_accepted_once(web: TestClient, tenant: TenantHandle) -> None:
    user, totp, _codes = _enrolled_user(web, tenant)
    code = _next_code(totp)
    sign_in(web, tenant.domain, user["userPrincipalName"])
    assert _second_factor(web, tenant, code) == 303
    web.cookies.clear()
    sign_in(web, tenant.domain, user["userPrincipalName"])
    assert _second_factor(web, tenant, code) == 401  # replay in the same window
    assert _second_factor(web, tenant, totp.now()) == 401  # an older step than the last used one
    assert _second_factor(web, tenant, "000000") == 401


def test_recovery_codes_are_single_use(web: TestClient, tenant: TenantHandle) -> None:
    user, _totp, codes = _enrolled_user(web, tenant)
    sign_in(web, tenant.domain, user["userPrincipalName"])
    assert _second_factor(web, tenant, codes[0].upper().replace("-", " ")) == 303  # typed loosely
    page = web.get(f"/{tenant.domain}/me").text
    assert "recovery code" in page and "9 recovery codes left." in page
    web.cookies.clear()
    sign_in(web, tenant.domain, user["userPrincipalName"])
    assert _second_factor(web, tenant, codes[0]) == 401
    assert _second_factor(web, tenant, codes[1]) == 303


def test_code_guessing_locks_out(web: TestClient, tenant: TenantHandle) -> None:
    user, totp, _codes = _enrolled_user(web, tenant)
    sign_in(web, tenant.domain, user["userPrincipalName"])
    statuses = [_second_factor(web, tenant, f"{n:06d}") for n in range(5)]
    assert 429 not in statuses
    assert _second_factor(web, tenant, _next_code(totp)) == 429  # locked even for the right code


def test_regenerate_and_remove_need_a_fresh_code(web: TestClient, tenant: TenantHandle) -> None:
    user, totp, codes = _enrolled_user(web, tenant)
    sign_in(web, tenant.domain, user["userPrincipalName"])
    assert _second_factor(web, tenant, codes[0]) == 303
    manage = web.get(f"/{tenant.domain}/me/mfa")
    assert "Two-step verification is on" in manage.text
    token = csrf_of(manage.text)
    refused = web.post(f"/{tenant.domain}/me/mfa/remove", data={"csrf": token, "code": "123456"})
    assert refused.status_code == 401
    fresh = web.post(f"/{tenant.domain}/me/mfa/recovery-codes", data={"csrf": token, "code": _next_code(totp)})
    assert fresh.status_code == 200 and "shown only once" in fresh.text
    assert web.post(f"/{tenant.domain}/me/mfa/remove", data={"csrf": token, "code": codes[0]}).status_code == 401
    assert web.post(f"/{tenant.domain}/me/mfa/remove", data={"csrf": token, "code": codes[1]}).status_code == 401
    new_code = fresh.text.split("<li><code>", 2)[1].split("<", 1)[0]
    removed = web.post(f"/{tenant.domain}/me/mfa/remove", data={"csrf": token, "code": new_code})
    assert removed.status_code == 303
    assert "Two-step verification is off." in web.get(f"/{tenant.domain}/me").text


def test_enrolment_refuses_a_forged_or_foreign_secret(web: TestClient, tenant: TenantHandle) -> None:
    user = tenant.new_user()
    sign_in(web, tenant.domain, user["userPrincipalName"])
    setup = web.get(f"/{tenant.domain}/me/mfa")
    token = csrf_of(setup.text)
    forged = web.post(f"/{tenant.domain}/me/mfa/enrol", data={"csrf": token, "sealed": "v1:AAAA", "code": "123456"})
    assert forged.status_code == 400 and "expired" in forged.text
    wrong = web.post(
        f"/{tenant.domain}/me/mfa/enrol",
        data={"csrf": token, "sealed": setup.text.split('name="sealed" value="')[1].split('"')[0], "code": "000000"},
    )
    assert wrong.status_code == 400 and "not valid" in wrong.text


def test_mfa_pages_need_a_session(web: TestClient, tenant: TenantHandle) -> None:
    assert (
        web.get(f"/{tenant.domain}/me/mfa").headers["location"]
        == f"/{tenant.domain}/login?next=/{tenant.domain}/me/mfa"
    )
    assert web.get(f"/{tenant.domain}/login/mfa").headers["location"] == f"/{tenant.domain}/login"


def test_secret_box(tmp_path: Path, settings: Settings) -> None:
    box = secret_box("", tmp_path)
    assert (tmp_path / KEY_FILE_NAME).stat().st_mode & 0o777 == 0o600
    sealed = box.encrypt("totp", b"JBSWY3DPEHPK3PXP", "user-1")
    assert box.decrypt("totp", sealed, "user-1") == b"JBSWY3DPEHPK3PXP"
    assert secret_box("", tmp_path).decrypt("totp", sealed, "user-1") == b"JBSWY3DPEHPK3PXP"  # same key file
    for purpose, context in (("totp", "user-2"), ("other", "user-1")):
        try:
            box.decrypt(purpose, sealed, context)
        except DecryptionError:
            continue
        raise AssertionError("a ciphertext must not open under another purpose or row")
    configured = SecretBox(parse_key("ab" * 32))
    assert configured.mac("x", "y") != box.mac("x", "y")
