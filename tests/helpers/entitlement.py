"""Entitlement management in tests: a catalog with a group and an app, a package granting both, and the timer
processor run with a clock the test moves."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from hospes.domain.clock import utcnow
from hospes.services import timers
from hospes.services.entitlement.lifecycle import timer_handlers
from hospes.services.entitlement.notify import EmConfig
from hospes.storage.tables import ChangeLog
from tests.helpers.tenants import TenantHandle

EM = "/identityGovernance/entitlementManagement"
ROLE_ID = "0c7a7ff4-8d1e-4b0f-9a77-5b3f1b0f1a01"


@dataclass
class Bundle:
    catalog: dict[str, Any]
    package: dict[str, Any]
    group: dict[str, Any]
    sp: dict[str, Any]


def ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json() if response.content else None


def make_app(tenant: TenantHandle, name: str = "Partner portal") -> dict[str, Any]:
    role = {
        "id": ROLE_ID,
        "allowedMemberTypes": ["User"],
        "displayName": "Reader",
        "value": "Reader",
        "description": "Reads",
        "isEnabled": True,
    }
    app = ok(tenant.post("/applications", json={"displayName": name, "appRoles": [role]}), 201)
    sp: dict[str, Any] = ok(tenant.post("/servicePrincipals", json={"appId": app["appId"]}), 201)
    return sp


def make_bundle(tenant: TenantHandle, name: str = "Partners") -> Bundle:
    group = tenant.new_group(f"{name} team {uuid.uuid4().hex[:6]}")
    sp = make_app(tenant, f"{name} app")
    catalog = ok(tenant.post(f"{EM}/catalogs", json={"displayName": f"{name} catalog"}), 201)
    for origin_id, system in ((group["id"], "AadGroup"), (sp["id"], "AadApplication")):
        body = {
            "requestType": "adminAdd",
            "resource": {"originId": origin_id, "originSystem": system},
            "catalog": {"id": catalog["id"]},
        }
        assert ok(tenant.post(f"{EM}/resourceRequests", json=body), 201)["state"] == "delivered"
    package = ok(tenant.post(f"{EM}/accessPackages", json={"displayName": name, "catalog": {"id": catalog["id"]}}), 201)
    for system, origin in (("AadGroup", f"Member_{group['id']}"), ("AadApplication", ROLE_ID)):
        roles = ok(
            tenant.get(
                f"{EM}/catalogs/{catalog['id']}/resourceRoles?$filter=originSystem eq '{system}'&$expand=resource"
            )
        )["value"]
        role = next(r for r in roles if r["originId"] == origin)
        body = {
            "role": {
                "id": role["id"],
                "originId": origin,
                "originSystem": system,
                "resource": {"id": role["resource"]["id"]},
            },
            "scope": {"originId": role["resource"]["originId"], "originSystem": system},
        }
        ok(tenant.post(f"{EM}/accessPackages/{package['id']}/resourceRoleScopes", json=body), 201)
    return Bundle(catalog, package, group, sp)


def policy_body(package_id: str, scope: str, **extra: Any) -> dict[str, Any]:
    return {
        "displayName": "policy",
        "allowedTargetScope": scope,
        "accessPackage": {"id": package_id},
        "expiration": {"type": "afterDuration", "duration": "P30D"},
        "requestorSettings": {
            "enableTargetsToSelfAddAccess": True,
            "enableTargetsToSelfUpdateAccess": True,
            "enableTargetsToSelfRemoveAccess": True,
        },
        **extra,
    }


def stages(*approver_ids: str) -> dict[str, Any]:
    return {
        "isApprovalRequiredForAdd": True,
        "stages": [
            {
                "durationBeforeAutomaticDenial": "P7D",
                "primaryApprovers": [{"@odata.type": "#microsoft.graph.singleUser", "userId": uid}],
            }
            for uid in approver_ids
        ],
    }


def run_timers(
    sessions: sessionmaker[Session], after: timedelta, tenant_id: str, config: EmConfig | None = None
) -> int:
    """Every timer of the tenant due ``after`` from now, as the worker would run them (other tests' tenants keep
    theirs)."""
    handlers = {**timers.HANDLERS, **timer_handlers(config)}

    def clock() -> datetime:
        return utcnow() + after

    return timers.TimerProcessor(sessions, "test", handlers=handlers, clock=clock, tenant_id=tenant_id).run_due()


def changes(sessions: sessionmaker[Session], tenant_id: str, object_id: str) -> list[tuple[str, str | None]]:
    with sessions() as s:
        rows = s.execute(
            select(ChangeLog.change_type, ChangeLog.related_id)
            .where(ChangeLog.tenant_id == tenant_id, ChangeLog.object_id == object_id)
            .order_by(ChangeLog.seq)
        )
        return [(str(r[0]), r[1]) for r in rows]


def seed_assignments(
    sessions: sessionmaker[Session], tenant_id: str, package_id: str, policy_id: str, count: int, end_at: datetime
) -> list[str]:
    """``count`` new members, each holding the package (delivered, roles granted through the group and app-role
    services, expiry timer armed), written in one transaction: the set-up of the expiry batches, without ``count``
    requests' worth of time."""
    from hospes.domain.ids import new_id
    from hospes.domain.principals import system_principal
    from hospes.services.base import Services
    from hospes.services.entitlement import grants
    from hospes.services.entitlement.common import subject_for_user
    from hospes.services.entitlement.lifecycle import EXPIRE
    from hospes.services.users import UserService
    from hospes.storage.tables import Domain
    from hospes.storage.tables_entitlement import EmAssignment

    services = Services(sessions, system_principal(tenant_id))
    users = UserService(sessions, services.actor)
    ids: list[str] = []
    with services.write("Test", "Seed assignments") as op:
        domain = op.session.scalar(select(Domain.name).where(Domain.tenant_id == tenant_id, Domain.is_initial))
        for _ in range(count):
            nick = f"s{uuid.uuid4().hex[:10]}"
            upn = f"{nick}@{domain}"
            user = users.insert(
                op,
                {
                    "user_principal_name": upn,
                    "display_name": nick,
                    "mail_nickname": nick,
                    "mail": upn,
                    "account_enabled": True,
                },
                None,
            )
            subject = subject_for_user(op, user.id, display_name=nick, upn=upn, mail=upn)
            assignment = EmAssignment(
                id=new_id(),
                tenant_id=tenant_id,
                package_id=package_id,
                policy_id=policy_id,
                subject_id=subject.id,
                target_user_id=user.id,
                state="delivered",
                status="Delivered",
                start_at=op.now,
                end_at=end_at,
                created_at=op.now,
            )
            op.session.add(assignment)
            grants.grant_all(op, assignment)
            timers.schedule(op.session, tenant_id, EXPIRE, assignment.id, end_at)
            ids.append(user.id)
    return ids
