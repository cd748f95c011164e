"""External collaboration settings as the admin portal shows and saves them, in one read and one transaction
(the API needs three or four calls): the guests' access to the directory (``guestUserRoleId``), who may invite,
the invitation domain allow or block list (``services.b2b_policy``), and the guest sign-in policy
(``services.guest_policy``: email one-time passcode, MFA for guests, trusting the home tenant's MFA, whether
guests may leave the organization)."""

from __future__ import annotations

import json
from typing import Any

from hospes.domain.errors import InvalidInputError
from hospes.domain.ids import new_id
from hospes.services.b2b_policy import (
    ALLOW_INVITES_FROM,
    GUEST_ACCESS_ROLES,
    GUEST_USER_ROLE,
    guest_access_of,
    load_policy,
    parse_definition,
    policy_row,
)
from hospes.services.base import Services
from hospes.services.guest_mfa_policy import set_guest_mfa
from hospes.services.guest_policy import guest_policy_row, load_guest_policy


class CollaborationService(Services):
    def get(self) -> dict[str, Any]:
        with self.read() as session:
            policy = load_policy(session, self.tenant_id)
            guests = load_guest_policy(session, self.tenant_id)
            return {
                "allow_invites_from": policy.allow_invites_from,
                "email_otp_enabled": guests.email_otp,
                "require_guest_mfa": guests.require_guest_mfa,
                "trust_home_mfa": guests.trust_home_mfa,
                "domain_mode": policy.domain_mode or "",
                "domains": list(policy.domains or []),
                "guest_access": guest_access_of(policy),
                "allow_guests_to_leave": guests.allow_guests_to_leave,
            }

    def save(
        self,
        allow_invites_from: str,
        email_otp: bool,
        domain_mode: str,
        domains: list[str],
        *,
        require_guest_mfa: bool = False,
        trust_home_mfa: bool = False,
        guest_access: str = GUEST_USER_ROLE,
        allow_guests_to_leave: bool = True,
    ) -> None:
        """External collaboration settings in one transaction (the API needs three or four calls): who may
        invite, the domain allow/deny list, and the guest sign-in policy of the redemption area (email one-time
        passcode, MFA for guests, trusting the home tenant's MFA)."""
        if allow_invites_from not in ALLOW_INVITES_FROM:
            raise InvalidInputError("Choose who can invite guests.", target="allowInvitesFrom")
        if guest_access not in GUEST_ACCESS_ROLES:
            raise InvalidInputError("Choose the guests' access.", target="guestUserRoleId")
        if domain_mode not in ("", "allow", "block"):
            raise InvalidInputError("Choose a kind of domain list.", target="domainMode")
        parsed_mode: str | None = None
        clean: list[str] = []
        if domain_mode:
            inner = {
                "AllowedDomains": domains if domain_mode == "allow" else [],
                "BlockedDomains": domains if domain_mode == "block" else [],
            }
            definition = [json.dumps({"B2BManagementPolicy": {"InvitationsAllowedAndBlockedDomainsPolicy": inner}})]
            try:
                parsed_mode, clean = parse_definition(definition)
            except InvalidInputError as exc:
                raise InvalidInputError(exc.message, target="domains") from None
            if domain_mode == "allow" and not clean:
                raise InvalidInputError("An allow list needs at least one domain.", target="domains")
        with self.write("Policy", "Update external collaboration settings") as op:
            row = policy_row(op.session, self.tenant_id)
            row.allow_invites_from = allow_invites_from
            row.email_otp_enabled = email_otp
            guests = guest_policy_row(op.session, self.tenant_id, op.now)
            if not email_otp:
                guests.allow_external_id_email_otp = "disabled"
            elif guests.allow_external_id_email_otp == "disabled":
                guests.allow_external_id_email_otp = "default"
            guests.require_guest_mfa, guests.trust_home_mfa = require_guest_mfa, trust_home_mfa
            set_guest_mfa(op.session, self.tenant_id, require_guest_mfa, op.now)
            guests.allow_guests_to_leave = allow_guests_to_leave
            row.authorization_extra = {**(row.authorization_extra or {}), "guestUserRoleId": guest_access}
            guests.updated_at = op.now
            if parsed_mode is None:
                row.domain_policy_id = row.domain_policy_name = row.domain_mode = None
                row.domains = []
            else:
                if row.domain_policy_id is None:
                    row.domain_policy_id, row.domain_policy_name = new_id(), "B2B management policy"
                row.domain_mode, row.domains = parsed_mode, clean
            row.updated_at = op.now
            op.target("Policy", "externalCollaboration", "External collaboration settings")
            op.details["modifiedProperties"] = [
                "guestUserRoleId",
                "allowExternalIdentitiesToLeave",
                "allowInvitesFrom",
                "allowExternalIdToUseEmailOtp",
                "domains",
                "requireGuestMfa",
                "trustHomeTenantMfa",
            ]
