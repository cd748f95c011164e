"""Post/Redirect/Get for the portal's forms that write: the POST keeps its outcome in the administrator's session
(``SessionStore.keep_result``, sealed with the server's key and bound to the tenant, the session and the kind of
page) and answers 303 to a GET page that shows it once. Reloading that page sends nothing again, and a secret in
the outcome (a redemption link, a generated password) never appears in an address that servers and browsers log."""

from __future__ import annotations

import json
import re
import secrets
from typing import Any

from starlette.responses import Response

from hospes.auth.crypto import DecryptionError
from hospes.services.invitations.service import InvitationResult
from hospes.web.portal.access import AdminPage

PURPOSE = "portal-result"
_KEY = re.compile(r"[A-Za-z0-9_-]{16,64}")


def _context(admin: AdminPage, kind: str, key: str) -> str:
    live = admin.page.live
    return f"{admin.page.tenant.id}|{live.token_hash if live else ''}|{kind}|{key}"


def show_later(admin: AdminPage, kind: str, path: str, result: dict[str, Any]) -> Response:
    """Keep ``result`` for the page at ``path`` (which reads it with ``take``) and redirect there (303)."""
    live = admin.page.live
    if live is None:  # admin pages are only reached signed in; kept for the type checker
        return admin.redirect(path)
    key = secrets.token_urlsafe(18)
    sealed = admin.page.web.box.encrypt(PURPOSE, json.dumps(result, default=str).encode(), _context(admin, kind, key))
    admin.page.web.store.keep_result(live.token_hash, key, sealed, admin.page.now)
    return admin.redirect(path, result=key)


def take(admin: AdminPage, kind: str) -> dict[str, Any] | None:
    """The result the redirect of ``show_later`` points to, once; None when it was shown already, expired, or
    belongs to another session or page."""
    key = admin.page.request.query_params.get("result", "")
    live = admin.page.live
    if live is None or not _KEY.fullmatch(key):
        return None
    sealed = admin.page.web.store.take_result(live.token_hash, key, admin.page.now)
    if not sealed:
        return None
    try:
        found = json.loads(admin.page.web.box.decrypt(PURPOSE, sealed, _context(admin, kind, key)))
    except (DecryptionError, ValueError):
        return None
    return found if isinstance(found, dict) else None


def invitation_outcome(result: InvitationResult) -> dict[str, Any]:
    """What the invitation result page shows."""
    inv = result.invitation
    user = result.user
    return {
        "email": inv.email,
        "status": inv.status,
        "message_status": inv.message_status,
        # The link is a bearer secret: kept only when the page must show it (no email went out).
        "redeem_url": result.redeem_url if inv.message_status != "Queued" else "",
        "user_id": user.id,
        "display_name": user.display_name,
        "user_principal_name": user.user_principal_name,
    }


def gone(admin: AdminPage) -> Response:
    """A result page opened again (a reload, the back button, a copied address): nothing is sent again."""
    _ = admin._
    return admin.render(
        "portal/message.html",
        410,
        title=_("Already shown"),
        message=_(
            "This result was shown once and is no longer available, so nothing was sent again. "
            "Open the user to see where things stand."
        ),
    )
