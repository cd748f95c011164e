"""Conditional-access policies and named locations of a tenant: create, read, update, delete, each write audited
(category Policy). Their shapes are checked by ``hospes.domain.conditional_access``; sign-ins are decided by
``hospes.domain.ca_evaluation`` on the rules ``services.access_rules`` keeps compiled per tenant."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from hospes.domain import conditional_access as shape
from hospes.domain.errors import InvalidInputError, NotFoundError
from hospes.domain.ids import new_id
from hospes.services.base import Services
from hospes.storage.tables_access import ConditionalAccessPolicy, NamedLocation
from hospes.storage.tables_terms import Agreement

MAX_POLICIES = 195  # Entra's limit per tenant
MAX_LOCATIONS = 195


def _stamp(value: datetime | None) -> str | None:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if value is not None else None


def policy_wire(row: ConditionalAccessPolicy) -> dict[str, Any]:
    return {
        "@odata.type": "#microsoft.graph.conditionalAccessPolicy",
        "id": row.id,
        "displayName": row.display_name,
        "description": row.description,
        "state": row.state,
        "templateId": row.template_id,
        "createdDateTime": _stamp(row.created_at),
        "modifiedDateTime": _stamp(row.modified_at),
        "conditions": row.conditions,
        "grantControls": row.grant_controls,
        "sessionControls": row.session_controls,
    }


def _policy_form(row: ConditionalAccessPolicy) -> dict[str, Any]:
    return {k: v for k, v in policy_wire(row).items() if k not in ("@odata.type", *shape.POLICY_READ_ONLY)}


def location_wire(row: NamedLocation) -> dict[str, Any]:
    return {
        "id": row.id,
        "displayName": row.display_name,
        "createdDateTime": _stamp(row.created_at),
        "modifiedDateTime": _stamp(row.modified_at),
        **row.definition,
    }


def _location_form(row: NamedLocation) -> dict[str, Any]:
    return {"displayName": row.display_name, **row.definition}


def _store_location(row: NamedLocation, form: dict[str, Any]) -> None:
    row.kind = "ip" if form["@odata.type"] == shape.IP_TYPE else "country"
    row.display_name = form["displayName"]
    row.is_trusted = bool(form.get("isTrusted", False))
    row.definition = {k: v for k, v in form.items() if k != "displayName"}


def _store_policy(row: ConditionalAccessPolicy, form: dict[str, Any]) -> None:
    row.display_name, row.description, row.state = form["displayName"], form["description"], form["state"]
    row.template_id, row.conditions = form["templateId"], form["conditions"]
    row.grant_controls, row.session_controls = form["grantControls"], form["sessionControls"]


def policies_of(session: Session, tenant_id: str) -> list[ConditionalAccessPolicy]:
    stmt = select(ConditionalAccessPolicy).where(ConditionalAccessPolicy.tenant_id == tenant_id)
    return list(session.scalars(stmt.order_by(ConditionalAccessPolicy.created_at, ConditionalAccessPolicy.id)))


def locations_of(session: Session, tenant_id: str) -> list[NamedLocation]:
    stmt = select(NamedLocation).where(NamedLocation.tenant_id == tenant_id)
    return list(session.scalars(stmt.order_by(NamedLocation.created_at, NamedLocation.id)))


class ConditionalAccessService(Services):
    def list_policies(self) -> list[dict[str, Any]]:
        with self.read() as session:
            return [policy_wire(row) for row in policies_of(session, self.tenant_id)]

    def _policy(self, session: Session, policy_id: str, *, lock: bool = False) -> ConditionalAccessPolicy:
        row = session.get(ConditionalAccessPolicy, policy_id, with_for_update=lock)
        if row is None or row.tenant_id != self.tenant_id:
            raise NotFoundError(policy_id)
        return row

    def get_policy(self, policy_id: str) -> dict[str, Any]:
        with self.read() as session:
            return policy_wire(self._policy(session, policy_id))

    def _check_locations(self, session: Session, form: dict[str, Any]) -> None:
        wanted = shape.location_ids(form)
        if not wanted:
            return
        known = set(
            session.scalars(
                select(NamedLocation.id).where(NamedLocation.tenant_id == self.tenant_id, NamedLocation.id.in_(wanted))
            )
        )
        for missing in sorted(wanted - known):
            raise InvalidInputError(
                f"The named location '{missing}' does not exist in this tenant.", target="conditions.locations"
            )

    def _check_agreements(self, session: Session, form: dict[str, Any]) -> None:
        wanted = set((form.get("grantControls") or {}).get("termsOfUse") or [])
        if not wanted:
            return
        known = set(
            session.scalars(select(Agreement.id).where(Agreement.tenant_id == self.tenant_id, Agreement.id.in_(wanted)))
        )
        for missing in sorted(wanted - known):
            raise InvalidInputError(
                f"The terms of use '{missing}' do not exist in this tenant.", target="grantControls.termsOfUse"
            )

    def create_policy(self, body: Any) -> dict[str, Any]:
        form = shape.parse_policy(body)
        with self.write("Policy", "Add conditional access policy") as op:
            if len(policies_of(op.session, self.tenant_id)) >= MAX_POLICIES:
                raise InvalidInputError(f"A tenant has at most {MAX_POLICIES} conditional access policies.")
            self._check_locations(op.session, form)
            self._check_agreements(op.session, form)
            row = ConditionalAccessPolicy(id=new_id(), tenant_id=self.tenant_id, created_at=op.now)
            _store_policy(row, form)
            op.session.add(row)
            op.session.flush()
            op.target("Policy", row.id, row.display_name)
            op.details["state"] = row.state
            return policy_wire(row)

    def update_policy(self, policy_id: str, body: Any) -> None:
        with self.write("Policy", "Update conditional access policy") as op:
            row = self._policy(op.session, policy_id, lock=True)
            form = shape.parse_policy(body, _policy_form(row))
            self._check_locations(op.session, form)
            self._check_agreements(op.session, form)
            op.details["modifiedProperties"] = sorted(k for k in body if k != "@odata.type")
            op.record_changes(
                row,
                {"state": form["state"], "display_name": form["displayName"]},
                {"state": "state", "display_name": "displayName"},
            )
            _store_policy(row, form)
            row.modified_at = op.now
            op.target("Policy", row.id, row.display_name)

    def delete_policy(self, policy_id: str) -> None:
        with self.write("Policy", "Delete conditional access policy") as op:
            row = self._policy(op.session, policy_id, lock=True)
            op.target("Policy", row.id, row.display_name)
            op.session.delete(row)

    def list_locations(self) -> list[dict[str, Any]]:
        with self.read() as session:
            return [location_wire(row) for row in locations_of(session, self.tenant_id)]

    def _location(self, session: Session, location_id: str, *, lock: bool = False) -> NamedLocation:
        row = session.get(NamedLocation, location_id, with_for_update=lock)
        if row is None or row.tenant_id != self.tenant_id:
            raise NotFoundError(location_id)
        return row

    def get_location(self, location_id: str) -> dict[str, Any]:
        with self.read() as session:
            return location_wire(self._location(session, location_id))

    def create_location(self, body: Any) -> dict[str, Any]:
        form = shape.parse_location(body)
        with self.write("Policy", "Add named location") as op:
            if len(locations_of(op.session, self.tenant_id)) >= MAX_LOCATIONS:
                raise InvalidInputError(f"A tenant has at most {MAX_LOCATIONS} named locations.")
            row = NamedLocation(id=new_id(), tenant_id=self.tenant_id, created_at=op.now)
            _store_location(row, form)
            op.session.add(row)
            op.session.flush()
            op.target("NamedLocation", row.id, row.display_name)
            return location_wire(row)

    def update_location(self, location_id: str, body: Any) -> None:
        with self.write("Policy", "Update named location") as op:
            row = self._location(op.session, location_id, lock=True)
            form = shape.parse_location(body, _location_form(row))
            _store_location(row, form)
            row.modified_at = op.now
            op.details["modifiedProperties"] = sorted(k for k in body if k != "@odata.type")
            op.target("NamedLocation", row.id, row.display_name)

    def delete_location(self, location_id: str) -> None:
        with self.write("Policy", "Delete named location") as op:
            row = self._location(op.session, location_id, lock=True)
            for policy in policies_of(op.session, self.tenant_id):
                if location_id in shape.location_ids(_policy_form(policy)):
                    raise InvalidInputError(
                        f"The named location is used by the conditional access policy '{policy.display_name}'; "
                        "remove it from the policy first."
                    )
            op.target("NamedLocation", row.id, row.display_name)
            op.session.delete(row)
