"""Cross-tenant access settings as Graph writes them: the default configuration, a partner's configuration and
its identity synchronization policy. Pure validation and defaults; storage and the rules that act on them live in
``services/cross_tenant_policy.py``.

A partner's settings are stored as the wire values the admin wrote (``None``: inherit from the default). The
default configuration is the service default until an admin changes it.
"""

from __future__ import annotations

import copy
import re
from typing import Any

from hospes.domain.errors import InvalidInputError

B2B_SETTINGS = (
    "b2bCollaborationInbound",
    "b2bCollaborationOutbound",
    "b2bDirectConnectInbound",
    "b2bDirectConnectOutbound",
)
TRUST_FLAGS = ("isMfaAccepted", "isCompliantDeviceAccepted", "isHybridAzureADJoinedDeviceAccepted")
CLOUD_ENDPOINTS = ("microsoftonline.us", "partner.microsoftonline.cn")
ACCESS_TYPES = ("allowed", "blocked")
TARGET_TYPES = ("user", "group", "application")
PRIMARY_IDPS = ("azureActiveDirectory", "externalFederation", "socialIdentityProviders")
FALLBACK_IDPS = ("defaultConfiguredIdp", "emailOneTimePasscode", "microsoftAccount")
# Graph application templates Hospes can instantiate: id -> (what it is, the user app roles its app gets). The
# cross-tenant synchronization configuration is an app from this template, its users assigned with msiam_access.
CROSS_TENANT_SYNC_TEMPLATE = "518e5f48-1fc8-4c48-9387-9fdf28b0dfe7"
APPLICATION_TEMPLATES: dict[str, tuple[str, tuple[str, ...]]] = {
    CROSS_TENANT_SYNC_TEMPLATE: ("Cross-tenant synchronization configuration", ("msiam_access",)),
}
_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
MAX_TARGETS = 500


def _targets(value: str, kind: str) -> dict[str, Any]:
    return {"accessType": value, "targets": [{"target": kind, "targetType": kind_type(kind)}]}


def kind_type(kind: str) -> str:
    return "user" if kind == "AllUsers" else "application"


def _b2b(access: str) -> dict[str, Any]:
    return {"usersAndGroups": _targets(access, "AllUsers"), "applications": _targets(access, "AllApplications")}


def service_default() -> dict[str, Any]:
    """The default configuration of a tenant whose admin never changed it."""
    return {
        "inboundTrust": {flag: False for flag in TRUST_FLAGS},
        "b2bCollaborationInbound": _b2b("allowed"),
        "b2bCollaborationOutbound": _b2b("allowed"),
        "b2bDirectConnectInbound": _b2b("blocked"),
        "b2bDirectConnectOutbound": _b2b("blocked"),
        "invitationRedemptionIdentityProviderConfiguration": {
            "primaryIdentityProviderPrecedenceOrder": list(PRIMARY_IDPS),
            "fallbackIdentityProvider": "defaultConfiguredIdp",
        },
        "tenantRestrictions": {
            "usersAndGroups": _targets("blocked", "AllUsers"),
            "applications": _targets("blocked", "AllApplications"),
        },
    }


def tenant_id_of(value: Any) -> str:
    if not isinstance(value, str) or not _GUID.match(value):
        raise InvalidInputError("'tenantId' must be a tenant id (a GUID).", target="tenantId")
    return value.lower()


def _object(value: Any, name: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InvalidInputError(f"'{name}' must be an object.", target=name)
    return {k: v for k, v in value.items() if k != "@odata.type"}


def _only(value: dict[str, Any], allowed: tuple[str, ...], name: str) -> None:
    for key in value:
        if key not in allowed:
            raise InvalidInputError(f"Property '{key}' does not exist on '{name}'.", target=name)


def _bool_or_none(value: Any, name: str) -> bool | None:
    if value is not None and not isinstance(value, bool):
        raise InvalidInputError(f"'{name}' must be true, false or null.", target=name)
    return value


def _target_configuration(value: Any, name: str) -> dict[str, Any]:
    config = _object(value, name)
    _only(config, ("accessType", "targets"), name)
    if config.get("accessType") not in ACCESS_TYPES:
        raise InvalidInputError(f"'{name}.accessType' must be one of {', '.join(ACCESS_TYPES)}.", target=name)
    targets = config.get("targets")
    if not isinstance(targets, list) or not targets or len(targets) > MAX_TARGETS:
        raise InvalidInputError(f"'{name}.targets' must be a list of 1 to {MAX_TARGETS} targets.", target=name)
    clean = []
    for item in targets:
        entry = _object(item, f"{name}.targets")
        _only(entry, ("target", "targetType"), f"{name}.targets")
        if entry.get("targetType") not in TARGET_TYPES or not isinstance(entry.get("target"), str):
            raise InvalidInputError(
                f"Each of '{name}.targets' needs a 'target' and a 'targetType' ({', '.join(TARGET_TYPES)}).",
                target=name,
            )
        if not entry["target"] or len(entry["target"]) > 64:
            raise InvalidInputError(f"'{name}.targets' holds an empty or too long target.", target=name)
        clean.append({"target": entry["target"], "targetType": entry["targetType"]})
    return {"accessType": config["accessType"], "targets": clean}


def b2b_setting(value: Any, name: str) -> dict[str, Any] | None:
    """``crossTenantAccessPolicyB2BSetting`` (also the shape of ``tenantRestrictions``); null inherits."""
    if value is None:
        return None
    setting = _object(value, name)
    _only(setting, ("usersAndGroups", "applications"), name)
    return {key: _target_configuration(setting[key], f"{name}.{key}") for key in setting if setting[key] is not None}


def inbound_trust(value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    trust = _object(value, "inboundTrust")
    _only(trust, TRUST_FLAGS, "inboundTrust")
    return {flag: bool(_bool_or_none(trust.get(flag), f"inboundTrust.{flag}")) for flag in TRUST_FLAGS}


def redemption_configuration(value: Any) -> dict[str, Any] | None:
    name = "invitationRedemptionIdentityProviderConfiguration"
    if value is None:
        return None
    config = _object(value, name)
    _only(config, ("primaryIdentityProviderPrecedenceOrder", "fallbackIdentityProvider"), name)
    order = config.get("primaryIdentityProviderPrecedenceOrder") or []
    if not isinstance(order, list) or any(p not in PRIMARY_IDPS for p in order) or len(set(order)) != len(order):
        raise InvalidInputError(
            f"'primaryIdentityProviderPrecedenceOrder' lists distinct values of {', '.join(PRIMARY_IDPS)}.",
            target=name,
        )
    fallback = config.get("fallbackIdentityProvider", "defaultConfiguredIdp")
    if fallback not in FALLBACK_IDPS:
        raise InvalidInputError(f"'fallbackIdentityProvider' must be one of {', '.join(FALLBACK_IDPS)}.", target=name)
    return {"primaryIdentityProviderPrecedenceOrder": order, "fallbackIdentityProvider": fallback}


def consent_settings(value: Any) -> tuple[bool | None, bool | None, set[str]]:
    """``automaticUserConsentSettings``: the two flags and which of them the body names (a PATCH changes only
    those)."""
    if value is None:
        return None, None, {"inboundAllowed", "outboundAllowed"}
    settings = _object(value, "automaticUserConsentSettings")
    _only(settings, ("inboundAllowed", "outboundAllowed"), "automaticUserConsentSettings")
    inbound = _bool_or_none(settings.get("inboundAllowed"), "automaticUserConsentSettings.inboundAllowed")
    outbound = _bool_or_none(settings.get("outboundAllowed"), "automaticUserConsentSettings.outboundAllowed")
    return inbound, outbound, set(settings)


def partner_settings(body: dict[str, Any]) -> dict[str, Any]:
    """The verbatim settings a partner body names, validated; unknown or read-only names are refused."""
    out: dict[str, Any] = {}
    for key, value in body.items():
        if key in ("@odata.type", "tenantId", "automaticUserConsentSettings", "isInMultiTenantOrganization"):
            continue
        if key == "isServiceProvider":
            out[key] = _bool_or_none(value, key)
        elif key == "inboundTrust":
            out[key] = inbound_trust(value)
        elif key in B2B_SETTINGS or key == "tenantRestrictions":
            out[key] = b2b_setting(value, key)
        elif key == "identitySynchronization":
            raise InvalidInputError(
                "Set 'identitySynchronization' with PUT on the partner's identitySynchronization.", target=key
            )
        else:
            raise InvalidInputError(
                f"Property '{key}' does not exist on type "
                "'microsoft.graph.crossTenantAccessPolicyConfigurationPartner'.",
                target=key,
            )
    return out


def default_settings(body: dict[str, Any], current: dict[str, Any]) -> dict[str, Any]:
    """The default configuration after a PATCH with ``body``; its automatic consent stays false."""
    out = copy.deepcopy(current)
    for key, value in body.items():
        if key in ("@odata.type", "isServiceDefault"):
            continue
        if key == "automaticUserConsentSettings":
            inbound, outbound, _ = consent_settings(value)
            if inbound or outbound:
                raise InvalidInputError(
                    "Automatic redemption is set per partner organization; the default configuration keeps it off.",
                    target=key,
                )
        elif key == "inboundTrust":
            out[key] = inbound_trust(value) or service_default()[key]
        elif key in B2B_SETTINGS or key == "tenantRestrictions":
            out[key] = b2b_setting(value, key) or service_default()[key]
        elif key == "invitationRedemptionIdentityProviderConfiguration":
            out[key] = redemption_configuration(value) or service_default()[key]
        else:
            raise InvalidInputError(
                f"Property '{key}' does not exist on type "
                "'microsoft.graph.crossTenantAccessPolicyConfigurationDefault'.",
                target=key,
            )
    return out


def sync_policy(body: Any, *, replace: bool) -> tuple[str | None, bool | None, set[str]]:
    """``crossTenantIdentitySyncPolicyPartner``: display name, ``userSyncInbound.isSyncAllowed`` and the names
    the body gives (PUT replaces both, PATCH only those named)."""
    if not isinstance(body, dict):
        raise InvalidInputError("The request body must be a JSON object.")
    named: set[str] = set()
    name: str | None = None
    allowed: bool | None = None
    for key, value in body.items():
        if key in ("@odata.type", "tenantId"):
            continue
        if key == "displayName":
            if value is not None and (not isinstance(value, str) or len(value) > 256):
                raise InvalidInputError("'displayName' must be a string of at most 256 characters.", target=key)
            name = value
        elif key == "userSyncInbound":
            if value is None:
                allowed = None
            else:
                inbound = _object(value, key)
                _only(inbound, ("isSyncAllowed",), key)
                allowed = _bool_or_none(inbound.get("isSyncAllowed"), "userSyncInbound.isSyncAllowed")
        else:
            raise InvalidInputError(
                f"Property '{key}' does not exist on type 'microsoft.graph.crossTenantIdentitySyncPolicyPartner'.",
                target=key,
            )
        named.add(key)
    if replace:
        named |= {"displayName", "userSyncInbound"}
    return name, allowed, named


def cloud_endpoints(value: Any) -> list[str]:
    if not isinstance(value, list) or any(v not in CLOUD_ENDPOINTS for v in value):
        raise InvalidInputError(
            f"'allowedCloudEndpoints' lists values of {', '.join(CLOUD_ENDPOINTS)}.", target="allowedCloudEndpoints"
        )
    return sorted(set(value))


def collaboration_allowed(setting: dict[str, Any] | None, person: set[str], app_id: str | None) -> bool:
    """Whether a B2B collaboration setting (a tenant's inbound or outbound one) lets this person use this app.

    ``person``: the person's object id and the ids of their groups (lower case); ``app_id`` None: Hospes's own
    pages (My Apps, the account pages). The setting names people (or all users) and apps (or all applications):
    "allowed" lets in exactly the named people to the named apps; "blocked" keeps exactly them out of those apps
    and lets everyone else in. Hospes's own pages are named by "all applications" only, so a setting that allows
    some apps never shuts a guest out of My Apps, and one that blocks some apps doesn't either."""
    if setting is None:
        return True
    people = setting.get("usersAndGroups") or {}
    apps = setting.get("applications") or {}
    access = people.get("accessType") or apps.get("accessType") or "allowed"

    def named(config: dict[str, Any], keys: set[str], everyone: str) -> bool:
        if not config:
            return True
        targets = {str(t.get("target", "")).lower() for t in config.get("targets") or []}
        return everyone.lower() in targets or bool(targets & keys)

    person_named = named(people, person, "AllUsers")
    if app_id is None:
        app_named = access == "allowed" or named(apps, set(), "AllApplications")
    else:
        app_named = named(apps, {app_id.lower()}, "AllApplications")
    both = person_named and app_named
    return both if access == "allowed" else not both


def names_groups(setting: dict[str, Any] | None) -> bool:
    """Whether a B2B collaboration setting lists groups (then a person's groups must be read to apply it)."""
    targets = ((setting or {}).get("usersAndGroups") or {}).get("targets") or []
    return any(t.get("targetType") == "group" for t in targets)
