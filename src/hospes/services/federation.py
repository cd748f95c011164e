"""Guests' own identity providers of a tenant: SAML direct federations (``/directory/federationConfigurations``)
and OpenID providers (``/identity/identityProviders``), their email domains; each write audited (category
Policy). Shapes are checked by ``hospes.domain.federation``; sign-ins through them are
``services/federated_signin.py``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from hospes.auth.crypto import SecretBox
from hospes.domain import federation as shape
from hospes.domain.errors import ConflictError, InvalidInputError, NotFoundError
from hospes.domain.ids import new_id
from hospes.services.base import Services, Write
from hospes.storage.tables import Domain
from hospes.storage.tables_federation import ExternalFederationDomain, ExternalIdentityProvider

MAX_PROVIDERS = 100
SECRET_PURPOSE = "federation-client-secret"


def _stamp(value: datetime | None) -> str | None:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if value is not None else None


def domains_of(session: Session, provider_id: str) -> list[str]:
    stmt = select(ExternalFederationDomain.domain).where(ExternalFederationDomain.provider_id == provider_id)
    return sorted(session.scalars(stmt))


def saml_wire(row: ExternalIdentityProvider) -> dict[str, Any]:
    settings = row.settings or {}
    return {
        "@odata.type": shape.SAML_TYPE,
        "id": row.id,
        "displayName": row.display_name,
        "issuerUri": row.issuer,
        "metadataExchangeUri": settings.get("metadataExchangeUri"),
        "passiveSignInUri": settings.get("passiveSignInUri"),
        "preferredAuthenticationProtocol": settings.get("preferredAuthenticationProtocol", "saml"),
        "signingCertificate": settings.get("signingCertificate"),
    }


def oidc_wire(row: ExternalIdentityProvider, domains: list[str]) -> dict[str, Any]:
    settings = row.settings or {}
    return {
        "@odata.type": shape.OIDC_TYPE,
        "id": row.id,
        "displayName": row.display_name,
        "clientId": settings.get("clientId"),
        "issuer": row.issuer,
        "wellKnownEndpoint": settings.get("wellKnownEndpoint"),
        "responseType": settings.get("responseType", "code"),
        "scope": settings.get("scope"),
        "clientAuthentication": {"@odata.type": shape.SECRET_AUTH, "clientSecret": shape.SECRET_MASK},
        "inboundClaimMapping": settings.get("inboundClaimMapping"),
        "domains": [{"@odata.type": shape.DOMAIN_TYPE, "id": d} for d in domains],
    }


def domain_wire(name: str) -> dict[str, Any]:
    return {"@odata.type": shape.DOMAIN_TYPE, "id": name}


@dataclass
class FederationService(Services):
    box: SecretBox | None = None

    # --- reads ---------------------------------------------------------------------------------------------------

    def _rows(self, session: Session, kind: str | None = None) -> list[ExternalIdentityProvider]:
        stmt = select(ExternalIdentityProvider).where(ExternalIdentityProvider.tenant_id == self.tenant_id)
        if kind is not None:
            stmt = stmt.where(ExternalIdentityProvider.kind == kind)
        order = (ExternalIdentityProvider.created_at, ExternalIdentityProvider.id)
        return list(session.scalars(stmt.order_by(*order)))

    def _row(self, session: Session, provider_id: str, kind: str, *, lock: bool = False) -> ExternalIdentityProvider:
        row = session.get(ExternalIdentityProvider, provider_id[:64], with_for_update=lock)
        if row is None or row.tenant_id != self.tenant_id or row.kind != kind:
            raise NotFoundError(provider_id[:64])
        return row

    def _wire(self, session: Session, row: ExternalIdentityProvider) -> dict[str, Any]:
        return saml_wire(row) if row.kind == shape.KIND_SAML else oidc_wire(row, domains_of(session, row.id))

    def list_saml(self) -> list[dict[str, Any]]:
        with self.read() as session:
            return [saml_wire(r) for r in self._rows(session, shape.KIND_SAML)]

    def get_saml(self, provider_id: str) -> dict[str, Any]:
        with self.read() as session:
            return saml_wire(self._row(session, provider_id, shape.KIND_SAML))

    def list_providers(self) -> list[dict[str, Any]]:
        """``/identity/identityProviders``: the OpenID providers and the SAML federations."""
        with self.read() as session:
            return [self._wire(session, r) for r in self._rows(session)]

    def get_oidc(self, provider_id: str) -> dict[str, Any]:
        with self.read() as session:
            row = session.get(ExternalIdentityProvider, provider_id[:64])
            if row is None or row.tenant_id != self.tenant_id:
                raise NotFoundError(provider_id[:64])
            return self._wire(session, row)

    def list_domains(self, provider_id: str) -> list[dict[str, Any]]:
        with self.read() as session:
            row = self._row(session, provider_id, shape.KIND_SAML)
            return [domain_wire(d) for d in domains_of(session, row.id)]

    # --- writes --------------------------------------------------------------------------------------------------

    def _bind(self, op: Write, provider_id: str, domains: tuple[str, ...]) -> None:
        s = op.session
        own = set(s.scalars(select(Domain.name).where(Domain.tenant_id == self.tenant_id, Domain.name.in_(domains))))
        for name in domains:
            if name in own:
                raise InvalidInputError(
                    f"'{name}' is a domain of this organization; only partners' domains can be federated.",
                    target="domains",
                )
            taken = s.get(ExternalFederationDomain, (self.tenant_id, name))
            if taken is not None and taken.provider_id != provider_id:
                raise ConflictError(
                    f"The domain '{name}' is already bound to another identity provider of this organization.",
                    code="Request_MultipleObjectsWithSameKeyValue",
                    target="domains",
                )
            if taken is None:
                s.add(ExternalFederationDomain(tenant_id=self.tenant_id, domain=name, provider_id=provider_id))
        s.flush()

    def _check_room(self, session: Session) -> None:
        if len(self._rows(session)) >= MAX_PROVIDERS:
            raise InvalidInputError(f"An organization has at most {MAX_PROVIDERS} external identity providers.")

    def _check_issuer(self, session: Session, kind: str, issuer: str, own_id: str | None) -> None:
        for row in self._rows(session, kind):
            if row.issuer == issuer and row.id != own_id:
                raise ConflictError(
                    f"Another identity provider of this organization has the issuer '{issuer}'.",
                    code="Request_MultipleObjectsWithSameKeyValue",
                    target="issuerUri" if kind == shape.KIND_SAML else "issuer",
                )

    def create_saml(self, body: Any) -> dict[str, Any]:
        form = shape.parse_saml(body)
        with self.write("Policy", "Add external domain federation") as op:
            self._check_room(op.session)
            self._check_issuer(op.session, shape.KIND_SAML, form.issuer, None)
            row = ExternalIdentityProvider(
                id=new_id(),
                tenant_id=self.tenant_id,
                kind=shape.KIND_SAML,
                display_name=form.display_name,
                issuer=form.issuer,
                settings=form.settings,
                created_at=op.now,
                modified_at=op.now,
            )
            op.session.add(row)
            op.session.flush()
            self._bind(op, row.id, form.domains)
            op.target("Policy", row.id, row.display_name)
            op.details.update({"issuerUri": form.issuer, "domains": list(form.domains)})
            return saml_wire(row)

    def update_saml(self, provider_id: str, body: Any) -> None:
        changes = shape.parse_saml_update(body)
        with self.write("Policy", "Update external domain federation") as op:
            row = self._row(op.session, provider_id, shape.KIND_SAML, lock=True)
            if "displayName" in changes:
                row.display_name = changes["displayName"]
            if "issuerUri" in changes:
                self._check_issuer(op.session, shape.KIND_SAML, changes["issuerUri"], row.id)
                row.issuer = changes["issuerUri"]
            row.settings = {**(row.settings or {}), **changes["settings"]}
            row.modified_at = op.now
            op.target("Policy", row.id, row.display_name)

    def delete_provider(self, provider_id: str, kind: str) -> None:
        activity = "Delete external domain federation" if kind == shape.KIND_SAML else "Delete identity provider"
        with self.write("Policy", activity) as op:
            row = self._row(op.session, provider_id, kind, lock=True)
            op.session.execute(delete(ExternalFederationDomain).where(ExternalFederationDomain.provider_id == row.id))
            op.session.delete(row)
            op.target("Policy", row.id, row.display_name)

    def delete_any(self, provider_id: str) -> None:
        """``DELETE /identity/identityProviders/{id}``: an OpenID provider or a SAML federation."""
        with self.read() as session:
            row = session.get(ExternalIdentityProvider, provider_id[:64])
            kind = row.kind if row is not None and row.tenant_id == self.tenant_id else shape.KIND_OIDC
        self.delete_provider(provider_id, kind)

    def add_domain(self, provider_id: str, body: Any) -> dict[str, Any]:
        name = shape.domain_entry(body)
        with self.write("Policy", "Add domain to external domain federation") as op:
            row = self._row(op.session, provider_id, shape.KIND_SAML, lock=True)
            if len(domains_of(op.session, row.id)) >= shape.MAX_DOMAINS:
                raise InvalidInputError(f"A federation has at most {shape.MAX_DOMAINS} domains.", target="id")
            self._bind(op, row.id, (name,))
            op.target("Policy", row.id, row.display_name)
            op.details["domain"] = name
            return domain_wire(name)

    def remove_domain(self, provider_id: str, domain: str) -> None:
        with self.write("Policy", "Remove domain from external domain federation") as op:
            row = self._row(op.session, provider_id, shape.KIND_SAML, lock=True)
            bound = op.session.get(ExternalFederationDomain, (self.tenant_id, domain.strip().lower()[:253]))
            if bound is None or bound.provider_id != row.id:
                raise NotFoundError(domain[:253])
            if len(domains_of(op.session, row.id)) == 1:
                raise InvalidInputError("A federation keeps at least one domain; delete the federation instead.")
            op.session.delete(bound)
            op.target("Policy", row.id, row.display_name)
            op.details["domain"] = bound.domain

    def _seal(self, provider_id: str, secret: str) -> str:
        assert self.box is not None, "FederationService needs the SecretBox to store client secrets"
        return self.box.encrypt(SECRET_PURPOSE, secret.encode(), provider_id)

    def create_oidc(self, body: Any) -> dict[str, Any]:
        form = shape.parse_oidc(body)
        with self.write("Policy", "Add identity provider") as op:
            self._check_room(op.session)
            self._check_issuer(op.session, shape.KIND_OIDC, form.issuer, None)
            provider_id = new_id()
            row = ExternalIdentityProvider(
                id=provider_id,
                tenant_id=self.tenant_id,
                kind=shape.KIND_OIDC,
                display_name=form.display_name,
                issuer=form.issuer,
                settings=form.settings,
                client_secret_sealed=self._seal(provider_id, form.client_secret or ""),
                created_at=op.now,
                modified_at=op.now,
            )
            op.session.add(row)
            op.session.flush()
            self._bind(op, row.id, form.domains or ())
            op.target("Policy", row.id, row.display_name)
            op.details.update({"issuer": form.issuer, "domains": list(form.domains or ())})
            return oidc_wire(row, sorted(form.domains or ()))

    def update_oidc(self, provider_id: str, body: Any) -> None:
        form = shape.parse_oidc_update(body)
        with self.write("Policy", "Update identity provider") as op:
            row = self._row(op.session, provider_id, shape.KIND_OIDC, lock=True)
            if form.display_name:
                row.display_name = form.display_name
            if form.issuer:
                self._check_issuer(op.session, shape.KIND_OIDC, form.issuer, row.id)
                row.issuer = form.issuer
            row.settings = {**(row.settings or {}), **form.settings}
            if form.client_secret is not None:
                row.client_secret_sealed = self._seal(row.id, form.client_secret)
            if form.domains is not None:
                op.session.execute(
                    delete(ExternalFederationDomain).where(ExternalFederationDomain.provider_id == row.id)
                )
                self._bind(op, row.id, form.domains)
            row.modified_at = op.now
            op.target("Policy", row.id, row.display_name)

    def update_any(self, provider_id: str, body: Any) -> None:
        """``PATCH /identity/identityProviders/{id}``."""
        with self.read() as session:
            row = session.get(ExternalIdentityProvider, provider_id[:64])
            kind = row.kind if row is not None and row.tenant_id == self.tenant_id else shape.KIND_OIDC
        if kind == shape.KIND_SAML:
            self.update_saml(provider_id, body)
        else:
            self.update_oidc(provider_id, body)
