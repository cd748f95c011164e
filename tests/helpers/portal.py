"""Helpers for driving the server-rendered pages (sign-in, admin portal, My Account) like a browser would."""

from __future__ import annotations

import html
import re
from typing import Any

import pyotp
from fastapi.testclient import TestClient

from tests.helpers.tenants import ADMIN_PASSWORD, PASSWORD, TenantHandle

_CSRF = re.compile(r'name="csrf" value="([^"]+)"')
_SEALED = re.compile(r'name="sealed" value="([^"]+)"')
_SECRET = re.compile(r'id="totp-secret"[^>]*>([^<]+)<')
_CODES = re.compile(r"<li><code>([a-z0-9-]+)</code></li>")
_ALERT = re.compile(r'<p class="error" id="e-([a-z_]+)" role="alert">([^<]*)</p>')


def csrf_of(page_html: str) -> str:
    found = _CSRF.search(page_html)
    assert found, "no CSRF token in the page"
    return html.unescape(found.group(1))


def session_cookie(web: TestClient) -> str | None:
    return web.cookies.get("hospes_session")


def sign_in(web: TestClient, tenant: str, username: str, password: str = PASSWORD, **extra: str) -> Any:
    form = web.get(f"/{tenant}/login?prompt=login")
    assert form.status_code == 200, form.text
    return web.post(
        f"/{tenant}/login",
        data={"csrf": csrf_of(form.text), "username": username, "password": password, **extra},
    )


def sign_in_as_admin(web: TestClient, tenant: TenantHandle) -> None:
    """Signs in as the tenant's Global Administrator (the one `make_tenant` created)."""
    response = sign_in(web, tenant.domain, tenant.boot.admin_user_principal_name, ADMIN_PASSWORD)
    assert response.status_code == 303, response.text


def alerts(page_html: str) -> dict[str, str]:
    """Field id -> error message, from the ``e-<field>`` paragraphs next to the fields of a form."""
    return {field: message for field, message in _ALERT.findall(page_html)}


def enrol_totp(web: TestClient, tenant: str) -> tuple[pyotp.TOTP, list[str]]:
    """From a signed-in session: open the set-up page, read the key, prove it with a code. Returns the app and the
    recovery codes shown once."""
    setup = web.get(f"/{tenant}/me/mfa")
    assert setup.status_code == 200, setup.text
    secret_match = _SECRET.search(setup.text)
    sealed_match = _SEALED.search(setup.text)
    assert secret_match and sealed_match
    totp = pyotp.TOTP(secret_match.group(1).replace(" ", ""))
    done = web.post(
        f"/{tenant}/me/mfa/enrol",
        data={"csrf": csrf_of(setup.text), "sealed": html.unescape(sealed_match.group(1)), "code": totp.now()},
    )
    assert done.status_code == 200, done.text
    codes = _CODES.findall(done.text)
    assert len(codes) == 10
    return totp, codes
