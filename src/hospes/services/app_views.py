"""Read models of applications and service principals with what their Graph form and the portal show beside the
row: credentials, and a service principal's reply URLs and names (which live on its application)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hospes.domain.schema import APPLICATION, SERVICE_PRINCIPAL
from hospes.services.app_credentials import (
    REQUEST_VERIFICATION,
    TOKEN_SIGNING,
    KeyCredential,
    app_certificates,
    signing_certificates,
)
from hospes.services.app_logos import logo_paths
from hospes.services.apps import Application, AppService, ClientSecret, ServicePrincipal
from hospes.services.listing import ListQuery, Page, list_page

PAGE_SIZE = 50


@dataclass(frozen=True)
class RegistrationList:
    rows: list[Application]
    total: int
    page: int
    pages: int


@dataclass(frozen=True)
class AppView:
    app: Application
    secrets: list[ClientSecret]
    certificates: list[KeyCredential]
    logo: str | None = None  # the logo's public address, relative to the public URL


@dataclass(frozen=True)
class SpView:
    sp: ServicePrincipal
    roles: list[dict[str, Any]]
    application: Application | None
    certificates: list[KeyCredential] = field(default_factory=list)
    verification: list[KeyCredential] = field(default_factory=list)  # verify the service provider's requests
    logo: str | None = None  # its application's logo address, relative to the public URL

    @property
    def reply_urls(self) -> list[str]:
        """Graph's ``replyUrls``: the application's web redirect URIs (a SAML app's reply URLs)."""
        return list(self.application.web_redirect_uris) if self.application else []

    @property
    def names(self) -> list[str]:
        """Graph's ``servicePrincipalNames``: the app id and the application's identifier URIs."""
        return [self.sp.app_id, *(self.application.identifier_uris if self.application else [])]


class AppViews(AppService):
    def _app_view(self, session: Session, app: Application) -> AppView:
        logo = logo_paths(session, self.tenant_id, [app.id]).get(app.id)
        return AppView(app, self.secrets_of(session, app.id), app_certificates(session, app), logo)

    def _sp_view(self, session: Session, sp: ServicePrincipal) -> SpView:
        app = session.get(Application, sp.application_id) if sp.application_id else None
        verification = signing_certificates(session, sp, REQUEST_VERIFICATION)
        logo = logo_paths(session, self.tenant_id, [app.id]).get(app.id) if app is not None else None
        return SpView(sp, self.sp_roles(session, sp), app, signing_certificates(session, sp), verification, logo)

    def application(self, key: str) -> AppView:
        with self.read() as session:
            return self._app_view(session, self.find_app(session, key))

    def applications(self, query: ListQuery) -> tuple[Page, list[AppView]]:
        """A page of applications with their credentials, read in three queries whatever the page size."""
        with self.read() as session:
            page = list_page(session, APPLICATION, Application, [Application.tenant_id == self.tenant_id], query)
            ids = [a.id for a in page.rows]
            secrets: dict[str, list[ClientSecret]] = defaultdict(list)
            certificates: dict[str, list[KeyCredential]] = defaultdict(list)
            if ids:
                for secret in session.scalars(select(ClientSecret).where(ClientSecret.application_id.in_(ids))):
                    secrets[secret.application_id].append(secret)
                rows = session.scalars(
                    select(KeyCredential)
                    .where(KeyCredential.application_id.in_(ids), KeyCredential.tenant_id == self.tenant_id)
                    .order_by(KeyCredential.created_at, KeyCredential.key_id)
                )
                for row in rows:
                    certificates[str(row.application_id)].append(row)
            logos = logo_paths(session, self.tenant_id, ids)
            return page, [AppView(a, secrets[a.id], certificates[a.id], logos.get(a.id)) for a in page.rows]

    def service_principal(self, key: str) -> SpView:
        with self.read() as session:
            return self._sp_view(session, self.find_sp(session, key))

    def service_principals(self, query: ListQuery) -> tuple[Page, list[SpView]]:
        """A page of service principals with their applications and certificates, in three queries."""
        with self.read() as session:
            page = list_page(
                session, SERVICE_PRINCIPAL, ServicePrincipal, [ServicePrincipal.tenant_id == self.tenant_id], query
            )
            app_ids = [sp.application_id for sp in page.rows if sp.application_id]
            apps = (
                {
                    a.id: a
                    for a in session.scalars(
                        select(Application).where(Application.id.in_(app_ids), Application.tenant_id == self.tenant_id)
                    )
                }
                if app_ids
                else {}
            )
            credentials: dict[tuple[str, str], list[KeyCredential]] = defaultdict(list)
            sp_ids = [sp.id for sp in page.rows]
            if sp_ids:
                rows = session.scalars(
                    select(KeyCredential)
                    .where(KeyCredential.service_principal_id.in_(sp_ids), KeyCredential.tenant_id == self.tenant_id)
                    .order_by(KeyCredential.created_at, KeyCredential.key_id)
                )
                for row in rows:
                    credentials[(str(row.service_principal_id), row.purpose)].append(row)
            logos = logo_paths(session, self.tenant_id, apps)
            views = []
            for sp in page.rows:
                app = apps.get(sp.application_id or "")
                roles = list(app.app_roles) if app is not None else list(sp.app_roles)
                views.append(
                    SpView(
                        sp,
                        roles,
                        app,
                        credentials[(sp.id, TOKEN_SIGNING)],
                        credentials[(sp.id, REQUEST_VERIFICATION)],
                        logos.get(sp.application_id or ""),
                    )
                )
            return page, views

    def service_principal_of(self, app_id: str) -> ServicePrincipal | None:
        """The enterprise application (service principal) of an application registration, if it has one."""
        with self.read() as session:
            app = self.find_app(session, app_id)
            return session.scalar(
                select(ServicePrincipal).where(
                    ServicePrincipal.tenant_id == self.tenant_id, ServicePrincipal.application_id == app.id
                )
            )

    def registrations(self, *, search: str = "", page: int = 1) -> RegistrationList:
        """The portal's "App registrations" list: by name, optionally filtered by a part of the name or app id."""
        conditions = [Application.tenant_id == self.tenant_id]
        search = search.strip().lower()[:256]
        if search:
            escaped = search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            pattern = f"%{escaped}%"
            conditions.append(
                func.lower(Application.display_name).like(pattern, escape="\\")
                | func.lower(Application.app_id).like(pattern, escape="\\")
            )
        with self.read() as session:
            total = int(session.scalar(select(func.count()).select_from(Application).where(*conditions)) or 0)
            pages = max(1, -(-total // PAGE_SIZE))
            page = min(max(1, page), pages)
            rows = session.scalars(
                select(Application)
                .where(*conditions)
                .order_by(func.lower(Application.display_name), Application.id)
                .limit(PAGE_SIZE)
                .offset((page - 1) * PAGE_SIZE)
            )
            return RegistrationList(list(rows), total, page, pages)
