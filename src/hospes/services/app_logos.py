"""An application's logo: set, read and removed by an administrator (Graph, portal, CLI); served to anyone at its
public address (``logo_path``), as Entra serves ``info.logoUrl`` from a public CDN. The address holds the image's
hash, so a replaced logo gets a new address and an old one answers 404."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from hospes.domain.app_logo import LOGO_TYPES, read_logo
from hospes.domain.errors import NotFoundError
from hospes.services.apps import AppService
from hospes.storage.tables import Application
from hospes.storage.tables_logos import AppLogo


@dataclass(frozen=True)
class Logo:
    content_type: str
    data: bytes


def logo_path(tenant_id: str, app_id: str, sha256: str, content_type: str) -> str:
    """The logo's public address, relative to the deployment's public URL."""
    return f"/{tenant_id}/applogos/{app_id}/{sha256}.{LOGO_TYPES.get(content_type, 'png')}"


def logo_paths(session: Session, tenant_id: str, application_ids: Iterable[str]) -> dict[str, str]:
    """The public logo address of each of these applications (by application object id) that has one; reads the
    hash and type only, never the image."""
    ids = list(application_ids)
    if not ids:
        return {}
    rows = session.execute(
        select(AppLogo.application_id, Application.app_id, AppLogo.sha256, AppLogo.content_type)
        .join(Application, Application.id == AppLogo.application_id)
        .where(AppLogo.tenant_id == tenant_id, AppLogo.application_id.in_(ids))
    )
    return {row[0]: logo_path(tenant_id, row[1], row[2], row[3]) for row in rows}


def public_logo(sessions: sessionmaker[Session], tenant_id: str, app_id: str, name: str) -> Logo | None:
    """The image at a public logo address (``{sha256}.{ext}`` of that tenant's app), or None."""
    sha, _, ext = name.partition(".")
    with sessions() as session:
        row = session.execute(
            select(AppLogo.content_type, AppLogo.data)
            .join(Application, Application.id == AppLogo.application_id)
            .where(AppLogo.tenant_id == tenant_id, Application.app_id == app_id, AppLogo.sha256 == sha)
        ).first()
    if row is None or LOGO_TYPES.get(row[0]) != ext:
        return None
    return Logo(row[0], row[1])


class AppLogos(AppService):
    def address(self, application_id: str) -> str | None:
        """The public address of the application's logo (relative to the public URL), or None."""
        with self.read() as session:
            return logo_paths(session, self.tenant_id, [application_id]).get(application_id)

    def logo(self, key: str) -> Logo:
        with self.read() as session:
            app = self.find_app(session, key)
            row = session.get(AppLogo, app.id)
            if row is None or row.tenant_id != self.tenant_id:
                raise NotFoundError(f"{app.id}/logo")
            return Logo(row.content_type, row.data)

    def set_logo(self, key: str, data: bytes, declared: str | None = None) -> str:
        """Check the image by its bytes (``declared``, a Content-Type, must agree) and store it; the new public
        address, relative to the public URL."""
        image = read_logo(data, declared)
        sha = hashlib.sha256(data).hexdigest()
        with self.write("ApplicationManagement", "Update application logo") as op:
            app = self.find_app(op.session, key)
            op.target("Application", app.id, app.display_name)
            op.details["modifiedProperties"] = ["info.logoUrl"]
            row = op.session.get(AppLogo, app.id)
            if row is None:
                row = AppLogo(application_id=app.id, tenant_id=self.tenant_id)
                op.session.add(row)
            row.content_type, row.sha256, row.data, row.updated_at = image.content_type, sha, data, op.now
            return logo_path(self.tenant_id, app.app_id, sha, image.content_type)

    def remove_logo(self, key: str) -> bool:
        """Remove the logo; False when the app had none."""
        with self.write("ApplicationManagement", "Remove application logo") as op:
            app = self.find_app(op.session, key)
            op.target("Application", app.id, app.display_name)
            op.details["modifiedProperties"] = ["info.logoUrl"]
            gone = op.session.execute(
                delete(AppLogo).where(AppLogo.application_id == app.id, AppLogo.tenant_id == self.tenant_id)
            )
            return bool(getattr(gone, "rowcount", 0))
