"""The multitenant organization (Graph ``/tenantRelationships/multiTenantOrganization``): a conglomerate's tenants
grouped under one name.

The first tenant's PATCH creates it, that tenant becoming its active owner. An owner adds tenants (``pending``);
each added tenant's own admin joins (``PATCH .../joinRequest {"addedByTenantId": <owner>}``) and becomes
``active``. Joining sets up, in this deployment, the cross-tenant access settings every pair of active tenants
needs for cross-tenant synchronization: in each of the two tenants a partner for the other, automatic redemption
inbound and outbound, and inbound user synchronization allowed (``CrossTenantPolicyService.ensure_mto_partner``).
Each tenant's settings are written in its own transaction and audit log. Removing a tenant keeps its partner
settings (they only stop showing ``isInMultiTenantOrganization``), as Entra does.

Entra completes creation and joins asynchronously (up to hours); Hospes does it in the request, so the state a
caller reads is final and ``transitionDetails`` is null.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from hospes.domain import cross_tenant as ct
from hospes.domain.errors import ConflictError, ForbiddenError, InvalidInputError, NotFoundError
from hospes.domain.ids import new_id
from hospes.domain.principals import Principal
from hospes.services.base import Services
from hospes.services.cross_tenant_policy import CrossTenantPolicyService
from hospes.storage.tables import Tenant
from hospes.storage.tables_cross_tenant import MultiTenantOrganization as Organization
from hospes.storage.tables_cross_tenant import MultiTenantOrganizationMember as Member

ROLES = ("owner", "member")
RESET_JOIN = "00000000-0000-0000-0000-000000000000"


def _iso(value: Any) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value is not None else None


def member_wire(row: Member) -> dict[str, Any]:
    return {
        "id": row.tenant_id,
        "tenantId": row.tenant_id,
        "displayName": row.display_name,
        "addedByTenantId": row.added_by_tenant_id,
        "addedDateTime": _iso(row.added_at),
        "joinedDateTime": _iso(row.joined_at),
        "role": row.role,
        "state": row.state,
        "transitionDetails": None,
    }


def _text(body: dict[str, Any], key: str, limit: int, *, required: bool = False) -> str | None:
    value = body.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip() or len(value) > limit:
        raise InvalidInputError(f"'{key}' must be a string of 1 to {limit} characters.", target=key)
    return value.strip()


def _body(body: Any, allowed: tuple[str, ...], resource: str) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise InvalidInputError("The request body must be a JSON object.")
    out = {k: v for k, v in body.items() if k != "@odata.type"}
    for key in out:
        if key not in allowed:
            raise InvalidInputError(
                f"Property '{key}' does not exist on type 'microsoft.graph.{resource}'.", target=key
            )
    return out


def mto_actor(tenant_id: str, name: str) -> Principal:
    return Principal(tenant_id=tenant_id, kind="system", id="", display_name=f"Multitenant organization {name}"[:256])


class MultiTenantOrgService(Services):
    # --- the organization -----------------------------------------------------------------------------------

    def _me(self, session: Session, *, lock: bool = False) -> Member | None:
        return session.get(Member, self.tenant_id, with_for_update=lock)

    def _active(self, session: Session, *, lock: bool = False) -> tuple[Member, Organization]:
        me = self._me(session, lock=lock)
        if me is None or me.state != "active":
            raise NotFoundError("multiTenantOrganization")
        org = session.get(Organization, me.organization_id)
        if org is None:  # removed with its last tenant meanwhile
            raise NotFoundError("multiTenantOrganization")
        return me, org

    def _owner(self, session: Session) -> tuple[Member, Organization]:
        me, org = self._active(session, lock=True)
        if me.role != "owner":
            raise ForbiddenError("Only an owner tenant can change the multitenant organization.")
        return me, org

    def organization(self) -> dict[str, Any]:
        with self.read() as session:
            me = self._me(session)
            org = session.get(Organization, me.organization_id) if me is not None and me.state == "active" else None
            if org is None:
                return {"id": None, "createdDateTime": None, "displayName": None, "description": None,
                        "state": "inactive"}  # fmt: skip
            return {
                "id": org.id,
                "createdDateTime": _iso(org.created_at),
                "displayName": org.display_name,
                "description": org.description,
                "state": "active",
            }

    def update(self, body: Any) -> None:
        """Create the organization (the caller becomes its owner) or change its name and description."""
        values = _body(
            body, ("displayName", "description", "id", "state", "createdDateTime"), "multiTenantOrganization"
        )
        for key in ("id", "state", "createdDateTime"):
            if key in values:
                raise InvalidInputError(f"'{key}' is read-only.", target=key)
        with self.write("CrossTenantAccessSettings", "Update multitenant organization") as op:
            me = self._me(op.session, lock=True)
            if me is None:
                name = _text(values, "displayName", 256, required=True)
                org = Organization(id=new_id(), display_name=name, created_at=op.now)
                org.description = _text(values, "description", 1024)
                op.session.add(org)
                tenant = op.session.get(Tenant, self.tenant_id)
                op.session.add(
                    Member(
                        tenant_id=self.tenant_id,
                        organization_id=org.id,
                        display_name=tenant.display_name if tenant is not None else None,
                        role="owner",
                        state="active",
                        added_by_tenant_id=self.tenant_id,
                        added_at=op.now,
                        joined_at=op.now,
                    )
                )
                op.name("Create multitenant organization")
            elif me.state != "active":
                raise InvalidInputError(
                    "This tenant was added to a multitenant organization: join it (joinRequest) or remove it first."
                )
            else:
                _, org = self._owner(op.session)
                if "displayName" in values:
                    org.display_name = _text(values, "displayName", 256, required=True) or org.display_name
                if "description" in values:
                    org.description = _text(values, "description", 1024)
            op.details["modifiedProperties"] = sorted(values)
            op.target("MultiTenantOrganization", org.id, org.display_name)

    # --- its tenants ----------------------------------------------------------------------------------------

    def tenants(self) -> list[dict[str, Any]]:
        with self.read() as session:
            _, org = self._active(session)
            rows = session.scalars(select(Member).where(Member.organization_id == org.id).order_by(Member.added_at))
            return [member_wire(row) for row in rows]

    def tenant(self, tenant_id: str) -> dict[str, Any]:
        with self.read() as session:
            _, org = self._active(session)
            return member_wire(self._member(session, org, tenant_id))

    @staticmethod
    def _member(session: Session, org: Organization, tenant_id: str, *, lock: bool = False) -> Member:
        row = session.get(Member, tenant_id.lower(), with_for_update=lock)
        if row is None or row.organization_id != org.id:
            raise NotFoundError(tenant_id)
        return row

    def add_tenant(self, body: Any) -> dict[str, Any]:
        values = _body(body, ("tenantId", "displayName", "role"), "multiTenantOrganizationMember")
        tenant_id = ct.tenant_id_of(values.get("tenantId"))
        role = values.get("role", "member")
        if role not in ROLES:
            raise InvalidInputError("'role' must be owner or member.", target="role")
        with self.write("CrossTenantAccessSettings", "Add tenant to multitenant organization") as op:
            _, org = self._owner(op.session)
            existing = op.session.get(Member, tenant_id)
            if existing is not None:
                if existing.organization_id == org.id:
                    raise ConflictError(
                        "Another object with the same value for property tenantId already exists.",
                        code="Request_MultipleObjectsWithSameKeyValue",
                        target="tenantId",
                    )
                raise InvalidInputError("The tenant is in another multitenant organization.", target="tenantId")
            local = op.session.get(Tenant, tenant_id)
            name = _text(values, "displayName", 256) or (local.display_name if local is not None else None)
            row = Member(
                tenant_id=tenant_id,
                organization_id=org.id,
                display_name=name,
                role=role,
                state="pending",
                added_by_tenant_id=self.tenant_id,
                added_at=op.now,
            )
            try:
                with op.session.begin_nested():
                    op.session.add(row)
                    op.session.flush()
            except IntegrityError:
                raise ConflictError("The tenant was just added to a multitenant organization.") from None
            op.target("MultiTenantOrganization", org.id, org.display_name)
            op.details.update(tenantId=tenant_id, role=role)
            return member_wire(row)

    def update_tenant(self, tenant_id: str, body: Any) -> None:
        values = _body(body, ("role", "displayName"), "multiTenantOrganizationMember")
        with self.write("CrossTenantAccessSettings", "Update tenant in multitenant organization") as op:
            _, org = self._owner(op.session)
            row = self._member(op.session, org, tenant_id, lock=True)
            if "role" in values:
                if values["role"] not in ROLES:
                    raise InvalidInputError("'role' must be owner or member.", target="role")
                if row.role == "owner" and values["role"] == "member":
                    self._not_last_owner(op.session, org, row)
                row.role = values["role"]
            if "displayName" in values:
                row.display_name = _text(values, "displayName", 256)
            op.target("MultiTenantOrganization", org.id, org.display_name)
            op.details.update(tenantId=row.tenant_id, modifiedProperties=sorted(values))

    @staticmethod
    def _not_last_owner(session: Session, org: Organization, row: Member) -> None:
        owners = session.scalars(
            select(Member.tenant_id).where(
                Member.organization_id == org.id, Member.role == "owner", Member.state == "active"
            )
        )
        if set(owners) <= {row.tenant_id}:
            raise InvalidInputError("A multitenant organization keeps at least one active owner.", target="role")

    def remove_tenant(self, tenant_id: str) -> None:
        """An owner removes any tenant; a member removes itself, and a pending tenant declines. The last tenant's
        removal ends the organization. Partner settings stay."""
        with self.write("CrossTenantAccessSettings", "Remove tenant from multitenant organization") as op:
            pending = self._me(op.session, lock=True)
            if pending is not None and pending.state == "pending" and tenant_id.lower() == self.tenant_id:
                # Being added is one-sided: the added tenant may decline, else any tenant could keep any other
                # out of every multitenant organization.
                op.session.delete(pending)
                op.target("MultiTenantOrganization", pending.organization_id)
                op.details.update(tenantId=self.tenant_id)
                return
            me, org = self._active(op.session, lock=True)
            row = self._member(op.session, org, tenant_id, lock=True)
            if me.role != "owner" and row.tenant_id != me.tenant_id:
                raise ForbiddenError("Only an owner tenant can remove another tenant.")
            others = list(
                op.session.scalars(
                    select(Member).where(Member.organization_id == org.id, Member.tenant_id != row.tenant_id)
                )
            )
            if row.role == "owner" and others:
                self._not_last_owner(op.session, org, row)
            op.session.delete(row)
            op.session.flush()  # before the organization's row, whose deletion would cascade to this one
            if not others:
                op.session.delete(org)
            op.target("MultiTenantOrganization", org.id, org.display_name)
            op.details.update(tenantId=row.tenant_id)

    # --- joining ------------------------------------------------------------------------------------------

    def join_request(self) -> dict[str, Any]:
        with self.read() as session:
            me = self._me(session)
            return {
                "id": me.organization_id if me is not None else None,
                "addedByTenantId": me.added_by_tenant_id if me is not None else None,
                "memberState": me.state if me is not None else None,
                "role": me.role if me is not None else None,
                "transitionDetails": None,
            }

    def join(self, body: Any) -> None:
        """The added tenant's admin joins; then the partner settings of every pair of active tenants are set
        up. Joining again (already active) sets them up again where missing."""
        values = _body(body, ("addedByTenantId",), "multiTenantOrganizationJoinRequestRecord")
        added_by = ct.tenant_id_of(values.get("addedByTenantId"))
        if added_by == RESET_JOIN:
            return  # resets a failed join: a join in Hospes never stays failed
        with self.write("CrossTenantAccessSettings", "Join multitenant organization") as op:
            me = self._me(op.session, lock=True)
            if me is None:
                raise InvalidInputError("No multitenant organization added this tenant.", target="addedByTenantId")
            owner = op.session.get(Member, added_by)
            if owner is None or owner.organization_id != me.organization_id or owner.role != "owner":
                raise InvalidInputError(
                    "'addedByTenantId' must be an owner tenant of the multitenant organization that added this one.",
                    target="addedByTenantId",
                )
            if me.state != "active":
                me.state, me.joined_at = "active", op.now
            org = op.session.get(Organization, me.organization_id)
            name = org.display_name if org is not None else ""
            op.target("MultiTenantOrganization", me.organization_id, name)
            peers = list(
                op.session.scalars(
                    select(Member).where(
                        Member.organization_id == me.organization_id,
                        Member.state == "active",
                        Member.tenant_id != self.tenant_id,
                    )
                )
            )
            local = set(op.session.scalars(select(Tenant.id).where(Tenant.id.in_([p.tenant_id for p in peers]))))
            pairs = [(p.tenant_id, p.display_name) for p in peers]
            my_name = me.display_name
        for peer, peer_name in pairs:
            CrossTenantPolicyService(self.sessions, mto_actor(self.tenant_id, name)).ensure_mto_partner(peer, peer_name)
            if peer in local:
                policies = CrossTenantPolicyService(self.sessions, mto_actor(peer, name))
                policies.ensure_mto_partner(self.tenant_id, my_name)
