"""The shape of a conditional-access policy and of a named location, as Graph writes and answers them: validation
of a create or update body into the stored form, and the stored form back to the wire. No I/O; the evaluation of
policies against a sign-in is ``hospes.domain.ca_evaluation``.

A policy is stored as Graph shapes it (``conditions``, ``grantControls``, ``sessionControls``), normalized: every
list present, unknown members refused, so the evaluator and the answers read one complete form.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any

from hospes.domain.errors import InvalidInputError

ENABLED, DISABLED, REPORT_ONLY = "enabled", "disabled", "enabledForReportingButNotEnforced"
STATES = (ENABLED, DISABLED, REPORT_ONLY)
ALL, NONE, ALL_TRUSTED, GUESTS = "All", "None", "AllTrusted", "GuestsOrExternalUsers"
# The portal of the deployment (Graph's "Microsoft Admin Portals"), named as an application in conditions.
ADMIN_PORTALS = "MicrosoftAdminPortals"
CLIENT_APP_TYPES = ("all", "browser", "mobileAppsAndDesktopClients", "exchangeActiveSync", "easSupported", "other")
BUILT_IN_CONTROLS = (
    "block",
    "mfa",
    "compliantDevice",
    "domainJoinedDevice",
    "approvedApplication",
    "compliantApplication",
    "passwordChange",
    "riskRemediation",
)
PLATFORMS = ("android", "iOS", "windows", "windowsPhone", "macOS", "linux", "all")
GUEST_TYPES = (
    "none",
    "internalGuest",
    "b2bCollaborationGuest",
    "b2bCollaborationMember",
    "b2bDirectConnectUser",
    "otherExternalUser",
    "serviceProvider",
)
RISK_LEVELS = ("low", "medium", "high", "hidden", "none", "unknownFutureValue")
USER_LISTS = ("includeUsers", "excludeUsers", "includeGroups", "excludeGroups", "includeRoles", "excludeRoles")
IP_TYPE, COUNTRY_TYPE = "#microsoft.graph.ipNamedLocation", "#microsoft.graph.countryNamedLocation"
V4_RANGE, V6_RANGE = "#microsoft.graph.iPv4CidrRange", "#microsoft.graph.iPv6CidrRange"
ALL_TENANTS = "#microsoft.graph.conditionalAccessAllExternalTenants"
LISTED_TENANTS = "#microsoft.graph.conditionalAccessEnumeratedExternalTenants"
MAX_ITEMS = 2000
_GUID = re.compile(r"^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")
_COUNTRY = re.compile(r"^[A-Z]{2}$")
POLICY_TYPE = "microsoft.graph.conditionalAccessPolicy"


def _bad(message: str, target: str) -> InvalidInputError:
    return InvalidInputError(message, target=target)


def _obj(value: Any, where: str, allowed: tuple[str, ...]) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _bad(f"'{where}' must be an object.", where)
    for key in value:
        if key != "@odata.type" and key not in allowed:
            raise _bad(f"Property '{key}' does not exist on '{where}'.", f"{where}.{key}")
    return value


def _strings(value: Any, where: str, choices: tuple[str, ...] | None = None, *, ids: tuple[str, ...] = ()) -> list[str]:
    """A list of strings; ``choices``: the enum it must come from; ``ids``: the keywords allowed beside GUIDs."""
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _bad(f"'{where}' must be an array of strings.", where)
    if len(value) > MAX_ITEMS:
        raise _bad(f"'{where}' holds more than {MAX_ITEMS} values.", where)
    out: list[str] = []
    for item in value:
        if choices is not None and item not in choices:
            raise _bad(f"Invalid value '{item}' in '{where}'; expected one of {', '.join(choices)}.", where)
        if choices is None and item not in ids and not _GUID.match(item):
            allowed = f" or one of {', '.join(ids)}" if ids else ""
            raise _bad(f"Invalid value '{item}' in '{where}': expected an object id{allowed}.", where)
        if item not in out:
            out.append(item.lower() if _GUID.match(item) else item)
    return out


def parse_guest_types(value: Any, where: str) -> list[str]:
    """``guestOrExternalUserTypes``: a flags enum, comma-separated on the wire."""
    if not isinstance(value, str) or not value.strip():
        raise _bad(f"'{where}' must name at least one guest or external user type.", where)
    names = [v.strip() for v in value.split(",")]
    for name in names:
        if name not in GUEST_TYPES:
            raise _bad(f"Invalid value '{name}' in '{where}'; expected {', '.join(GUEST_TYPES)}.", where)
    return [t for t in GUEST_TYPES if t in names and t != "none"]


def _guests(value: Any, where: str) -> dict[str, Any] | None:
    if value is None:
        return None
    body = _obj(value, where, ("guestOrExternalUserTypes", "externalTenants"))
    types = parse_guest_types(body.get("guestOrExternalUserTypes"), f"{where}.guestOrExternalUserTypes")
    tenants = body.get("externalTenants")
    out_tenants: dict[str, Any] = {"@odata.type": ALL_TENANTS, "membershipKind": "all"}
    if tenants is not None:
        tenants = _obj(tenants, f"{where}.externalTenants", ("membershipKind", "members"))
        kind = tenants.get("membershipKind")
        if kind == "enumerated" or tenants.get("@odata.type") == LISTED_TENANTS:
            members = _strings(tenants.get("members"), f"{where}.externalTenants.members")
            if not members:
                raise _bad("An enumerated externalTenants must list tenant ids.", f"{where}.externalTenants.members")
            out_tenants = {"@odata.type": LISTED_TENANTS, "membershipKind": "enumerated", "members": members}
        elif kind not in (None, "all"):
            raise _bad(f"Invalid membershipKind '{kind}'; expected all or enumerated.", f"{where}.externalTenants")
    return {"guestOrExternalUserTypes": ",".join(types), "externalTenants": out_tenants}


def _users(value: Any) -> dict[str, Any]:
    where = "conditions.users"
    body = _obj(value, where, (*USER_LISTS, "includeGuestsOrExternalUsers", "excludeGuestsOrExternalUsers"))
    out: dict[str, Any] = {}
    for name in USER_LISTS:
        ids = (ALL, NONE, GUESTS) if name == "includeUsers" else (GUESTS,) if name == "excludeUsers" else ()
        out[name] = _strings(body.get(name), f"{where}.{name}", ids=ids)
    out["includeGuestsOrExternalUsers"] = _guests(body.get("includeGuestsOrExternalUsers"), f"{where}.include…")
    out["excludeGuestsOrExternalUsers"] = _guests(body.get("excludeGuestsOrExternalUsers"), f"{where}.exclude…")
    if not (out["includeUsers"] or out["includeGroups"] or out["includeRoles"] or out["includeGuestsOrExternalUsers"]):
        raise _bad("conditions.users must include users, groups, roles or guests ('None' to apply to nobody).", where)
    return out


def _applications(value: Any) -> dict[str, Any]:
    where = "conditions.applications"
    body = _obj(
        value,
        where,
        (
            "includeApplications",
            "excludeApplications",
            "includeUserActions",
            "includeAuthenticationContextClassReferences",
            "applicationFilter",
        ),
    )
    keywords = (ALL, NONE, ADMIN_PORTALS, "Office365")
    out: dict[str, Any] = {
        "includeApplications": _strings(body.get("includeApplications"), f"{where}.includeApplications", ids=keywords),
        "excludeApplications": _strings(body.get("excludeApplications"), f"{where}.excludeApplications", ids=keywords),
        "includeUserActions": _strings(
            body.get("includeUserActions"),
            f"{where}.includeUserActions",
            ("urn:user:registersecurityinfo", "urn:user:registerdevice"),
        ),
        "includeAuthenticationContextClassReferences": _strings(
            body.get("includeAuthenticationContextClassReferences"),
            f"{where}.includeAuthenticationContextClassReferences",
            tuple(f"c{n}" for n in range(1, 100)),
        ),
        "applicationFilter": None,
    }
    if not (out["includeApplications"] or out["includeUserActions"]):
        raise _bad("conditions.applications must include applications ('All', 'None' or app ids).", where)
    return out


def _locations(value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    where = "conditions.locations"
    body = _obj(value, where, ("includeLocations", "excludeLocations"))
    out = {
        name: _strings(body.get(name), f"{where}.{name}", ids=(ALL, ALL_TRUSTED))
        for name in ("includeLocations", "excludeLocations")
    }
    if not out["includeLocations"]:
        raise _bad("conditions.locations.includeLocations must not be empty ('All' for anywhere).", where)
    return out


def _platforms(value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    where = "conditions.platforms"
    body = _obj(value, where, ("includePlatforms", "excludePlatforms"))
    out = {
        name: _strings(body.get(name), f"{where}.{name}", PLATFORMS)
        for name in ("includePlatforms", "excludePlatforms")
    }
    if not out["includePlatforms"]:
        raise _bad("conditions.platforms.includePlatforms must not be empty ('all' for every platform).", where)
    return out


def parse_conditions(value: Any) -> dict[str, Any]:
    body = _obj(
        value,
        "conditions",
        (
            "users",
            "applications",
            "clientAppTypes",
            "locations",
            "platforms",
            "signInRiskLevels",
            "userRiskLevels",
            "servicePrincipalRiskLevels",
            "clientApplications",
            "devices",
            "insiderRiskLevels",
            "authenticationFlows",
        ),
    )
    if body.get("users") is None:
        raise _bad("conditions.users is required.", "conditions.users")
    if body.get("applications") is None:
        raise _bad("conditions.applications is required.", "conditions.applications")
    return {
        "users": _users(body["users"]),
        "applications": _applications(body["applications"]),
        "clientAppTypes": _strings(body.get("clientAppTypes"), "conditions.clientAppTypes", CLIENT_APP_TYPES)
        or ["all"],
        "locations": _locations(body.get("locations")),
        "platforms": _platforms(body.get("platforms")),
        **{
            name: _strings(body.get(name), f"conditions.{name}", RISK_LEVELS)
            for name in ("signInRiskLevels", "userRiskLevels", "servicePrincipalRiskLevels")
        },
        "clientApplications": None,
        "devices": None,
    }


def parse_grant(value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    where = "grantControls"
    body = _obj(
        value,
        where,
        ("operator", "builtInControls", "customAuthenticationFactors", "termsOfUse", "authenticationStrength"),
    )
    operator = body.get("operator") or "OR"
    if operator not in ("AND", "OR"):
        raise _bad(f"Invalid value '{operator}' for 'grantControls.operator'; expected AND or OR.", where)
    controls = _strings(body.get("builtInControls"), f"{where}.builtInControls", BUILT_IN_CONTROLS)
    terms = _strings(body.get("termsOfUse"), f"{where}.termsOfUse")
    factors = body.get("customAuthenticationFactors") or []
    if not isinstance(factors, list) or not all(isinstance(f, str) for f in factors):
        raise _bad("'grantControls.customAuthenticationFactors' must be an array of strings.", where)
    if "block" in controls and (len(controls) > 1 or terms or factors):
        raise _bad("The block control can't be combined with other grant controls.", f"{where}.builtInControls")
    if not (controls or terms or factors):
        raise _bad("grantControls must name at least one control.", f"{where}.builtInControls")
    return {
        "operator": operator,
        "builtInControls": controls,
        "customAuthenticationFactors": factors,
        "termsOfUse": terms,
    }


def _frequency(value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    where = "sessionControls.signInFrequency"
    body = _obj(value, where, ("isEnabled", "type", "value", "authenticationType", "frequencyInterval"))
    enabled = body.get("isEnabled", True)
    interval = body.get("frequencyInterval") or "timeBased"
    unit, amount = body.get("type"), body.get("value")
    if not isinstance(enabled, bool):
        raise _bad("'isEnabled' must be a boolean.", where)
    if interval not in ("timeBased", "everyTime"):
        raise _bad(f"Invalid frequencyInterval '{interval}'; expected timeBased or everyTime.", where)
    if interval == "timeBased" and enabled:
        if unit not in ("days", "hours"):
            raise _bad("signInFrequency.type must be days or hours.", where)
        limit = 365 if unit == "days" else 23
        if isinstance(amount, bool) or not isinstance(amount, int) or not 1 <= amount <= limit:
            raise _bad(f"signInFrequency.value must be a whole number of {unit} from 1 to {limit}.", where)
    kind = body.get("authenticationType") or "primaryAndSecondaryAuthentication"
    if kind not in ("primaryAndSecondaryAuthentication", "secondaryAuthentication"):
        raise _bad(f"Invalid authenticationType '{kind}'.", where)
    return {
        "isEnabled": enabled,
        "type": unit if interval == "timeBased" else None,
        "value": amount if interval == "timeBased" else None,
        "authenticationType": kind,
        "frequencyInterval": interval,
    }


def parse_session(value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    where = "sessionControls"
    stored = (
        "applicationEnforcedRestrictions",
        "cloudAppSecurity",
        "disableResilienceDefaults",
        "secureSignInSession",
    )
    body = _obj(value, where, ("signInFrequency", "persistentBrowser", *stored))
    browser = body.get("persistentBrowser")
    if browser is not None:
        browser = _obj(browser, f"{where}.persistentBrowser", ("isEnabled", "mode"))
        if browser.get("mode") not in ("always", "never"):
            raise _bad("persistentBrowser.mode must be always or never.", f"{where}.persistentBrowser")
        browser = {"isEnabled": bool(browser.get("isEnabled", True)), "mode": browser["mode"]}
    # Kept as given (Hospes has nothing to enforce them with), so a script that sets them reads them back.
    return {
        "signInFrequency": _frequency(body.get("signInFrequency")),
        "persistentBrowser": browser,
        **{name: body.get(name) for name in stored},
    }


POLICY_WRITABLE = (
    "displayName",
    "description",
    "state",
    "templateId",
    "conditions",
    "grantControls",
    "sessionControls",
)
POLICY_READ_ONLY = ("id", "createdDateTime", "modifiedDateTime")


def merge(old: Any, new: Any) -> Any:
    """An update body's structured values patch the stored ones member by member; arrays and scalars replace."""
    if isinstance(old, dict) and isinstance(new, dict):
        out = dict(old)
        for key, value in new.items():
            out[key] = merge(old.get(key), value)
        return out
    return new


def parse_policy(body: Any, stored: dict[str, Any] | None = None) -> dict[str, Any]:
    """A create body (``stored`` None) or an update body patched onto ``stored`` (the wire form without ids and
    dates): the complete, normalized policy, or InvalidInputError naming the first wrong member."""
    if not isinstance(body, dict):
        raise InvalidInputError("The request body must be a JSON object.")
    for key in body:
        if key in POLICY_READ_ONLY:
            raise _bad(f"Property '{key}' is read-only and cannot be set.", key)
        if key != "@odata.type" and key not in POLICY_WRITABLE:
            raise _bad(f"Property '{key}' does not exist on type '{POLICY_TYPE}'.", key)
    if body.get("@odata.type") not in (None, f"#{POLICY_TYPE}", POLICY_TYPE):
        raise _bad(f"The type must be {POLICY_TYPE}.", "@odata.type")
    merged = merge(stored or {}, {k: v for k, v in body.items() if k != "@odata.type"})
    name = merged.get("displayName")
    if not isinstance(name, str) or not name.strip():
        raise _bad("'displayName' is required.", "displayName")
    if len(name) > 256:
        raise _bad("'displayName' is longer than 256 characters.", "displayName")
    state = merged.get("state")
    if state not in STATES:
        raise _bad(f"Invalid value '{state}' for property 'state'; expected one of {', '.join(STATES)}.", "state")
    description, template = merged.get("description"), merged.get("templateId")
    if description is not None and (not isinstance(description, str) or len(description) > 1024):
        raise _bad("'description' must be a string of at most 1024 characters.", "description")
    if template is not None and not (isinstance(template, str) and _GUID.match(template)):
        raise _bad("'templateId' must be a template id.", "templateId")
    if merged.get("conditions") is None:
        raise _bad("'conditions' is required.", "conditions")
    policy = {
        "displayName": name.strip(),
        "description": description,
        "state": state,
        "templateId": template,
        "conditions": parse_conditions(merged["conditions"]),
        "grantControls": parse_grant(merged.get("grantControls")),
        "sessionControls": parse_session(merged.get("sessionControls")),
    }
    if policy["grantControls"] is None and not any((policy["sessionControls"] or {}).values()):
        raise _bad("A policy needs grant controls or session controls.", "grantControls")
    return policy


def location_ids(policy: dict[str, Any]) -> set[str]:
    """The named locations a stored policy refers to (not the keywords)."""
    locations = policy["conditions"].get("locations") or {}
    named = [*locations.get("includeLocations", []), *locations.get("excludeLocations", [])]
    return {item for item in named if item not in (ALL, ALL_TRUSTED)}


def _ranges(value: Any) -> list[dict[str, str]]:
    where = "ipRanges"
    if not isinstance(value, list) or not value:
        raise _bad("'ipRanges' must be a non-empty array of CIDR ranges.", where)
    if len(value) > MAX_ITEMS:
        raise _bad(f"'ipRanges' holds more than {MAX_ITEMS} ranges.", where)
    out = []
    for item in value:
        item = _obj(item, where, ("cidrAddress",))
        cidr = item.get("cidrAddress")
        try:
            network = ipaddress.ip_network(cidr if isinstance(cidr, str) else "", strict=False)
        except ValueError:
            raise _bad(f"'{cidr}' is not a CIDR range such as 192.0.2.0/24 or 2001:db8::/48.", where) from None
        kind = V4_RANGE if network.version == 4 else V6_RANGE
        if item.get("@odata.type") not in (None, kind):
            raise _bad(f"'{cidr}' is not an address range of type {item.get('@odata.type')}.", where)
        if network.version == 4 and network.prefixlen < 8:
            raise _bad(f"'{cidr}': an IPv4 range's prefix must be /8 or longer.", where)
        out.append({"@odata.type": kind, "cidrAddress": str(network)})
    return out


def parse_location(body: Any, stored: dict[str, Any] | None = None) -> dict[str, Any]:
    """A named location's create body (or update body patched onto ``stored``): ``@odata.type`` says which kind,
    and can't change on update."""
    if not isinstance(body, dict):
        raise InvalidInputError("The request body must be a JSON object.")
    kind = body.get("@odata.type") or (stored or {}).get("@odata.type")
    if stored is not None and kind != stored["@odata.type"]:
        raise _bad("The type of a named location cannot change.", "@odata.type")
    if kind not in (IP_TYPE, COUNTRY_TYPE):
        raise _bad(f"'@odata.type' must be {IP_TYPE} or {COUNTRY_TYPE}.", "@odata.type")
    own = (
        ("ipRanges", "isTrusted")
        if kind == IP_TYPE
        else (
            "countriesAndRegions",
            "countryLookupMethod",
            "includeUnknownCountriesAndRegions",
        )
    )
    for key in body:
        if key in POLICY_READ_ONLY:
            raise _bad(f"Property '{key}' is read-only and cannot be set.", key)
        if key not in ("@odata.type", "displayName", *own):
            raise _bad(f"Property '{key}' does not exist on type '{kind[1:]}'.", key)
    merged = {**(stored or {}), **body}
    name = merged.get("displayName")
    if not isinstance(name, str) or not name.strip() or len(name) > 256:
        raise _bad("'displayName' is required (at most 256 characters).", "displayName")
    if kind == IP_TYPE:
        trusted = merged.get("isTrusted", False)
        if not isinstance(trusted, bool):
            raise _bad("'isTrusted' must be a boolean.", "isTrusted")
        return {
            "@odata.type": kind,
            "displayName": name.strip(),
            "ipRanges": _ranges(merged.get("ipRanges")),
            "isTrusted": trusted,
        }
    countries = merged.get("countriesAndRegions")
    if not isinstance(countries, list) or not all(isinstance(c, str) and _COUNTRY.match(c) for c in countries):
        raise _bad(
            "'countriesAndRegions' must be an array of two-letter country codes (ISO 3166).", "countriesAndRegions"
        )
    method = merged.get("countryLookupMethod") or "clientIpAddress"
    if method not in ("clientIpAddress", "authenticatorAppGps"):
        raise _bad("'countryLookupMethod' must be clientIpAddress or authenticatorAppGps.", "countryLookupMethod")
    unknown = merged.get("includeUnknownCountriesAndRegions", False)
    if not isinstance(unknown, bool):
        raise _bad("'includeUnknownCountriesAndRegions' must be a boolean.", "includeUnknownCountriesAndRegions")
    if not countries and not unknown:
        raise _bad("A country location needs countries or includeUnknownCountriesAndRegions.", "countriesAndRegions")
    return {
        "@odata.type": kind,
        "displayName": name.strip(),
        "countriesAndRegions": sorted(set(countries)),
        "countryLookupMethod": method,
        "includeUnknownCountriesAndRegions": unknown,
    }
