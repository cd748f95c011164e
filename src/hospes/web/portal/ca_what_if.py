"""The what-if tool: which conditional-access policies would apply to a sign-in by this user, to this app, from
this address, client and platform, and what the sign-in would be asked for. A GET form (it changes nothing),
answered by ``WhatIfService``, the same code as Graph's ``evaluate`` action and as a live sign-in."""

from __future__ import annotations

import ipaddress
from typing import Any

from fastapi import APIRouter
from starlette.responses import Response

from hospes.domain.clock import utcnow
from hospes.domain.conditional_access import ADMIN_PORTALS, PLATFORMS
from hospes.domain.errors import DomainError
from hospes.services.what_if import WhatIfService
from hospes.web.portal.access import countries
from hospes.web.portal.ca_forms import CLIENT_KINDS
from hospes.web.portal.deps import ConditionalAccessDep
from hospes.web.portal.pickers import resolve

router = APIRouter(include_in_schema=False)
FIELDS = ("user", "app", "client", "ip", "country", "platform")


@router.get("/{tenant}/admin/conditional-access/what-if")
def what_if(admin: ConditionalAccessDep) -> Response:
    _ = admin._
    query = admin.page.request.query_params
    values = {name: query.get(name, "").strip()[:256] for name in FIELDS}
    apps = [(sp.app_id, sp.display_name) for sp, _roles in admin.queries.app_choices()]
    errors: dict[str, str] = {}
    decision, results = None, None
    if values["user"]:
        choice, problem = resolve(admin, values["user"], "users")
        if choice is None:
            errors["user"] = problem or _("No user matches “%(text)s”.") % {"text": values["user"]}
        if values["ip"]:
            try:
                ipaddress.ip_address(values["ip"])
            except ValueError:
                errors["ip"] = _("Enter an IP address such as 192.0.2.10.")
        if choice is not None and not errors:
            client = values["client"] if values["client"] in CLIENT_KINDS else None
            conditions: dict[str, Any] = {"clientAppType": client}
            if values["ip"]:
                conditions["ipAddress"] = values["ip"]
            if values["country"]:
                conditions["country"] = values["country"][:2].upper()
            if values["platform"] in PLATFORMS:
                conditions["devicePlatform"] = values["platform"]
            body = {
                "signInIdentity": {"@odata.type": "#microsoft.graph.userSignIn", "userId": choice.id},
                "signInContext": {"includeApplications": [values["app"]] if values["app"] else []},
                "signInConditions": conditions,
            }
            try:
                decision, results = WhatIfService(admin.sessions, admin.principal).analyse(body, utcnow())
            except DomainError as exc:
                errors["_form"] = admin.plain(exc)
    return admin.render(
        "portal/ca_what_if.html",
        400 if errors else 200,
        values=values,
        errors=errors,
        apps=apps,
        admin_portals=ADMIN_PORTALS,
        client_kinds=CLIENT_KINDS,
        platforms=[p for p in PLATFORMS if p != "all"],
        country_choices=countries(admin.page.lang),
        decision=decision,
        results=results,
    )
