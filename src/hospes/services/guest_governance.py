"""Why and when a guest will be blocked or deleted, in one answer (``/users/{id}/hospesGovernance`` and the
portal's user page): the access packages that govern them and when each assignment ends, what happens after the
last one (the entitlement settings), a block already done (by an access review, the inactivity policy or a
package) with its reason and scheduled deletion, and when the inactivity policy would block them."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from hospes.services import timers
from hospes.services.base import Services
from hospes.services.guest_lifecycle import GuestLifecycle
from hospes.services.users import UserService
from hospes.storage.tables_entitlement import EmAssignment, EmPackage, EmSettings, EmSubject
from hospes.storage.tables_reviews import UserGovernance

ENTITLEMENT_DELETE = "entitlement.deleteGuest"


def _iso(value: datetime | None) -> str | None:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value is not None else None


class GuestGovernance(Services):
    def of(self, key: str) -> dict[str, Any]:
        with self.read() as session:
            user = UserService(self.sessions, self.actor).find(session, key)
            assignments = session.execute(
                select(EmAssignment.id, EmAssignment.package_id, EmPackage.display_name, EmAssignment.end_at)
                .join(EmPackage, EmPackage.id == EmAssignment.package_id)
                .where(
                    EmAssignment.tenant_id == self.tenant_id,
                    EmAssignment.target_user_id == user.id,
                    EmAssignment.state == "delivered",
                )
                .order_by(EmAssignment.end_at)
            ).all()
            subject = session.scalar(
                select(EmSubject).where(EmSubject.tenant_id == self.tenant_id, EmSubject.object_id == user.id)
            )
            governed = subject is not None and subject.lifecycle == "governed"
            em = session.get(EmSettings, self.tenant_id)
            blocked = session.get(UserGovernance, user.id)
            em_deletion = timers.pending(session, self.tenant_id, ENTITLEMENT_DELETE, user.id)
            policy = GuestLifecycle(self.sessions, self.actor).settings(session)
        packages = [
            {"assignmentId": aid, "accessPackageId": pid, "displayName": name, "expirationDateTime": _iso(end)}
            for aid, pid, name, end in assignments
        ]
        out: dict[str, Any] = {
            "userId": user.id,
            "userType": user.user_type,
            "accountEnabled": user.account_enabled,
            "governedByAccessPackages": governed,
            "accessPackageAssignments": packages,
            "afterLastAssignment": None,
            "block": None,
            "scheduledDeletionDateTime": None,
            "inactivity": None,
        }
        if governed:
            action = em.lifecycle_action if em is not None else "blockSignInAndDelete"
            after = em.delete_after if em is not None else "P30D"
            ends = [a["expirationDateTime"] for a in packages]
            last = None if not ends or None in ends else max(e for e in ends if e)
            out["afterLastAssignment"] = {
                "externalUserLifecycleAction": action,
                "durationUntilExternalUserDeletedAfterBlocked": after,
                "lastAssignmentEndDateTime": last,
            }
        if blocked is not None:
            out["block"] = {
                "origin": blocked.origin,
                "reason": blocked.reason,
                "blockedDateTime": _iso(blocked.blocked_at),
            }
            out["scheduledDeletionDateTime"] = _iso(blocked.scheduled_deletion_at)
        elif em_deletion is not None:
            out["block"] = {"origin": "accessPackage", "reason": "The guest's last access package assignment ended."}
            out["scheduledDeletionDateTime"] = _iso(em_deletion)
        if user.user_type == "Guest" and policy.enabled and not packages and user.account_enabled:
            seen = user.last_successful_sign_in_at or user.last_sign_in_at or user.created_at
            block_on = seen + timedelta(days=policy.block_after_days)
            out["inactivity"] = {
                "lastActivityDateTime": _iso(seen),
                "blockOnDateTime": _iso(block_on),
                "deleteOnDateTime": _iso(block_on + timedelta(days=policy.delete_after_days)),
            }
        return out
