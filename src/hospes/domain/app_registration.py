"""What a relying party registers, checked the way Entra checks it: redirect URIs per platform, the logout URL,
identifier URIs, the group claim, requested permissions, published scopes and optional claims; and the single
sign-on settings of a service principal.

Redirect URIs (Entra's rules): absolute; ``https``, or plain ``http`` only on a loopback host (``localhost``,
``127.0.0.1``, ``[::1]``); no fragment, no wildcard, no ``! $ ' ( ) , ;``; at most 256 characters each and 256
per application across platforms. Custom schemes (``msal{appId}://auth``, ``com.example.app:/cb``) only for
public clients (``publicClient``), never a scheme a browser runs or reads (``javascript``, ``data``, ``file``).

A PATCH of a structured property (``web``, ``spa``, ``publicClient``, ``api``, ``implicitGrantSettings``) changes
the members it names and keeps the others (OData's rule for complex values); collections are replaced whole.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from hospes.domain.errors import InvalidInputError
from hospes.domain.ids import new_id

MAX_REDIRECT_URIS = 256
MAX_URI_LENGTH = 256
LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "[::1]", "::1"})
_FORBIDDEN_CHARS = frozenset("!$'(),;*")
_FORBIDDEN_SCHEMES = frozenset({"javascript", "data", "file", "blob", "vbscript", "about", "ftp", "ws", "wss"})
GROUP_CLAIM_VALUES = ("None", "SecurityGroup", "DirectoryRole", "ApplicationGroup", "All")
SSO_MODES = ("saml", "oidc", "notSupported")
MAX_RELAY_STATE = 80  # SAML bindings: RelayState MUST NOT exceed 80 bytes
# Entra's tag of an enterprise app that is not visible to users: My Apps shows no tile for it.
HIDE_APP = "HideApp"
PLATFORMS = {"web": "web_redirect_uris", "spa": "spa_redirect_uris", "publicClient": "public_client_redirect_uris"}


# Graph names of the application attributes that have no property of their own (for the audit log's detail).
APPLICATION_ATTR_NAMES = {
    "web_redirect_uris": "web.redirectUris",
    "spa_redirect_uris": "spa.redirectUris",
    "public_client_redirect_uris": "publicClient.redirectUris",
    "logout_url": "web.logoutUrl",
    "id_token_issuance": "web.implicitGrantSettings.enableIdTokenIssuance",
    "access_token_issuance": "web.implicitGrantSettings.enableAccessTokenIssuance",
    "oauth2_permission_scopes": "api.oauth2PermissionScopes",
}


class PlainError(InvalidInputError):
    """A fault with a sentence for people beside the API's message: ``template % params`` (``reason``), which a
    page can translate (the template is the catalog's message id)."""

    def __init__(self, message: str, template: str, params: dict[str, Any], target: str | None = None) -> None:
        super().__init__(message, target=target)
        self.template, self.params = template, params
        self.reason = template % params if params else template


class RegistrationError(PlainError):
    """Graph's 400 for a property of an application or service principal, followed by the reason."""

    def __init__(self, prop: str, resource: str, template: str, **params: Any) -> None:
        reason = template % params if params else template
        message = f"Invalid value specified for property '{prop}' of resource '{resource}'. {reason}"
        super().__init__(message, template, params, target=prop)


def _app_error(prop: str, template: str, **params: Any) -> RegistrationError:
    return RegistrationError(prop, "Application", template, **params)


def check_uri(value: Any, prop: str, *, custom_schemes: bool = False, resource: str = "Application") -> str:
    """One redirect or logout URI, or a RegistrationError saying what is wrong with it."""

    def bad(template: str, **params: Any) -> RegistrationError:
        return RegistrationError(prop, resource, template, **params)

    if not isinstance(value, str) or not value.strip():
        raise bad("Each URI must be a non-empty string.")
    if value != value.strip() or any(c.isspace() or ord(c) < 32 for c in value):
        raise bad("'%(uri)s' contains spaces or control characters.", uri=value)
    if len(value) > MAX_URI_LENGTH:
        raise bad("A URI can be at most %(num)d characters long.", num=MAX_URI_LENGTH)
    if "#" in value:
        raise bad("'%(uri)s' has a fragment (#...); redirect URIs cannot have one.", uri=value)
    if bad_chars := sorted(_FORBIDDEN_CHARS & set(value)):
        raise bad("'%(uri)s' contains characters that are not allowed: %(chars)s", uri=value, chars=" ".join(bad_chars))
    try:
        parts = urlsplit(value)
        host = parts.hostname
    except ValueError:
        raise bad("'%(uri)s' isn't a valid URI.", uri=value) from None
    scheme = parts.scheme.lower()
    if not scheme:
        raise bad("'%(uri)s' isn't an absolute URI (it needs https://...).", uri=value)
    if scheme in ("https", "http"):
        if not host:
            raise bad("'%(uri)s' has no host name.", uri=value)
        if scheme == "http" and host not in LOOPBACK_HOSTS:
            raise bad("'%(uri)s' must use https (plain http is allowed only for localhost and 127.0.0.1).", uri=value)
        if parts.username is not None or parts.password is not None:
            raise bad("'%(uri)s' contains a user name or password.", uri=value)
        return value
    if not custom_schemes:
        raise bad("'%(uri)s' must use https (custom schemes are allowed only for mobile and desktop apps).", uri=value)
    if scheme in _FORBIDDEN_SCHEMES:
        raise bad("The scheme '%(scheme)s' cannot be used for a redirect URI.", scheme=scheme)
    return value


def check_uri_list(value: Any, prop: str, *, custom_schemes: bool = False) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise _app_error(prop, "Expected a list of URIs.")
    out = [check_uri(v, prop, custom_schemes=custom_schemes) for v in value]
    if len(set(out)) != len(out):
        raise _app_error(prop, "The list contains the same URI twice.")
    return out


def check_identifier_uris(value: Any) -> list[str]:
    """Identifier URIs (application ID URIs, a SAML service provider's entity ids): absolute URIs of any scheme
    (``api://...``, ``https://...``, ``urn:...``), no wildcard, no fragment; unique within the tenant (checked by
    the service)."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise _app_error("identifierUris", "Expected a list of URIs.")
    out: list[str] = []
    for uri in value:
        if not isinstance(uri, str) or not uri.strip() or uri != uri.strip():
            raise _app_error("identifierUris", "Each identifier must be a non-empty string without spaces.")
        if len(uri) > MAX_URI_LENGTH or "*" in uri or "#" in uri or any(c.isspace() for c in uri):
            raise _app_error(
                "identifierUris",
                "'%(uri)s': at most %(num)d characters, no spaces, '*' or '#'.",
                uri=uri,
                num=MAX_URI_LENGTH,
            )
        scheme, sep, rest = uri.partition(":")
        if not sep or not scheme.isascii() or not scheme[:1].isalpha() or not rest:
            raise _app_error(
                "identifierUris", "'%(uri)s' isn't an absolute URI (e.g. api://..., https://..., urn:...).", uri=uri
            )
        out.append(uri)
    if len(set(out)) != len(out):
        raise _app_error("identifierUris", "The list contains the same identifier twice.")
    if len(out) > 50:
        raise _app_error("identifierUris", "An application can have at most %(num)d identifiers.", num=50)
    return out


def check_group_claims(value: Any) -> str | None:
    """``groupMembershipClaims``: ``None``, or a comma-separated combination of SecurityGroup, DirectoryRole,
    ApplicationGroup, or ``All``."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise _app_error("groupMembershipClaims", "Expected a string.")
    parts = [p.strip() for p in value.split(",") if p.strip()]
    known = {v.lower(): v for v in GROUP_CLAIM_VALUES}
    if not parts or any(p.lower() not in known for p in parts):
        raise _app_error(
            "groupMembershipClaims", "Use one or more of: %(values)s.", values=", ".join(GROUP_CLAIM_VALUES)
        )
    names = [known[p.lower()] for p in parts]
    if len(names) > 1 and ("None" in names or "All" in names):
        raise _app_error("groupMembershipClaims", "None and All cannot be combined with other values.")
    return ", ".join(dict.fromkeys(names))


def _guid(value: Any, prop: str) -> str:
    if isinstance(value, str):
        try:
            return str(uuid.UUID(value))
        except ValueError:
            pass
    raise _app_error(prop, "'%(value)s' isn't a GUID.", value=value)


def _members(value: Any, prop: str, allowed: set[str]) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _app_error(prop, "Expected an object.")
    body = {k: v for k, v in value.items() if k != "@odata.type"}
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise _app_error(prop, "Unsupported member(s): %(names)s.", names=", ".join(unknown))
    return body


def check_required_resource_access(value: Any) -> list[dict[str, Any]]:
    prop = "requiredResourceAccess"
    if value is None:
        return []
    if not isinstance(value, list):
        raise _app_error(prop, "Expected a list.")
    out = []
    for entry in value:
        body = _members(entry, prop, {"resourceAppId", "resourceAccess"})
        access = body.get("resourceAccess") or []
        if not isinstance(access, list):
            raise _app_error(prop, "resourceAccess must be a list.")
        items = []
        for item in access:
            grant = _members(item, prop, {"id", "type"})
            if grant.get("type") not in ("Scope", "Role"):
                raise _app_error(prop, "Each resourceAccess type must be Scope (delegated) or Role (application).")
            items.append({"id": _guid(grant.get("id"), prop), "type": grant["type"]})
        out.append({"resourceAppId": _guid(body.get("resourceAppId"), prop), "resourceAccess": items})
    return out


_SCOPE_TEXT = ("adminConsentDescription", "adminConsentDisplayName", "userConsentDescription", "userConsentDisplayName")


def check_permission_scopes(value: Any) -> list[dict[str, Any]]:
    """``api.oauth2PermissionScopes``: the delegated permissions an API publishes."""
    prop = "api.oauth2PermissionScopes"
    if value is None:
        return []
    if not isinstance(value, list):
        raise _app_error(prop, "Expected a list.")
    out, seen = [], set()
    for entry in value:
        body = _members(entry, prop, {"id", "value", "type", "isEnabled", "origin", *_SCOPE_TEXT})
        scope = body.get("value")
        if not isinstance(scope, str) or not scope or any(c.isspace() for c in scope) or scope.startswith("."):
            raise _app_error(prop, "Each scope needs a value without spaces (e.g. Files.Read).")
        if scope.lower() in seen:
            raise _app_error(prop, "The scope '%(scope)s' is declared twice.", scope=scope)
        seen.add(scope.lower())
        kind = body.get("type", "User")
        if kind not in ("User", "Admin"):
            raise _app_error(prop, "A scope's type is User or Admin.")
        enabled = body.get("isEnabled", True)
        if not isinstance(enabled, bool):
            raise _app_error(prop, "isEnabled must be true or false.")
        texts = {k: body.get(k) for k in _SCOPE_TEXT}
        if any(v is not None and not isinstance(v, str) for v in texts.values()):
            raise _app_error(prop, "Consent texts must be strings.")
        scope_id = _guid(body["id"], prop) if body.get("id") is not None else new_id()
        out.append({"id": scope_id, "value": scope, "type": kind, "isEnabled": enabled, **texts})
    return out


_API_UNSET = ("acceptMappedClaims", "knownClientApplications", "preAuthorizedApplications")
_CLAIM_KINDS = ("idToken", "accessToken", "saml2Token")


def check_optional_claims(value: Any) -> dict[str, Any] | None:
    prop = "optionalClaims"
    if value is None:
        return None
    body = _members(value, prop, set(_CLAIM_KINDS))
    out: dict[str, Any] = {}
    for kind in _CLAIM_KINDS:
        claims = body.get(kind) or []
        if not isinstance(claims, list):
            raise _app_error(prop, "%(kind)s must be a list.", kind=kind)
        items = []
        for claim in claims:
            entry = _members(claim, prop, {"name", "source", "essential", "additionalProperties"})
            name = entry.get("name")
            if not isinstance(name, str) or not name or len(name) > 128:
                raise _app_error(prop, "Each optional claim needs a name.")
            extra = entry.get("additionalProperties") or []
            if not isinstance(extra, list) or not all(isinstance(x, str) for x in extra):
                raise _app_error(prop, "additionalProperties must be a list of strings.")
            source = entry.get("source")
            if source is not None and not isinstance(source, str):
                raise _app_error(prop, "source must be a string or null.")
            items.append(
                {
                    "name": name,
                    "source": source,
                    "essential": bool(entry.get("essential", False)),
                    "additionalProperties": extra,
                }
            )
        out[kind] = items
    return out


def _bool(value: Any, prop: str) -> bool:
    if not isinstance(value, bool):
        raise _app_error(prop, "Expected true or false.")
    return value


def application_changes(extras: Mapping[str, Any], values: Mapping[str, Any]) -> dict[str, Any]:
    """Storage attributes from the relying-party properties of a POST or PATCH body: ``extras`` holds the
    structured ones (``web``, ``spa``, ``publicClient``, ``api``) as sent, ``values`` the plain ones already
    mapped to attributes. What a structured value does not name is left out (kept as it is)."""
    out: dict[str, Any] = {}
    if "web" in extras:
        web = _members(
            extras["web"],
            "web",
            {"redirectUris", "logoutUrl", "implicitGrantSettings", "homePageUrl", "redirectUriSettings"},
        )
        if "redirectUris" in web:
            out["web_redirect_uris"] = check_uri_list(web["redirectUris"], "web.redirectUris")
        if "logoutUrl" in web:
            out["logout_url"] = check_uri(web["logoutUrl"], "web.logoutUrl") if web["logoutUrl"] else None
        if web.get("homePageUrl") is not None:
            raise _app_error("web.homePageUrl", "Set the home page as the enterprise application's sign-on URL.")
        if web.get("implicitGrantSettings") is not None:
            prop = "web.implicitGrantSettings"
            grants = _members(
                web["implicitGrantSettings"], prop, {"enableIdTokenIssuance", "enableAccessTokenIssuance"}
            )
            if "enableIdTokenIssuance" in grants:
                out["id_token_issuance"] = _bool(grants["enableIdTokenIssuance"], prop)
            if "enableAccessTokenIssuance" in grants:
                out["access_token_issuance"] = _bool(grants["enableAccessTokenIssuance"], prop)
    for name in ("spa", "publicClient"):
        if name in extras:
            body = _members(extras[name], name, {"redirectUris"})
            if "redirectUris" in body:
                out[PLATFORMS[name]] = check_uri_list(
                    body["redirectUris"], f"{name}.redirectUris", custom_schemes=name == "publicClient"
                )
    if "api" in extras:
        api = _members(extras["api"], "api", {"oauth2PermissionScopes", "requestedAccessTokenVersion", *_API_UNSET})
        if api.get("requestedAccessTokenVersion") not in (None, 2):
            raise _app_error("api.requestedAccessTokenVersion", "Hospes issues version 2.0 access tokens only.")
        for name in _API_UNSET:  # echoed back by a read-modify-write client: fine while empty
            if api.get(name):
                raise _app_error(f"api.{name}", "This setting is not supported by Hospes.")
        if "oauth2PermissionScopes" in api:
            out["oauth2_permission_scopes"] = check_permission_scopes(api["oauth2PermissionScopes"])
    if "identifier_uris" in values:
        out["identifier_uris"] = check_identifier_uris(values["identifier_uris"])
    if "group_membership_claims" in values:
        out["group_membership_claims"] = check_group_claims(values["group_membership_claims"])
    if "required_resource_access" in values:
        out["required_resource_access"] = check_required_resource_access(values["required_resource_access"])
    if "optional_claims" in values:
        out["optional_claims"] = check_optional_claims(values["optional_claims"])
    if values.get("is_fallback_public_client", False) is None:
        out["is_fallback_public_client"] = False
    return out


def check_redirect_total(uris: Mapping[str, list[str]]) -> None:
    if sum(len(v) for v in uris.values()) > MAX_REDIRECT_URIS:
        raise _app_error(
            "web.redirectUris", "An application can have at most %(num)d redirect URIs.", num=MAX_REDIRECT_URIS
        )


def service_principal_changes(values: Mapping[str, Any]) -> dict[str, Any]:
    """The single sign-on properties of a service principal's POST or PATCH body, checked."""

    def bad(prop: str, template: str, **params: Any) -> RegistrationError:
        return RegistrationError(prop, "ServicePrincipal", template, **params)

    out: dict[str, Any] = {}
    mode = values.get("preferred_single_sign_on_mode")
    if mode is not None and mode not in SSO_MODES:
        raise bad("preferredSingleSignOnMode", "Use one of: %(values)s (or null).", values=", ".join(SSO_MODES))
    for attr, prop in (("login_url", "loginUrl"), ("logout_url", "logoutUrl")):
        if attr in values:
            url = values[attr]
            out[attr] = check_uri(url, prop, resource="ServicePrincipal") if url else None
    if "saml_single_sign_on_settings" in values:
        settings = values["saml_single_sign_on_settings"]
        if settings is None:
            out["saml_single_sign_on_settings"] = {}
        else:
            if not isinstance(settings, dict):
                raise bad("samlSingleSignOnSettings", "Expected an object.")
            body = {k: v for k, v in settings.items() if k != "@odata.type"}
            if set(body) - {"relayState"}:
                raise bad("samlSingleSignOnSettings", "Only relayState can be set.")
            relay = body.get("relayState")
            if relay is not None and (not isinstance(relay, str) or len(relay.encode()) > MAX_RELAY_STATE):
                raise bad(
                    "samlSingleSignOnSettings", "The relay state is text of at most %(num)d bytes.", num=MAX_RELAY_STATE
                )
            out["saml_single_sign_on_settings"] = {"relayState": relay or None}
    thumbprint = values.get("preferred_token_signing_key_thumbprint")
    if thumbprint is not None:
        if not isinstance(thumbprint, str) or len(thumbprint) != 40:
            raise bad("preferredTokenSigningKeyThumbprint", "Expected the 40-character thumbprint of a certificate.")
        try:
            bytes.fromhex(thumbprint)
        except ValueError:
            raise bad("preferredTokenSigningKeyThumbprint", "A thumbprint is 40 hexadecimal characters.") from None
        out["preferred_token_signing_key_thumbprint"] = thumbprint.upper()
    return out


def validate_app_roles(roles: Any) -> list[dict[str, Any]]:
    if roles is None:
        return []
    if not isinstance(roles, list):
        raise InvalidInputError("Invalid value specified for property 'appRoles'.", target="appRoles")
    out, values = [], set()
    for role in roles:
        if not isinstance(role, dict):
            raise InvalidInputError("Invalid value specified for property 'appRoles'.", target="appRoles")
        role_id = str(role.get("id") or new_id())
        try:
            uuid.UUID(role_id)
        except ValueError:
            raise InvalidInputError("appRoles: each role id must be a GUID.", target="appRoles") from None
        members = role.get("allowedMemberTypes") or ["User"]
        if not isinstance(members, list) or not set(members) <= {"User", "Application"}:
            raise InvalidInputError("appRoles: allowedMemberTypes must be User and/or Application.")
        value = role.get("value")
        if value is not None and (not isinstance(value, str) or value in values):
            raise InvalidInputError("appRoles: role values must be unique strings.", target="appRoles")
        values.add(value)
        out.append(
            {
                "id": role_id,
                "allowedMemberTypes": members,
                "value": value,
                "displayName": str(role.get("displayName") or value or ""),
                "description": str(role.get("description") or ""),
                "isEnabled": role.get("isEnabled", True),
                "origin": "Application",
            }
        )
    return out
