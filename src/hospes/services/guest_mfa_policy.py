"""The tenant setting "require multifactor authentication for guests" as a conditional-access policy: turning the
setting on enables the policy ``guest_mfa_policy_id`` (creating it the first time), turning it off disables it, and
the setting reads as on while that policy is enabled. An administrator may edit the policy like any other; the
migration that introduced conditional access created it for every tenant that had the setting on.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from hospes.domain.conditional_access import DISABLED, ENABLED, parse_policy
from hospes.storage.tables_access import ConditionalAccessPolicy

GUEST_MFA_POLICY_NAME = "Require multifactor authentication for guests"
_GUEST_MFA_NAMESPACE = uuid.UUID("7b0c9a52-5d1e-4c4e-9a67-0c5f3f1d2e11")


def guest_mfa_policy_id(tenant_id: str) -> str:
    """The id of the tenant's "MFA for guests" policy: fixed per tenant, so the setting always finds it."""
    return str(uuid.uuid5(_GUEST_MFA_NAMESPACE, tenant_id))


def guest_mfa_policy_form() -> dict[str, Any]:
    return parse_policy(
        {
            "displayName": GUEST_MFA_POLICY_NAME,
            "description": "Guests and external users prove a second factor to sign in to any app.",
            "state": ENABLED,
            "conditions": {
                "users": {"includeUsers": ["GuestsOrExternalUsers"]},
                "applications": {"includeApplications": ["All"]},
            },
            "grantControls": {"operator": "OR", "builtInControls": ["mfa"]},
        }
    )


def guest_mfa_enabled(session: Session, tenant_id: str) -> bool:
    row = session.get(ConditionalAccessPolicy, guest_mfa_policy_id(tenant_id))
    return row is not None and row.tenant_id == tenant_id and row.state == ENABLED


def set_guest_mfa(session: Session, tenant_id: str, on: bool, now: datetime) -> None:
    """The setting's write, in the caller's transaction."""
    policy_id = guest_mfa_policy_id(tenant_id)
    row = session.get(ConditionalAccessPolicy, policy_id, with_for_update=True)
    if row is None:
        if not on:
            return
        form = guest_mfa_policy_form()
        session.add(
            ConditionalAccessPolicy(
                id=policy_id,
                tenant_id=tenant_id,
                display_name=form["displayName"],
                description=form["description"],
                state=ENABLED,
                template_id=None,
                conditions=form["conditions"],
                grant_controls=form["grantControls"],
                session_controls=form["sessionControls"],
                created_at=now,
            )
        )
        return
    wanted = ENABLED if on else DISABLED
    if row.state != wanted:
        row.state, row.modified_at = wanted, now
