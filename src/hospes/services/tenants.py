"""Tenants: bootstrap (tenant, domain, Graph principal, admin, app) and organization properties."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from hospes.auth.crypto import shown_secret
from hospes.domain.errors import ConflictError, InvalidInputError, NotFoundError
from hospes.domain.ids import new_id
from hospes.domain.principals import (
    APPLICATION_PERMISSIONS,
    GLOBAL_ADMINISTRATOR,
    Principal,
    system_principal,
)
from hospes.services.apps import AppService
from hospes.services.base import Services
from hospes.services.users import UserService
from hospes.storage.tables import DirectoryRoleMember

# ``X as X``: the rows OrganizationService returns, exported for the annotations of its callers.
from hospes.storage.tables import Domain as Domain
from hospes.storage.tables import Tenant as Tenant

_DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{0,62}$")


@dataclass(frozen=True)
class TenantBootstrap:
    tenant_id: str
    domain: str
    client_id: str
    client_secret: str
    admin_user_principal_name: str
    admin_password: str

    def as_json(self) -> dict[str, str]:
        return {
            "tenantId": self.tenant_id,
            "domain": self.domain,
            "clientId": self.client_id,
            "clientSecret": self.client_secret,
            "adminUserPrincipalName": self.admin_user_principal_name,
            "adminPassword": self.admin_password,
        }


def generate_password() -> str:
    # 20 URL-safe characters from a CSPRNG plus a fixed mix so any complexity rule a site adds is met.
    return shown_secret(15) + "-Aa1"


def create_tenant(
    sessions: sessionmaker[Session],
    name: str,
    domain: str,
    *,
    admin_password: str | None = None,
    tenant_id: str | None = None,
) -> TenantBootstrap:
    domain = domain.strip().lower()
    if not _DOMAIN.match(domain):
        raise InvalidInputError(f"'{domain}' is not a valid domain name.")
    if not name.strip():
        raise InvalidInputError("The tenant needs a name.")
    tenant_id = tenant_id or new_id()
    actor = system_principal(tenant_id)
    password = admin_password or generate_password()
    users = UserService(sessions, actor)
    apps = AppService(sessions, actor)
    password_hash = users.hash_new_password(password)
    with users.write("DirectoryManagement", "Create company") as op:
        if op.session.get(Domain, domain) is not None:
            raise ConflictError(f"The domain '{domain}' is already used by another tenant.")
        op.session.add(Tenant(id=tenant_id, display_name=name.strip(), preferred_language="en", created_at=op.now))
        op.session.flush()
        op.session.add(Domain(name=domain, tenant_id=tenant_id, is_default=True, is_initial=True, is_verified=True))
        op.session.flush()
        apps.insert_graph_sp(op)
        admin = users.insert(
            op,
            {
                "user_principal_name": f"admin@{domain}",
                "display_name": f"{name.strip()} Administrator",
                "mail_nickname": "admin",
                "mail": f"admin@{domain}",
                "account_enabled": True,
                "given_name": "Admin",
                "surname": name.strip()[:64],
            },
            password_hash,
        )
        op.session.add(
            DirectoryRoleMember(
                tenant_id=tenant_id,
                role_template_id=GLOBAL_ADMINISTRATOR,
                principal_id=admin.id,
                principal_type="user",
            )
        )
        app = apps.insert_app(op, {"display_name": f"{name.strip()} automation"}, {})
        sp = apps.insert_sp(op, app)
        _, secret = apps.insert_secret(op, app, "bootstrap")
        apps.grant_permissions(op, sp, list(APPLICATION_PERMISSIONS))
        op.target("Tenant", tenant_id, name)
    return TenantBootstrap(tenant_id, domain, app.app_id, secret, admin.user_principal_name, password)


def resolve_tenant(session: Session, key: str) -> Tenant:
    """A tenant by id or by any of its verified domains (the ``{tenant}`` segment of OAuth URLs)."""
    tenant = session.get(Tenant, key)
    if tenant is None:
        owner = session.scalar(select(Domain.tenant_id).where(Domain.name == key.lower(), Domain.is_verified))
        tenant = session.get(Tenant, owner) if owner else None
    if tenant is None:
        raise NotFoundError(key)
    return tenant


class OrganizationService(Services):
    def get(self) -> tuple[Tenant, list[Domain]]:
        with self.read() as session:
            tenant = session.get(Tenant, self.tenant_id)
            if tenant is None:
                raise NotFoundError(self.tenant_id)
            domains = list(session.scalars(select(Domain).where(Domain.tenant_id == tenant.id).order_by(Domain.name)))
            return tenant, domains

    def domains(self) -> list[str]:
        """The names of the organization's domains, in order."""
        with self.read() as session:
            return list(
                session.scalars(select(Domain.name).where(Domain.tenant_id == self.tenant_id).order_by(Domain.name))
            )

    def default_domain(self) -> str:
        """The domain new addresses are made on: the default one, else the initial one, else the first."""
        with self.read() as session:
            rows = list(session.scalars(select(Domain).where(Domain.tenant_id == self.tenant_id).order_by(Domain.name)))
        best = sorted(rows, key=lambda d: (not d.is_default, not d.is_initial, d.name))
        if not best:
            raise NotFoundError(self.tenant_id)
        return best[0].name

    def update(self, org_id: str, body: dict[str, Any]) -> None:
        with self.write("DirectoryManagement", "Update company settings") as op:
            tenant = op.session.get(Tenant, self.tenant_id)
            if tenant is None or org_id != tenant.id:
                raise NotFoundError(org_id)
            op.target("Organization", tenant.id, tenant.display_name)
            for key, value in body.items():
                if key == "@odata.type":
                    continue
                if key == "displayName" and isinstance(value, str) and value.strip():
                    tenant.display_name = value.strip()[:256]
                elif key == "preferredLanguage" and (
                    value is None
                    or (isinstance(value, str) and re.fullmatch(r"[a-zA-Z]{2,3}(-[A-Za-z0-9]{2,8})*", value))
                ):
                    tenant.preferred_language = value
                elif key == "privacyProfile" and isinstance(value, dict):
                    url = value.get("statementUrl")
                    if url is not None and (
                        not isinstance(url, str) or len(url) > 255 or not url.startswith(("http://", "https://"))
                    ):
                        raise InvalidInputError(
                            "privacyProfile.statementUrl must be an http(s) URL of at most 255 characters.",
                            target="privacyProfile",
                        )
                    email = value.get("contactEmail")
                    if email is not None and not isinstance(email, str):
                        raise InvalidInputError("privacyProfile.contactEmail must be a string.")
                    tenant.privacy_statement_url, tenant.privacy_contact_email = url, email
                elif (
                    key == "technicalNotificationMails"
                    and isinstance(value, list)
                    and all(isinstance(v, str) and "@" in v for v in value)
                ):
                    tenant.technical_notification_mails = value
                else:
                    raise InvalidInputError(
                        f"Invalid value specified for property '{key}' of resource 'Organization'.",
                        target=key,
                    )
                op.details.setdefault("modifiedProperties", []).append(key)


def principal_for_tenant(tenant_id: str) -> Principal:
    return system_principal(tenant_id)
