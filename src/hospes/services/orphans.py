"""Orphaned guests: a guest whose last live sponsor was removed, deleted or blocked has nobody accountable for
them any more. The write that caused it also writes one audit row per such guest ("Guest has no sponsor"), which
the audit log, its CSV and any alerting on it see; the guest itself is not changed."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select

from hospes.services.base import Services, Write
from hospes.storage.tables import Group, User, UserSponsor

ACTIVITY = "Guest has no sponsor"


def live_sponsors(op: Write, guest_id: str) -> int:
    """How many of the guest's sponsors still exist (users also enabled)."""
    count = 0
    for sponsor_id, kind in op.session.execute(
        select(UserSponsor.sponsor_id, UserSponsor.sponsor_type).where(UserSponsor.user_id == guest_id)
    ):
        row: User | Group | None = (
            op.session.get(User, sponsor_id) if kind == "user" else op.session.get(Group, sponsor_id)
        )
        alive = row is not None and row.deleted_at is None
        if isinstance(row, User) and not row.account_enabled:
            alive = False
        count += alive
    return count


def note_orphans(services: Services, op: Write, guest_ids: Iterable[str], cause: str) -> None:
    """Audit each of ``guest_ids`` left without a live sponsor by this write."""
    op.session.flush()
    for guest_id in dict.fromkeys(guest_ids):
        guest = op.session.get(User, guest_id)
        if guest is None or guest.deleted_at is not None or guest.user_type != "Guest" or live_sponsors(op, guest_id):
            continue
        row = services.audit_row(op, "UserManagement", ACTIVITY, "success", None)
        row.target_type, row.target_id, row.target_name = "User", guest.id, guest.user_principal_name
        row.details = {"cause": cause}
        op.session.add(row)


def sponsored_by(op: Write, sponsor_id: str) -> list[str]:
    return list(op.session.scalars(select(UserSponsor.user_id).where(UserSponsor.sponsor_id == sponsor_id)))
