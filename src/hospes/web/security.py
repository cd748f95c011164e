"""Cookies, CSRF tokens, the Origin check and safe return paths for the server-rendered pages.

CSRF (ASVS v5 3.5): every form carries a synchronizer token, an HMAC bound to the session (or, for the sign-in
form, to a random pre-session cookie), and every POST must also come from our own origin when the browser says
where it comes from (``Origin``, else ``Referer``). GET never changes server state.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import Response

from hospes.auth.crypto import SecretBox
from hospes.forms import form_pairs

MAX_FORM_BYTES = 16 * 1024  # the largest form (a code, a password, a hidden sealed secret) is far smaller


@dataclass(frozen=True)
class CookiePolicy:
    """Cookie names and flags. On https the names carry the ``__Host-`` prefix (Secure, Path=/, no Domain: the
    browser refuses them from any other origin). Browsers also refuse ``__Host-`` without ``Secure``, so on a
    plain-http public URL (loopback development) the names are unprefixed and not Secure."""

    secure: bool
    session: str
    pre_session: str
    language: str

    @classmethod
    def for_url(cls, public_url: str, session_name: str = "") -> CookiePolicy:
        secure = public_url.startswith("https://")
        prefix = "__Host-" if secure else ""
        return cls(
            secure=secure,
            session=session_name or f"{prefix}hospes_session",
            pre_session=f"{prefix}hospes_login",
            language=f"{prefix}hospes_lang",
        )

    def set(self, response: Response, name: str, value: str, max_age: int | None = None) -> None:
        response.set_cookie(name, value, max_age=max_age, path="/", secure=self.secure, httponly=True, samesite="lax")

    def clear(self, response: Response, name: str) -> None:
        response.delete_cookie(name, path="/", secure=self.secure, httponly=True, samesite="lax")


class Csrf:
    def __init__(self, box: SecretBox) -> None:
        self.box = box

    def token(self, binding: str) -> str:
        return self.box.mac("csrf", binding)

    def valid(self, binding: str | None, token: str | None) -> bool:
        if not binding or not token:
            return False
        return hmac.compare_digest(self.token(binding), token)


def new_pre_session() -> str:
    return secrets.token_urlsafe(32)


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def same_origin(request: Request, expected: str) -> bool:
    """Reject a POST whose ``Origin`` (or, without one, ``Referer``) is another site, or the opaque ``null``.
    Neither header present is allowed: some privacy tools strip both, and the token still protects the form."""
    origin = request.headers.get("origin")
    if origin is not None:
        return origin.lower() == expected
    referer = request.headers.get("referer")
    if referer:
        return origin_of(referer) == expected
    return True


async def read_form(request: Request) -> dict[str, str] | None:
    """A url-encoded form of at most MAX_FORM_BYTES, or None (wrong type, too big, not UTF-8)."""
    ctype = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if ctype != "application/x-www-form-urlencoded":
        return None
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            return None
    try:
        pairs = form_pairs(body, 50)
    except (UnicodeDecodeError, ValueError):
        return None
    form: dict[str, str] = {}
    for key, value in pairs:
        form.setdefault(key, value)  # first wins: a duplicated field can't override the token check
    return form


def safe_next(value: str | None, tenant_key: str, default: str) -> str:
    """A same-site path to go to after sign-in, only under this tenant's pages; anything else gives ``default``.
    Absolute URLs, scheme-relative ``//host`` and backslash tricks are refused (no open redirect)."""
    if not value or len(value) > 2048 or any(c in value for c in "\\\r\n\t") or any(ord(c) < 32 for c in value):
        return default
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or ".." in parts.path or not value.startswith(f"/{tenant_key}/"):
        return default
    return value
