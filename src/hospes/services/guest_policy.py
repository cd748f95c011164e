"""A tenant's guest sign-in policy: whether guests may prove their address with an email one-time passcode, whether
the tenant asks guests for MFA (a conditional-access policy: ``services.guest_mfa_policy``), whether it trusts the
MFA of a guest's home tenant, and whether guests may leave the organization on their own. Read by the redemption flow,
changed through Graph (the email authentication method configuration), the portal and ``hospes guest-policy``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from hospes.services.b2b_policy import load_policy, policy_row
from hospes.services.base import Services, settings_row_for_update
from hospes.services.guest_mfa_policy import guest_mfa_enabled, set_guest_mfa
from hospes.storage.tables_redemption import GuestAccessPolicy


@dataclass(frozen=True)
class GuestPolicy:
    email_otp: bool
    email_method_state: str
    allow_external_id_email_otp: str
    require_guest_mfa: bool
    trust_home_mfa: bool
    allow_guests_to_leave: bool = True


def load_guest_policy(session: Session, tenant_id: str) -> GuestPolicy:
    row = session.get(GuestAccessPolicy, tenant_id)
    b2b = load_policy(session, tenant_id)
    allow = row.allow_external_id_email_otp if row else "default"
    # b2b_policies.email_otp_enabled is the one switch (the portal flips it too); this row only remembers how Graph
    # spelled "on" (default or enabled).
    if b2b.email_otp_enabled is False:  # None: no row yet, the default (on)
        allow = "disabled"
    elif allow == "disabled":
        allow = "enabled"
    return GuestPolicy(
        email_otp=allow != "disabled",
        email_method_state=row.email_method_state if row else "enabled",
        allow_external_id_email_otp=allow,
        require_guest_mfa=guest_mfa_enabled(session, tenant_id),
        trust_home_mfa=bool(row and row.trust_home_mfa),
        allow_guests_to_leave=row is None or row.allow_guests_to_leave is not False,
    )


def guest_policy_row(session: Session, tenant_id: str, now: datetime) -> GuestAccessPolicy:
    return settings_row_for_update(
        session,
        GuestAccessPolicy,
        tenant_id,
        lambda: GuestAccessPolicy(
            tenant_id=tenant_id,
            email_method_state="enabled",
            allow_external_id_email_otp="default",
            require_guest_mfa=False,
            trust_home_mfa=False,
            allow_guests_to_leave=True,
            updated_at=now,
        ),
        "guest sign-in policy",
    )


class GuestPolicyService(Services):
    """Guest sign-in settings of a tenant: for the Graph email method configuration and the admin portal."""

    def get(self) -> GuestPolicy:
        with self.read() as session:
            return load_guest_policy(session, self.tenant_id)

    def update(
        self,
        *,
        email_otp: str | None = None,
        email_method_state: str | None = None,
        require_guest_mfa: bool | None = None,
        trust_home_mfa: bool | None = None,
        allow_guests_to_leave: bool | None = None,
    ) -> GuestPolicy:
        """``email_otp``: allowExternalIdToUseEmailOtp (default | enabled | disabled)."""
        with self.write("Policy", "Update guest sign-in policy") as op:
            row = guest_policy_row(op.session, self.tenant_id, op.now)
            changed: list[str] = []
            if email_otp is not None:
                row.allow_external_id_email_otp = email_otp
                b2b = policy_row(op.session, self.tenant_id)
                b2b.email_otp_enabled = email_otp != "disabled"
                b2b.updated_at = op.now
                changed.append("allowExternalIdToUseEmailOtp")
            if email_method_state is not None:
                row.email_method_state = email_method_state
                changed.append("state")
            if require_guest_mfa is not None:
                row.require_guest_mfa = require_guest_mfa
                set_guest_mfa(op.session, self.tenant_id, require_guest_mfa, op.now)
                changed.append("requireGuestMfa")
            if trust_home_mfa is not None:
                row.trust_home_mfa = trust_home_mfa
                changed.append("trustHomeTenantMfa")
            if allow_guests_to_leave is not None:
                row.allow_guests_to_leave = allow_guests_to_leave
                changed.append("allowExternalIdentitiesToLeave")
            row.updated_at = op.now
            op.target("Policy", "guestAccess", "Guest sign-in")
            op.details["modifiedProperties"] = changed
            op.session.flush()
            return load_guest_policy(op.session, self.tenant_id)
