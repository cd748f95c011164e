"""External collaboration settings and Organization properties (Global Administrators)."""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from hospes.domain.errors import DomainError
from hospes.services.b2b_policy import ALLOW_INVITES_FROM, GUEST_ACCESS_ROLES
from hospes.web.portal.access import AdminPage
from hospes.web.portal.deps import CollaborationDep, OrganizationDep

router = APIRouter(include_in_schema=False)
LANGUAGES = ("en-US", "fr-FR", "de-DE", "es-ES", "ja-JP")


def _collab_page(admin: AdminPage, values: dict[str, Any], errors: dict[str, str], status: int = 200) -> Response:
    saved = admin.page.request.query_params.get("done") == "saved" and not errors
    return admin.render(
        "portal/collaboration.html",
        status,
        values=values,
        errors=errors,
        saved=saved,
        choices=ALLOW_INVITES_FROM,
        access_levels=GUEST_ACCESS_ROLES,
    )


@router.get("/{tenant}/admin/settings/collaboration")
def collaboration(admin: CollaborationDep) -> Response:
    current = admin.collaboration.get()
    current["domains"] = "\n".join(current["domains"])
    return _collab_page(admin, current, {})


@router.post("/{tenant}/admin/settings/collaboration")
async def save_collaboration(admin: CollaborationDep) -> Response:
    form = await admin.form()
    values: dict[str, Any] = {
        "allow_invites_from": form.get("allow_invites_from"),
        "email_otp_enabled": form.flag("email_otp_enabled"),
        "require_guest_mfa": form.flag("require_guest_mfa"),
        "trust_home_mfa": form.flag("trust_home_mfa"),
        "domain_mode": form.get("domain_mode"),
        "domains": form.get("domains"),
        "guest_access": form.get("guest_access") or admin.collaboration.get()["guest_access"],
        "allow_guests_to_leave": form.flag("allow_guests_to_leave"),
    }
    domains = [d.strip() for d in re.split(r"[\s,;]+", values["domains"]) if d.strip()]
    if values["guest_access"] not in GUEST_ACCESS_ROLES:
        return _collab_page(admin, values, {"guest_access": admin._("Choose the guests' access.")}, 400)
    try:
        admin.collaboration.save(
            values["allow_invites_from"],
            values["email_otp_enabled"],
            values["domain_mode"],
            domains,
            require_guest_mfa=values["require_guest_mfa"],
            trust_home_mfa=values["trust_home_mfa"],
            guest_access=values["guest_access"],
            allow_guests_to_leave=values["allow_guests_to_leave"],
        )
    except DomainError as exc:
        errors = admin.plain_errors(
            exc,
            {
                "allowInvitesFrom": "allow_invites_from",
                "domainMode": "domain_mode",
                "domains": "domains",
                "guestUserRoleId": "guest_access",
            },
            "_form",
        )
        return _collab_page(admin, values, errors, 400)
    return admin.redirect("/settings/collaboration", done="saved")


def _org_values(admin: AdminPage) -> dict[str, Any]:
    tenant, domains = admin.organization.get()
    return {
        "name": tenant.display_name,
        "privacy_url": tenant.privacy_statement_url or "",
        "privacy_email": tenant.privacy_contact_email or "",
        "language": tenant.preferred_language or "",
        "domains": [d.name for d in domains],
        "id": tenant.id,
    }


@router.get("/{tenant}/admin/settings/organization")
def organization(request: Request, admin: OrganizationDep) -> Response:
    saved = request.query_params.get("done") == "saved"
    return admin.render(
        "portal/organization.html", values=_org_values(admin), errors={}, saved=saved, languages_=LANGUAGES
    )


@router.post("/{tenant}/admin/settings/organization")
async def save_organization(admin: OrganizationDep) -> Response:
    form = await admin.form()
    _ = admin._
    current = _org_values(admin)
    values = {**current, **{k: form.get(k).strip() for k in ("name", "privacy_url", "privacy_email", "language")}}
    errors: dict[str, str] = {}
    if not values["name"] or len(values["name"]) > 256:
        errors["name"] = _("Enter a name of at most 256 characters.")
    if values["language"] and values["language"] not in LANGUAGES:
        errors["language"] = _("Choose a language from the list.")
    if values["privacy_email"] and ("@" not in values["privacy_email"] or len(values["privacy_email"]) > 256):
        errors["privacy_email"] = _("Enter an email address.")
    if errors:
        return admin.render(
            "portal/organization.html", 400, values=values, errors=errors, saved=False, languages_=LANGUAGES
        )
    body = {
        "displayName": values["name"],
        "preferredLanguage": values["language"] or None,
        "privacyProfile": {
            "statementUrl": values["privacy_url"] or None,
            "contactEmail": values["privacy_email"] or None,
        },
    }
    try:
        admin.organization.update(current["id"], body)
    except DomainError as exc:
        errors = admin.plain_errors(
            exc, {"privacyProfile": "privacy_url", "preferredLanguage": "language", "displayName": "name"}, "_form"
        )
        return admin.render(
            "portal/organization.html", 400, values=values, errors=errors, saved=False, languages_=LANGUAGES
        )
    return admin.redirect("/settings/organization", done="saved")
