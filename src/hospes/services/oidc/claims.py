"""What the ID token, the delegated access token and UserInfo say about a user, for members and guests alike.

``iss``/``tid`` are always the resource tenant (the one in the URL), also for guests; ``oid`` is the user object of
that tenant; ``sub`` is pairwise: ``base64url(HMAC-SHA256(tenant key, client_id || 0x00 || oid))``, the tenant key
derived from the deployment's HMAC key, so one person has unlinkable subjects in two apps.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from hospes.auth.tokens import TokenIssuer
from hospes.services.oidc.scopes import RequestedScopes
from hospes.storage.tables import AppRoleAssignment, DirectoryRoleMember, Group

# Above this many groups the ID token names where to read them instead (Entra's JWT limit).
GROUP_OVERAGE = 200
_AMR = {"pwd": "pwd", "otp": "otp", "email": "otp", "rc": "otp", "mfa": "mfa"}


class Person(Protocol):
    """What the claims read of a user: a ``User`` row, or the refresh grant's raw read of one."""

    @property
    def id(self) -> str: ...
    @property
    def tenant_id(self) -> str: ...
    @property
    def user_principal_name(self) -> str: ...
    @property
    def display_name(self) -> str | None: ...
    @property
    def given_name(self) -> str | None: ...
    @property
    def surname(self) -> str | None: ...
    @property
    def mail(self) -> str | None: ...
    @property
    def user_type(self) -> str: ...
    @property
    def identities(self) -> list[dict[str, Any]]: ...


def is_guest(user: Person) -> bool:
    return user.user_type == "Guest"


def amr_claim(methods: Sequence[str]) -> list[str]:
    """RFC 8176 values: ``pwd``, ``otp`` (an authenticator code, an emailed passcode, a recovery code), plus
    ``mfa`` once two factors were used."""
    mapped = {_AMR.get(m, "otp") for m in methods}
    if len(set(methods)) >= 2:
        mapped.add("mfa")
    return sorted(mapped)


def home_idp(user: Person, public_url: str) -> str | None:
    """A guest's home identity provider: the home tenant's issuer when they redeemed with a Hospes tenant, ``mail``
    for an emailed passcode; None for members."""
    if not is_guest(user):
        return None
    for identity in user.identities or []:
        if identity.get("signInType") != "federated":
            continue
        issuer = str(identity.get("issuer") or "")
        if issuer == "ExternalAzureAD":
            home_tenant = str(identity.get("issuerAssignedId") or "").split("/", 1)[0]
            return f"{public_url}/{home_tenant}/v2.0" if home_tenant else None
        if issuer:
            return issuer
    return None


def sign_in_name(user: Person) -> str:
    """What the user signs in with: the UPN for members, the address a guest was invited with."""
    if is_guest(user):
        return user.mail or user.user_principal_name
    return user.user_principal_name


def assigned_roles(
    session: Session, tenant_id: str, principals: set[str], sp_id: str, definitions: Sequence[dict[str, Any]]
) -> list[str]:
    """The ``value`` of each app role assigned to the user or one of its groups on the app ``sp_id``."""
    ids = set(
        session.scalars(
            select(AppRoleAssignment.app_role_id).where(
                AppRoleAssignment.tenant_id == tenant_id,
                AppRoleAssignment.resource_id == sp_id,
                AppRoleAssignment.principal_id.in_(principals),
            )
        )
    )
    return sorted({str(d["value"]) for d in definitions if d.get("id") in ids and d.get("value")})


def is_assigned(session: Session, tenant_id: str, principals: set[str], sp_id: str) -> bool:
    return (
        session.scalar(
            select(AppRoleAssignment.id)
            .where(
                AppRoleAssignment.tenant_id == tenant_id,
                AppRoleAssignment.resource_id == sp_id,
                AppRoleAssignment.principal_id.in_(principals),
            )
            .limit(1)
        )
        is not None
    )


def directory_roles(session: Session, tenant_id: str, user_id: str) -> list[str]:
    return sorted(
        session.scalars(
            select(DirectoryRoleMember.role_template_id).where(
                DirectoryRoleMember.tenant_id == tenant_id, DirectoryRoleMember.principal_id == user_id
            )
        )
    )


def group_claim(session: Session, tenant_id: str, groups: set[str], setting: str | None) -> list[str] | None:
    """The ``groups`` claim an app's ``groupMembershipClaims`` asks for (None: no claim)."""
    if not setting or setting == "None" or not groups:
        return None
    kinds = {s.strip() for s in setting.split(",")}
    if kinds & {"All", "DirectoryRole"}:
        return sorted(groups)
    if "SecurityGroup" in kinds:
        rows = session.scalars(
            select(Group.id).where(
                Group.tenant_id == tenant_id,
                Group.id.in_(groups),
                Group.security_enabled.is_(True),
                Group.deleted_at.is_(None),
            )
        )
        return sorted(rows)
    return None


@dataclass(frozen=True)
class Subject:
    """A user as the tokens describe them, read once per issuance."""

    id: str
    tenant_id: str
    upn: str
    sign_in_name: str
    display_name: str | None
    given_name: str | None
    surname: str | None
    mail: str | None
    guest: bool
    idp: str | None
    wids: tuple[str, ...] = ()
    roles: tuple[str, ...] = ()  # on the client app (ID token)
    groups: tuple[str, ...] | None = None
    api_roles: tuple[str, ...] = ()  # on the access token's resource, when that is an API of the tenant


def subject_of(user: Person, public_url: str, **extra: Any) -> Subject:
    return Subject(
        id=user.id,
        tenant_id=user.tenant_id,
        upn=user.user_principal_name,
        sign_in_name=sign_in_name(user),
        display_name=user.display_name,
        given_name=user.given_name,
        surname=user.surname,
        mail=user.mail,
        guest=is_guest(user),
        idp=home_idp(user, public_url),
        **extra,
    )


@dataclass(frozen=True)
class Issuance:
    """What a code or refresh token grants: the user's sign-in, to which client, for which scopes."""

    tenant_id: str
    client_id: str
    user_id: str
    sid: str | None
    scopes: RequestedScopes
    effective: tuple[str, ...]  # the resource permissions the access token carries (``.default`` resolved)
    nonce: str | None
    auth_time: datetime
    amr: tuple[str, ...]
    azpacr: int  # 0 public client, 1 secret, 2 certificate


class OidcTokens:
    def __init__(self, issuer: TokenIssuer, hmac_key: bytes) -> None:
        self.issuer, self._root = issuer, hmac_key
        self._tenant_keys: dict[str, bytes] = {}

    def pairwise(self, tenant_id: str, client_id: str, oid: str) -> str:
        key = self._tenant_keys.get(tenant_id)
        if key is None:
            key = hmac.new(self._root, b"oidc-pairwise\x00" + tenant_id.encode(), hashlib.sha256).digest()
            self._tenant_keys[tenant_id] = key
        digest = hmac.new(key, client_id.encode() + b"\x00" + oid.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

    def _base(self, grant: Issuance, subject: Subject, audience: str, now: int) -> dict[str, Any]:
        return {
            "aud": audience,
            "iss": self.issuer.issuer(grant.tenant_id),
            "iat": now,
            "nbf": now,
            "exp": now + self.issuer.lifetime,
            "sub": self.pairwise(grant.tenant_id, grant.client_id, subject.id),
            "oid": subject.id,
            "tid": grant.tenant_id,
            "auth_time": int(grant.auth_time.timestamp()),
            "amr": amr_claim(grant.amr),
            "acct": 1 if subject.guest else 0,
            "ver": "2.0",
            "uti": uuid.uuid4().hex,
        }

    def id_token(self, grant: Issuance, subject: Subject) -> str:
        now = int(time.time())
        claims = self._base(grant, subject, grant.client_id, now)
        oidc = set(grant.scopes.oidc)
        if "profile" in oidc:
            claims["name"] = subject.display_name or subject.sign_in_name
            claims["preferred_username"] = subject.sign_in_name
        if subject.mail and ("email" in oidc or subject.guest):
            claims["email"] = subject.mail
        if subject.idp:
            claims["idp"] = subject.idp
        if grant.nonce:
            claims["nonce"] = grant.nonce
        if grant.sid:
            claims["sid"] = grant.sid
        if subject.roles:
            claims["roles"] = list(subject.roles)
        if subject.groups is not None:
            if len(subject.groups) > GROUP_OVERAGE:
                claims["_claim_names"] = {"groups": "src1"}
                endpoint = f"{self.issuer.public_url}/v1.0/users/{subject.id}/getMemberObjects"
                claims["_claim_sources"] = {"src1": {"endpoint": endpoint}}
            else:
                claims["groups"] = list(subject.groups)
        return self.issuer.sign(claims)

    def access_token(self, grant: Issuance, subject: Subject) -> tuple[str, int]:
        now = int(time.time())
        scopes = grant.scopes
        claims = self._base(grant, subject, scopes.resource.audience, now)
        scp = [*grant.effective]
        if scopes.resource.kind == "graph":
            scp = [*(s for s in scopes.oidc if s != "offline_access"), *scp]
        claims.update(
            {
                "azp": grant.client_id,
                "appid": grant.client_id,
                "azpacr": str(grant.azpacr),
                "idtyp": "user",
                "scp": " ".join(dict.fromkeys(scp)),
                "name": subject.display_name or subject.sign_in_name,
                "preferred_username": subject.sign_in_name,
            }
        )
        if not subject.guest:
            claims["upn"] = subject.upn
        if subject.idp:
            claims["idp"] = subject.idp
        if subject.wids:
            claims["wids"] = list(subject.wids)
        if subject.api_roles:
            claims["roles"] = list(subject.api_roles)
        if grant.sid:
            claims["sid"] = grant.sid
        return self.issuer.sign(claims), self.issuer.lifetime
