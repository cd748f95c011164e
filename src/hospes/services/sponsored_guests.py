"""A sponsor's guests: the guests a user sponsors (directly, or through a sponsoring group they belong to), with
their last sign-in, and removing one: sign-in blocked at once, deletion scheduled after the inactivity policy's
grace (an administrator may enable the guest again meanwhile), the reason kept on the guest. Sponsors are
accountable for their guests; this is how they act on it without an administrator role."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Select, or_, select, update
from sqlalchemy.orm import Session

from hospes.domain.changes import ChangeType, ObjectType
from hospes.domain.errors import NotFoundError
from hospes.services import timers
from hospes.services.base import Services
from hospes.services.guest_lifecycle import DELETE_GUEST, GuestLifecycle
from hospes.services.memberships import transitive_groups
from hospes.services.web_sessions import revoke_user_sessions
from hospes.storage.tables import User, UserSponsor
from hospes.storage.tables_reviews import UserGovernance


@dataclass(frozen=True)
class SponsoredGuest:
    id: str
    name: str | None
    principal_name: str
    enabled: bool
    last_sign_in: datetime | None
    deletion_at: datetime | None


class SponsoredGuests(Services):
    def _sponsored(self, session: Session) -> Select[str]:
        groups = transitive_groups(session, self.tenant_id, self.actor.id)
        return select(UserSponsor.user_id).where(
            UserSponsor.tenant_id == self.tenant_id,
            or_(
                UserSponsor.sponsor_id == self.actor.id,
                (UserSponsor.sponsor_type == "group") & UserSponsor.sponsor_id.in_(groups),
            ),
        )

    def guests(self) -> list[SponsoredGuest]:
        with self.read() as session:
            rows = session.execute(
                select(User, UserGovernance.scheduled_deletion_at)
                .outerjoin(UserGovernance, UserGovernance.user_id == User.id)
                .where(
                    User.id.in_(self._sponsored(session)),
                    User.user_type == "Guest",
                    User.deleted_at.is_(None),
                )
                .order_by(User.display_name, User.id)
            ).all()
            return [
                SponsoredGuest(
                    u.id,
                    u.display_name,
                    u.user_principal_name,
                    u.account_enabled,
                    u.last_successful_sign_in_at or u.last_sign_in_at,
                    deletion,
                )
                for u, deletion in rows
            ]

    def remove(self, guest_id: str, reason: str | None) -> datetime:
        """Block one of the caller's guests now and schedule their deletion; returns its date."""
        with self.write("UserManagement", "Disable account") as op:
            guest = op.session.scalar(
                select(User).where(
                    User.id == guest_id,
                    User.id.in_(self._sponsored(op.session)),
                    User.user_type == "Guest",
                    User.deleted_at.is_(None),
                )
            )
            if guest is None:
                raise NotFoundError(guest_id)
            grace = GuestLifecycle(self.sessions, self.actor).settings(op.session).delete_after_days
            deletion = op.now + timedelta(days=grace)
            op.session.execute(update(User).where(User.id == guest.id).values(account_enabled=False))
            revoke_user_sessions(op.session, guest.id, op.now)
            op.change(ObjectType.USER, guest.id, ChangeType.UPDATED, ["accountEnabled"])
            found = op.session.get(UserGovernance, guest.id)
            if found is not None:
                op.session.delete(found)
                op.session.flush()
            why = f"Removed by their sponsor {self.actor.display_name}" + (f": {reason}" if reason else "")
            op.session.add(
                UserGovernance(
                    user_id=guest.id,
                    tenant_id=self.tenant_id,
                    origin="sponsor",
                    origin_id=self.actor.id,
                    reason=why[:1024],
                    blocked_at=op.now,
                    scheduled_deletion_at=deletion,
                )
            )
            timers.schedule(op.session, self.tenant_id, DELETE_GUEST, guest.id, deletion)
            op.target("User", guest.id, guest.user_principal_name)
            op.details.update({"reason": why, "scheduledDeletionDateTime": deletion.isoformat()})
            return deletion
