"""The claims of a SAML assertion: Entra's default set, and the guest rule for ``user.userprincipalname``.

A guest who signed in with an account of another Entra-style tenant (another Hospes tenant) gets their **mail** where
the source is the user principal name; every other guest (email one-time passcode, federation) gets the stored
``#EXT#`` UPN. ``localuserprincipalname`` is always the stored UPN."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from hospes.saml.nameid import EMAIL, UNSPECIFIED

WS = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/"
MS = "http://schemas.microsoft.com/identity/claims/"
ROLE = "http://schemas.microsoft.com/ws/2008/06/identity/claims/role"
GROUPS = "http://schemas.microsoft.com/ws/2008/06/identity/claims/groups"
GROUPS_LINK = "http://schemas.microsoft.com/claims/groups.link"

# The identity issuer recorded for a guest who proved who they are at their home tenant.
HOME_TENANT_ISSUER = "ExternalAzureAD"
GROUPS_OVERAGE_LIMIT = 150


@dataclass(frozen=True)
class SamlUser:
    """What a SAML sign-in says about the user; built by the caller from the directory."""

    object_id: str
    tenant_id: str
    user_principal_name: str
    user_type: str  # "Member" | "Guest"
    identity_provider: str  # the idp claim: the tenant's own issuer for members, the home issuer for guests
    mail: str | None = None
    given_name: str | None = None
    surname: str | None = None
    display_name: str | None = None
    signed_in_with: str | None = None  # a guest's identity issuer: "ExternalAzureAD", "mail", ...
    roles: tuple[str, ...] = ()  # app role values assigned (directly or through groups)
    groups: tuple[str, ...] = ()  # group object ids, when the app asks for them

    @property
    def home_tenant_guest(self) -> bool:
        return self.user_type == "Guest" and self.signed_in_with == HOME_TENANT_ISSUER


def source_value(user: SamlUser, source: str) -> str | None:
    """One user attribute as a claims source (Graph claims-mapping ``ID`` names, lower-case)."""
    match source.lower():
        case "userprincipalname":
            return user.mail if user.home_tenant_guest and user.mail else user.user_principal_name
        case "localuserprincipalname":
            return user.user_principal_name
        case "mail" | "email":
            return user.mail
        case "givenname":
            return user.given_name
        case "surname":
            return user.surname
        case "displayname":
            return user.display_name
        case "objectid":
            return user.object_id
    return None


@dataclass(frozen=True)
class ClaimSet:
    name_id_source: str | None  # the value the NameID claim's source gave
    name_id_format: str  # that source's default format
    attributes: tuple[tuple[str, tuple[str, ...]], ...]
    groups_url: str | None = None


NAME_ID_SOURCES = ("userprincipalname", "localuserprincipalname", "mail", "objectid", "displayname")


def default_claims(
    user: SamlUser, *, include_groups: bool = False, groups_url: str | None = None, name_id_source: str | None = None
) -> ClaimSet:
    """Entra's default attribute set, in the order Entra's tokens show them; attributes without a value are left out.
    ``name_id_source`` (one of ``NAME_ID_SOURCES``) replaces the user principal name as the NameID's source."""
    pairs: list[tuple[str, Sequence[str | None]]] = [
        (MS + "tenantid", [user.tenant_id]),
        (MS + "objectidentifier", [user.object_id]),
        (WS + "name", [source_value(user, "userprincipalname")]),
        (WS + "surname", [user.surname]),
        (WS + "givenname", [user.given_name]),
        (MS + "displayname", [user.display_name]),
        (MS + "identityprovider", [user.identity_provider]),
        (WS + "emailaddress", [source_value(user, "mail")]),
        (ROLE, list(user.roles)),
    ]
    overage = False
    if include_groups:
        if len(user.groups) > GROUPS_OVERAGE_LIMIT:
            overage = True
        else:
            pairs.append((GROUPS, list(user.groups)))
    if overage and groups_url:
        pairs.append((GROUPS_LINK, [groups_url]))
    attributes = tuple((name, tuple(v for v in values if v)) for name, values in pairs)
    source = name_id_source if name_id_source in NAME_ID_SOURCES else "userprincipalname"
    return ClaimSet(
        name_id_source=source_value(user, source),
        name_id_format=EMAIL if source in ("userprincipalname", "localuserprincipalname", "mail") else UNSPECIFIED,
        attributes=tuple((name, values) for name, values in attributes if values),
        groups_url=groups_url if overage else None,
    )
