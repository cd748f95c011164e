"""The conditional-access policy form of the portal, both ways: a stored policy (Graph's shape) into the form's
values, and the posted form back into the Graph body the service checks. Nothing here reads the directory: the
people and groups typed in the form are resolved by the page through ``resolve``, so the mapping stays testable
on its own, and every rule about what a policy may hold stays in ``hospes.domain.conditional_access``."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from hospes.domain.conditional_access import ADMIN_PORTALS, ALL, ALL_TRUSTED, GUESTS, NONE, STATES
from hospes.web.portal.access import Form

# The guest kinds an administrator picks from (Graph's flags, without "none").
GUEST_KINDS = (
    "internalGuest",
    "b2bCollaborationGuest",
    "b2bCollaborationMember",
    "b2bDirectConnectUser",
    "otherExternalUser",
    "serviceProvider",
)
CLIENT_KINDS = ("browser", "mobileAppsAndDesktopClients", "exchangeActiveSync", "other")
PLATFORM_KINDS = ("android", "iOS", "windows", "macOS", "linux", "windowsPhone")
GRANT_KINDS = ("mfa", "compliantDevice", "domainJoinedDevice", "approvedApplication", "compliantApplication")
_ID_IN_LINE = re.compile(r"\(([0-9a-fA-F-]{36})\)\s*$")

# ``resolve(kind, line)``: the object id a typed line names (``kind`` "users" or "groups"), or the message to show.
Resolver = Callable[[str, str], tuple[str | None, str | None]]
# ``describe(kind, id)``: how the form shows an object id (a sign-in name, or a group's name with its id).
Describer = Callable[[str, str], str]


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.replace("\r", "\n").split("\n") if line.strip()][:200]


def _side(prefix: str, users: dict[str, Any], guests: dict[str, Any] | None, describe: Describer) -> dict[str, Any]:
    plain_users = [u for u in users.get(f"{prefix}Users", []) if u not in (ALL, NONE, GUESTS)]
    guest_rule = guests or {}
    tenants = guest_rule.get("externalTenants") or {}
    return {
        "users": "\n".join(describe("users", u) for u in plain_users),
        "groups": "\n".join(describe("groups", g) for g in users.get(f"{prefix}Groups", [])),
        "roles": list(users.get(f"{prefix}Roles", [])),
        "guests": "on" if guests or GUESTS in users.get(f"{prefix}Users", []) else "",
        "guest_types": [t for t in (guest_rule.get("guestOrExternalUserTypes") or "").split(",") if t],
        "tenants_mode": "listed" if tenants.get("membershipKind") == "enumerated" else "all",
        "tenants": "\n".join(tenants.get("members") or []),
    }


def values_of(policy: dict[str, Any] | None, describe: Describer) -> dict[str, Any]:
    """The form's values for ``policy`` (None: a new policy, with Entra's defaults: report-only, no one)."""
    if policy is None:
        empty = {"users": "", "groups": "", "roles": [], "guests": "", "guest_types": [], "tenants_mode": "all"}
        return {
            "name": "",
            "description": "",
            "state": "enabledForReportingButNotEnforced",
            "users_scope": "select",
            "include": {**empty, "tenants": ""},
            "exclude": {**empty, "tenants": ""},
            "apps_scope": "select",
            "include_apps": [],
            "exclude_apps": [],
            "client_types": [],
            "loc_scope": "any",
            "include_locations": [],
            "exclude_trusted": "",
            "exclude_locations": [],
            "platforms": [],
            "exclude_platforms": [],
            "grant": "grant",
            "controls": ["mfa"],
            "terms": [],
            "operator": "OR",
            "frequency": "",
            "frequency_kind": "timeBased",
            "frequency_value": "",
            "frequency_unit": "hours",
            "browser": "",
        }
    conditions = policy["conditions"]
    users = conditions["users"]
    included = users.get("includeUsers", [])
    apps = conditions["applications"]
    locations = conditions.get("locations") or {}
    included_locations = locations.get("includeLocations") or []
    platforms = conditions.get("platforms") or {}
    grant = policy.get("grantControls") or {}
    session = policy.get("sessionControls") or {}
    frequency = session.get("signInFrequency") or {}
    controls = grant.get("builtInControls") or []
    return {
        "name": policy["displayName"],
        "description": policy.get("description") or "",
        "state": policy["state"],
        "users_scope": "all" if ALL in included else "none" if included == [NONE] else "select",
        "include": _side("include", users, users.get("includeGuestsOrExternalUsers"), describe),
        "exclude": _side("exclude", users, users.get("excludeGuestsOrExternalUsers"), describe),
        "apps_scope": "all"
        if ALL in apps["includeApplications"]
        else "none"
        if apps["includeApplications"] == [NONE]
        else "select",
        "include_apps": [a for a in apps["includeApplications"] if a not in (ALL, NONE)],
        "exclude_apps": list(apps["excludeApplications"]),
        "client_types": [c for c in conditions.get("clientAppTypes") or [] if c != "all"],
        "loc_scope": "any"
        if not included_locations
        else "all"
        if ALL in included_locations
        else "trusted"
        if included_locations == [ALL_TRUSTED]
        else "select",
        "include_locations": [x for x in included_locations if x not in (ALL, ALL_TRUSTED)],
        "exclude_trusted": "on" if ALL_TRUSTED in (locations.get("excludeLocations") or []) else "",
        "exclude_locations": [x for x in locations.get("excludeLocations") or [] if x != ALL_TRUSTED],
        "platforms": [p for p in platforms.get("includePlatforms") or [] if p != "all"],
        "exclude_platforms": list(platforms.get("excludePlatforms") or []),
        "grant": "none" if not grant else "block" if "block" in controls else "grant",
        "controls": [c for c in controls if c != "block"],
        "terms": list(grant.get("termsOfUse") or []),
        "operator": grant.get("operator") or "OR",
        "frequency": "on" if frequency.get("isEnabled") else "",
        "frequency_kind": frequency.get("frequencyInterval") or "timeBased",
        "frequency_value": str(frequency.get("value") or ""),
        "frequency_unit": frequency.get("type") or "hours",
        "browser": (session.get("persistentBrowser") or {}).get("mode") or "",
    }


def _posted_side(form: Form, prefix: str) -> dict[str, Any]:
    return {
        "users": form.get(f"{prefix}_users")[:20_000],
        "groups": form.get(f"{prefix}_groups")[:20_000],
        "roles": form.all(f"{prefix}_roles"),
        "guests": "on" if form.flag(f"{prefix}_guests") else "",
        "guest_types": [t for t in form.all(f"{prefix}_guest_types") if t in GUEST_KINDS],
        "tenants_mode": "listed" if form.get(f"{prefix}_tenants_mode") == "listed" else "all",
        "tenants": form.get(f"{prefix}_tenants")[:20_000],
    }


def _choice(value: str, choices: tuple[str, ...]) -> str:
    """``value`` when it is one of ``choices``, else the first (the form's default)."""
    return value if value in choices else choices[0]


def posted_values(form: Form) -> dict[str, Any]:
    """The form as posted, in the shape ``values_of`` gives (so a refused form shows what was typed)."""
    return {
        "name": form.get("name").strip()[:300],
        "description": form.get("description").strip()[:1100],
        "state": form.get("state"),
        "users_scope": _choice(form.get("users_scope"), ("select", "all", "none")),
        "include": _posted_side(form, "include"),
        "exclude": _posted_side(form, "exclude"),
        "apps_scope": _choice(form.get("apps_scope"), ("select", "all", "none")),
        "include_apps": form.all("include_apps"),
        "exclude_apps": form.all("exclude_apps"),
        "client_types": [c for c in form.all("client_types") if c in CLIENT_KINDS],
        "loc_scope": _choice(form.get("loc_scope"), ("any", "all", "trusted", "select")),
        "include_locations": form.all("include_locations"),
        "exclude_trusted": "on" if form.flag("exclude_trusted") else "",
        "exclude_locations": form.all("exclude_locations"),
        "platforms": [p for p in form.all("platforms") if p in PLATFORM_KINDS],
        "exclude_platforms": [p for p in form.all("exclude_platforms") if p in PLATFORM_KINDS],
        "grant": _choice(form.get("grant"), ("grant", "block", "none")),
        "controls": [c for c in form.all("controls") if c in GRANT_KINDS],
        "terms": form.all("terms"),
        "operator": form.get("operator"),
        "frequency": "on" if form.flag("frequency") else "",
        "frequency_kind": form.get("frequency_kind"),
        "frequency_value": form.get("frequency_value").strip()[:10],
        "frequency_unit": form.get("frequency_unit"),
        "browser": form.get("browser"),
    }


def _ids(kind: str, text: str, field: str, resolve: Resolver, errors: dict[str, str]) -> list[str]:
    out: list[str] = []
    for line in _lines(text):
        named = _ID_IN_LINE.search(line)
        found, problem = resolve(kind, named.group(1) if named else line)
        if found is None:
            errors.setdefault(field, problem or line)
        elif found not in out:
            out.append(found)
    return out


def _guest_rule(side: dict[str, Any], field: str, errors: dict[str, str], _: Callable[[str], str]) -> Any:
    if not side["guests"]:
        return None
    if not side["guest_types"]:
        errors.setdefault(field, _("Choose at least one kind of guest or external user."))
        return None
    tenants: dict[str, Any] = {"membershipKind": "all"}
    if side["tenants_mode"] == "listed":
        tenants = {
            "@odata.type": "#microsoft.graph.conditionalAccessEnumeratedExternalTenants",
            "membershipKind": "enumerated",
            "members": _lines(side["tenants"]),
        }
    return {"guestOrExternalUserTypes": ",".join(side["guest_types"]), "externalTenants": tenants}


def policy_body(
    values: dict[str, Any], resolve: Resolver, _: Callable[[str], str]
) -> tuple[dict[str, Any] | None, dict[str, str]]:
    """The Graph body for the posted ``values``, or the problems to show under the fields (by field name)."""
    errors: dict[str, str] = {}
    if not values["name"]:
        errors["name"] = _("Enter a name.")
    if values["state"] not in STATES:
        errors["state"] = _("Choose whether the policy is on, off or report-only.")
    users: dict[str, Any] = {}
    for prefix in ("include", "exclude"):
        side = values[prefix]
        users[f"{prefix}Users"] = _ids("users", side["users"], f"{prefix}_users", resolve, errors)
        users[f"{prefix}Groups"] = _ids("groups", side["groups"], f"{prefix}_groups", resolve, errors)
        users[f"{prefix}Roles"] = side["roles"]
        users[f"{prefix}GuestsOrExternalUsers"] = _guest_rule(side, f"{prefix}_guests", errors, _)
    if values["users_scope"] in ("all", "none"):
        users["includeUsers"] = [ALL if values["users_scope"] == "all" else NONE]
        users["includeGroups"], users["includeRoles"], users["includeGuestsOrExternalUsers"] = [], [], None
    elif not (
        users["includeUsers"]
        or users["includeGroups"]
        or users["includeRoles"]
        or users["includeGuestsOrExternalUsers"]
        or "include_users" in errors
        or "include_groups" in errors
        or "include_guests" in errors
    ):
        errors["users_scope"] = _("Choose who the policy applies to: users, groups, roles or guests.")
    scope = values["apps_scope"]
    if scope == "select" and not values["include_apps"]:
        errors["apps_scope"] = _("Choose at least one application.")
    apps = {
        "includeApplications": [ALL] if scope == "all" else [NONE] if scope == "none" else values["include_apps"],
        "excludeApplications": values["exclude_apps"],
    }
    conditions: dict[str, Any] = {
        "users": users,
        "applications": apps,
        "clientAppTypes": values["client_types"] or ["all"],
    }
    loc = values["loc_scope"]
    if loc != "any":
        include = {"all": [ALL], "trusted": [ALL_TRUSTED]}.get(loc, values["include_locations"])
        if not include:
            errors["loc_scope"] = _("Choose at least one named location.")
        exclude = ([ALL_TRUSTED] if values["exclude_trusted"] else []) + values["exclude_locations"]
        conditions["locations"] = {"includeLocations": include, "excludeLocations": exclude}
    if values["platforms"] or values["exclude_platforms"]:
        conditions["platforms"] = {
            "includePlatforms": values["platforms"] or ["all"],
            "excludePlatforms": values["exclude_platforms"],
        }
    grant: dict[str, Any] | None = None
    if values["grant"] == "block":
        grant = {"operator": "OR", "builtInControls": ["block"]}
    elif values["grant"] == "grant":
        if not (values["controls"] or values["terms"]):
            errors["grant"] = _("Choose at least one control to require.")
        operator = values["operator"] if values["operator"] in ("AND", "OR") else "OR"
        grant = {"operator": operator, "builtInControls": values["controls"], "termsOfUse": values["terms"]}
    session: dict[str, Any] = {}
    if values["frequency"]:
        if values["frequency_kind"] == "everyTime":
            session["signInFrequency"] = {"isEnabled": True, "frequencyInterval": "everyTime"}
        else:
            amount = values["frequency_value"]
            unit = values["frequency_unit"] if values["frequency_unit"] in ("hours", "days") else "hours"
            limit = 365 if unit == "days" else 23
            if not amount.isdigit() or not 1 <= int(amount) <= limit:
                errors["frequency_value"] = _("Enter a whole number from 1 to %(num)d.") % {"num": limit}
            else:
                session["signInFrequency"] = {
                    "isEnabled": True,
                    "frequencyInterval": "timeBased",
                    "type": unit,
                    "value": int(amount),
                }
    if values["browser"] in ("always", "never"):
        session["persistentBrowser"] = {"isEnabled": True, "mode": values["browser"]}
    if grant is None and not session and "grant" not in errors:
        errors["grant"] = _("Choose a grant control or a session control.")
    if errors:
        return None, errors
    body = {
        "displayName": values["name"],
        "description": values["description"] or None,
        "state": values["state"],
        "conditions": conditions,
        "grantControls": grant,
        "sessionControls": session or None,
    }
    return body, {}


# A service error's target (the Graph member it names) → the form field it is shown under.
ERROR_FIELDS = {
    "displayName": "name",
    "description": "description",
    "state": "state",
    "conditions.users": "users_scope",
    "conditions.users.includeUsers": "include_users",
    "conditions.users.excludeUsers": "exclude_users",
    "conditions.users.includeRoles": "users_scope",
    "conditions.users.excludeRoles": "users_scope",
    "conditions.users.include…": "include_guests",
    "conditions.users.include….externalTenants": "include_guests",
    "conditions.users.include….externalTenants.members": "include_guests",
    "conditions.users.exclude…": "exclude_guests",
    "conditions.users.exclude….externalTenants": "exclude_guests",
    "conditions.users.exclude….externalTenants.members": "exclude_guests",
    "conditions.applications": "apps_scope",
    "conditions.applications.includeApplications": "apps_scope",
    "conditions.applications.excludeApplications": "apps_scope",
    "conditions.locations": "loc_scope",
    "conditions.platforms": "platforms",
    "grantControls": "grant",
    "grantControls.builtInControls": "grant",
    "grantControls.termsOfUse": "grant",
    "sessionControls.signInFrequency": "frequency_value",
}

__all__ = ["ADMIN_PORTALS", "ERROR_FIELDS", "GUEST_KINDS", "policy_body", "posted_values", "values_of"]
