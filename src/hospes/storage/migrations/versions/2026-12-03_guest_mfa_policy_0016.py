"""conditional access: the "require MFA for guests" setting becomes a policy

Every tenant whose guest sign-in policy required MFA gets the enabled conditional-access policy "Require
multifactor authentication for guests" (all guests and external users, every app, grant MFA), under the id the
setting finds it by; from now on the setting reads and writes that policy. Tenants without the setting get
nothing. The old column stays (a downgrade reads it again) and is kept in step by the setting's writes.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-03 11:45:00
"""

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

from hospes.storage.tables import JsonType, UtcDateTime

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# As services.guest_mfa_policy has them when this migration was written (frozen here on purpose).
_NAMESPACE = uuid.UUID("7b0c9a52-5d1e-4c4e-9a67-0c5f3f1d2e11")
_CONDITIONS = {
    "users": {
        "includeUsers": ["GuestsOrExternalUsers"],
        "excludeUsers": [],
        "includeGroups": [],
        "excludeGroups": [],
        "includeRoles": [],
        "excludeRoles": [],
        "includeGuestsOrExternalUsers": None,
        "excludeGuestsOrExternalUsers": None,
    },
    "applications": {
        "includeApplications": ["All"],
        "excludeApplications": [],
        "includeUserActions": [],
        "includeAuthenticationContextClassReferences": [],
        "applicationFilter": None,
    },
    "clientAppTypes": ["all"],
    "locations": None,
    "platforms": None,
    "signInRiskLevels": [],
    "userRiskLevels": [],
    "servicePrincipalRiskLevels": [],
    "clientApplications": None,
    "devices": None,
}
_GRANT = {"operator": "OR", "builtInControls": ["mfa"], "customAuthenticationFactors": [], "termsOfUse": []}

_guest_access = sa.table("guest_access_policies", sa.column("tenant_id", sa.String), sa.column("require_guest_mfa"))
_policies = sa.table(
    "conditional_access_policies",
    sa.column("id", sa.String),
    sa.column("tenant_id", sa.String),
    sa.column("display_name", sa.String),
    sa.column("description", sa.Text),
    sa.column("state", sa.String),
    sa.column("template_id", sa.String),
    sa.column("conditions", JsonType),
    sa.column("grant_controls", JsonType),
    sa.column("session_controls", JsonType),
    sa.column("created_at", UtcDateTime()),
    sa.column("modified_at", UtcDateTime()),
)


def upgrade() -> None:
    connection = op.get_bind()
    tenants = connection.execute(
        sa.select(_guest_access.c.tenant_id).where(_guest_access.c.require_guest_mfa.is_(True))
    ).scalars()
    now = datetime.now(UTC)
    rows = [
        {
            "id": str(uuid.uuid5(_NAMESPACE, tenant_id)),
            "tenant_id": tenant_id,
            "display_name": "Require multifactor authentication for guests",
            "description": "Guests and external users prove a second factor to sign in to any app.",
            "state": "enabled",
            "template_id": None,
            "conditions": _CONDITIONS,
            "grant_controls": _GRANT,
            "session_controls": None,
            "created_at": now,
            "modified_at": None,
        }
        for tenant_id in tenants
    ]
    if rows:
        op.bulk_insert(_policies, rows)


def downgrade() -> None:
    # The setting comes back from the policy as it is now (an administrator may have turned it on or off).
    connection = op.get_bind()
    for policy_id, tenant_id, state in connection.execute(
        sa.select(_policies.c.id, _policies.c.tenant_id, _policies.c.state)
    ):
        if policy_id == str(uuid.uuid5(_NAMESPACE, tenant_id)):
            connection.execute(
                _guest_access.update()
                .where(_guest_access.c.tenant_id == tenant_id)
                .values(require_guest_mfa=state == "enabled")
            )
            connection.execute(_policies.delete().where(_policies.c.id == policy_id))
