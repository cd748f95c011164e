"""Owners of enterprise apps (Graph ``/servicePrincipals/{id}/owners``): users who manage their app's
assignments and invite guests into it from the portal and My Apps, without a directory role."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from hospes.domain.errors import ConflictError, InvalidInputError, NotFoundError
from hospes.services.apps import AppService
from hospes.services.base import Services
from hospes.storage.tables import User
from hospes.storage.tables_reviews import ServicePrincipalOwner

ALREADY = "One or more added object references already exist for the following modified properties: 'owners'."


class AppOwners(Services):
    def owners(self, sp_key: str) -> list[User]:
        with self.read() as session:
            sp = AppService(self.sessions, self.actor).find_sp(session, sp_key)
            ids = select(ServicePrincipalOwner.owner_id).where(
                ServicePrincipalOwner.tenant_id == self.tenant_id, ServicePrincipalOwner.service_principal_id == sp.id
            )
            return list(
                session.scalars(
                    select(User).where(User.id.in_(ids), User.deleted_at.is_(None)).order_by(User.display_name)
                )
            )

    def add(self, sp_key: str, user_id: str) -> None:
        with self.write("ApplicationManagement", "Add owner to service principal") as op:
            sp = AppService(self.sessions, self.actor).find_sp(op.session, sp_key)
            op.target("ServicePrincipal", sp.id, sp.display_name)
            user = self._user(op.session, user_id)
            if op.session.get(ServicePrincipalOwner, (sp.id, user.id)) is not None:
                raise ConflictError(ALREADY)
            op.session.add(
                ServicePrincipalOwner(
                    service_principal_id=sp.id,
                    owner_id=user.id,
                    owner_type="user",
                    tenant_id=self.tenant_id,
                    created_at=op.now,
                )
            )
            op.details["ownerId"] = user.id

    def remove(self, sp_key: str, user_id: str) -> None:
        with self.write("ApplicationManagement", "Remove owner from service principal") as op:
            sp = AppService(self.sessions, self.actor).find_sp(op.session, sp_key)
            op.target("ServicePrincipal", sp.id, sp.display_name)
            row = op.session.get(ServicePrincipalOwner, (sp.id, user_id))
            if row is None or row.tenant_id != self.tenant_id:
                raise NotFoundError(user_id)
            op.session.delete(row)
            op.details["ownerId"] = user_id

    def _user(self, session: Session, user_id: str) -> User:
        user = session.get(User, user_id)
        if user is None or user.tenant_id != self.tenant_id or user.deleted_at is not None:
            raise NotFoundError(user_id)
        if user.user_type == "Guest":
            raise InvalidInputError("Only members of the organization can own an app.", target="owners")
        return user
