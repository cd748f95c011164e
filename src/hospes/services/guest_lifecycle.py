"""The guest inactivity policy: "block guests inactive for N days, delete them M days later", with a dry run.

A guest's activity is their last successful sign-in (interactive or not), else their last interactive one, else when
their account was created: a guest who never signed in counts from the day they were invited. Guests whose access
an access package governs (an assignment still delivered) are left to the package's own expiry and lifecycle,
and the report says so, as are disabled guests (someone already acted). A run blocks sign-in at once (sessions and
refresh tokens end) and schedules the deletion on the durable timers, recording why on the guest
(``user_governance``); an administrator who enables the guest again cancels it. The policy runs daily once enabled.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from hospes.domain.changes import ChangeType, ObjectType
from hospes.domain.errors import InvalidInputError
from hospes.services import timers
from hospes.services.base import Services, Write, settings_row_for_update
from hospes.services.web_sessions import revoke_user_sessions
from hospes.storage.tables import User
from hospes.storage.tables_entitlement import EmAssignment
from hospes.storage.tables_reviews import GuestLifecyclePolicy, UserGovernance

RUN, DELETE_GUEST = "governance.lifecycleRun", "governance.deleteGuest"
DAILY = timedelta(days=1)
_CHUNK = 900


@dataclass(frozen=True)
class Settings:
    enabled: bool
    block_after_days: int
    delete_after_days: int


def wire(settings: Settings) -> dict[str, Any]:
    return {
        "isEnabled": settings.enabled,
        "blockAfterInactiveDays": settings.block_after_days,
        "deleteAfterBlockedDays": settings.delete_after_days,
    }


def _days(value: Any, name: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidInputError(f"'{name}' must be a whole number of days from {low} to {high}.", target=name)
    return value


def merged(current: Settings, body: Any) -> Settings:
    """``current`` with the changes of a PATCH (or a dry run's proposed settings) applied and checked."""
    if not isinstance(body, dict):
        raise InvalidInputError("The body must be an object.")
    unknown = set(body) - {"isEnabled", "blockAfterInactiveDays", "deleteAfterBlockedDays", "@odata.type"}
    if unknown:
        raise InvalidInputError(f"Unknown property '{sorted(unknown)[0]}'.", target=sorted(unknown)[0])
    enabled = body.get("isEnabled", current.enabled)
    if not isinstance(enabled, bool):
        raise InvalidInputError("'isEnabled' must be true or false.", target="isEnabled")
    block = _days(body.get("blockAfterInactiveDays", current.block_after_days), "blockAfterInactiveDays", 30, 730)
    delete = _days(body.get("deleteAfterBlockedDays", current.delete_after_days), "deleteAfterBlockedDays", 0, 365)
    return Settings(enabled, block, delete)


class GuestLifecycle(Services):
    def settings(self, session: Session | None = None) -> Settings:
        if session is None:
            with self.read() as own:
                return self.settings(own)
        row = session.get(GuestLifecyclePolicy, self.tenant_id)
        if row is None:
            return Settings(False, 90, 30)
        return Settings(row.enabled, row.block_after_days, row.delete_after_days)

    def update(self, body: Any) -> dict[str, Any]:
        with self.write("Policy", "Update guest lifecycle policy") as op:
            row = settings_row_for_update(
                op.session,
                GuestLifecyclePolicy,
                self.tenant_id,
                lambda: GuestLifecyclePolicy(
                    tenant_id=self.tenant_id,
                    enabled=False,
                    block_after_days=90,
                    delete_after_days=30,
                    updated_at=op.now,
                ),  # fmt: skip
                "guest lifecycle policy",
            )
            new = merged(Settings(row.enabled, row.block_after_days, row.delete_after_days), body)
            op.details["changes"] = [{"old": wire(self.settings(op.session)), "new": wire(new)}]
            row.enabled, row.block_after_days, row.delete_after_days = (
                new.enabled,
                new.block_after_days,
                new.delete_after_days,
            )
            row.updated_at = op.now
            op.target("Policy", self.tenant_id, "guestLifecyclePolicy")
            if new.enabled:
                timers.schedule(op.session, self.tenant_id, RUN, self.tenant_id, op.now)
            else:
                timers.cancel(op.session, self.tenant_id, RUN, self.tenant_id)
            return wire(new)

    def preview(self, body: Any | None = None) -> dict[str, Any]:
        """The dry run: who a run would block and delete now, under the stored settings or proposed ones."""
        with self.read() as session:
            current = self.settings(session)
            settings = merged(current, body) if body else current
            return self._report(session, settings, self.clock())

    def run_now(self) -> dict[str, Any]:
        with self.write("UserManagement", "Apply guest lifecycle policy") as op:
            return self.run(op, self.settings(op.session))

    def run(self, op: Write, settings: Settings) -> dict[str, Any]:
        """One run inside ``op``: block the inactive guests and schedule their deletion; returns the report."""
        report = self._report(op.session, settings, op.now)
        deletion = op.now + timedelta(days=settings.delete_after_days)
        ids = [entry["id"] for entry in report["toBlock"]]
        for start in range(0, len(ids), _CHUNK):
            chunk = ids[start : start + _CHUNK]
            op.session.execute(update(User).where(User.id.in_(chunk)).values(account_enabled=False))
        for entry in report["toBlock"]:
            revoke_user_sessions(op.session, entry["id"], op.now)
            op.change(ObjectType.USER, entry["id"], ChangeType.UPDATED, ["accountEnabled"])
            found = op.session.get(UserGovernance, entry["id"])
            if found is not None:
                op.session.delete(found)
                op.session.flush()
            op.session.add(
                UserGovernance(
                    user_id=entry["id"],
                    tenant_id=self.tenant_id,
                    origin="lifecyclePolicy",
                    reason=entry["reason"][:1024],
                    blocked_at=op.now,
                    scheduled_deletion_at=deletion,
                )
            )
            timers.schedule(op.session, self.tenant_id, DELETE_GUEST, entry["id"], deletion)
            row = self.audit_row(op, "UserManagement", "Disable account", "success", None)
            row.target_type, row.target_id, row.target_name = "User", entry["id"], entry["userPrincipalName"]
            row.details = {"reason": entry["reason"], "scheduledDeletionDateTime": deletion.isoformat()}
            op.session.add(row)
        op.target("Policy", self.tenant_id, "guestLifecyclePolicy")
        op.details.update({"blocked": len(ids)})
        return report

    def _report(self, session: Session, settings: Settings, now: datetime) -> dict[str, Any]:
        cutoff = now - timedelta(days=settings.block_after_days)
        seen = func.coalesce(User.last_successful_sign_in_at, User.last_sign_in_at, User.created_at)
        rows = session.execute(
            select(User.id, User.user_principal_name, User.display_name, seen)
            .where(
                User.tenant_id == self.tenant_id,
                User.user_type == "Guest",
                User.deleted_at.is_(None),
                User.account_enabled.is_(True),
                seen < cutoff,
            )
            .order_by(seen, User.id)
        ).all()
        governed = self._governed(session, [r[0] for r in rows])
        to_block: list[dict[str, Any]] = []
        kept: list[dict[str, Any]] = []
        for uid, upn, name, last in rows:
            entry = {"id": uid, "userPrincipalName": upn, "displayName": name, "lastActivityDateTime": _iso(last)}
            if uid in governed:
                kept.append({**entry, "reason": "An access package governs this guest's access and lifecycle."})
            else:
                reason = f"No sign-in for {settings.block_after_days} days (last activity {_iso(last)})."
                to_block.append({**entry, "reason": reason})
        due = session.execute(
            select(UserGovernance.user_id, UserGovernance.scheduled_deletion_at, UserGovernance.reason)
            .where(UserGovernance.tenant_id == self.tenant_id, UserGovernance.scheduled_deletion_at.is_not(None))
            .order_by(UserGovernance.scheduled_deletion_at)
        ).all()
        return {
            "settings": wire(settings),
            "evaluatedDateTime": _iso(now),
            "toBlock": to_block,
            "scheduledDeletionDateTime": _iso(now + timedelta(days=settings.delete_after_days)),
            "excluded": kept,
            "pendingDeletions": [
                {"id": uid, "scheduledDeletionDateTime": _iso(at), "reason": why} for uid, at, why in due
            ],
        }

    def _governed(self, session: Session, ids: list[str]) -> set[str]:
        found: set[str] = set()
        for start in range(0, len(ids), _CHUNK):
            found |= set(
                session.scalars(
                    select(EmAssignment.target_user_id).where(
                        EmAssignment.tenant_id == self.tenant_id,
                        EmAssignment.target_user_id.in_(ids[start : start + _CHUNK]),
                        EmAssignment.state == "delivered",
                    )
                )
            )
        return found


def _iso(value: datetime | None) -> str | None:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value is not None else None
