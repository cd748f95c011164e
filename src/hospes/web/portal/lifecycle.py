"""The "Lifecycle" panel of a guest's page in the portal: why and when the guest will be blocked or deleted (an
access review, the inactivity policy, a sponsor, the access packages that govern them), in words and dates."""

from __future__ import annotations

import re
from typing import Any

from hospes.services.guest_governance import GuestGovernance
from hospes.web.portal.access import AdminPage

_DAYS = re.compile(r"^P(\d+)D$")


def lifecycle_of(admin: AdminPage, user: Any) -> dict[str, Any] | None:
    """The panel's facts for a live guest; None for members and deleted users (nothing will happen to them)."""
    if user.user_type != "Guest" or user.deleted_at is not None:
        return None
    raw = GuestGovernance(admin.sessions, admin.principal).of(user.id)
    after = raw["afterLastAssignment"] or {}
    action = after.get("externalUserLifecycleAction") or ""
    delete_after = _DAYS.match(after.get("durationUntilExternalUserDeletedAfterBlocked") or "")
    inactivity = raw["inactivity"] or {}
    return {
        "block_reason": (raw["block"] or {}).get("reason"),
        "deletion": (raw["scheduledDeletionDateTime"] or "")[:10] or None,
        "packages": [
            (a["displayName"], (a["expirationDateTime"] or "")[:10] or None) for a in raw["accessPackageAssignments"]
        ],
        "after_block": action in ("blockSignIn", "blockSignInAndDelete"),
        "after_delete_days": int(delete_after.group(1)) if delete_after and action == "blockSignInAndDelete" else None,
        "inactive_block": (inactivity.get("blockOnDateTime") or "")[:10] or None,
        "inactive_delete": (inactivity.get("deleteOnDateTime") or "")[:10] or None,
    }
