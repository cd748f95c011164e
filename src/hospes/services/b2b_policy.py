"""Who may invite, and whom: ``authorizationPolicy.allowInvitesFrom`` and the invitation domain allow/deny list.
Checked at invitation time, and again at redemption by the redemption flow. (Recipients who blocked a tenant:
``services.invitations.blocks``.)
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from hospes.domain.delegation import GUESTS_AS_MEMBERS, GUESTS_LIMITED, GUESTS_RESTRICTED
from hospes.domain.errors import ConflictError, ForbiddenError, InvalidInputError, InvitationError, NotFoundError
from hospes.domain.ids import new_id
from hospes.domain.principals import GLOBAL_ADMINISTRATOR, GUEST_INVITER, USER_ADMINISTRATOR, Principal
from hospes.services.base import Services, settings_row_for_update
from hospes.storage.tables import B2BPolicy, DirectoryRoleMember, User

ALLOW_INVITES_FROM = ("none", "adminsAndGuestInviters", "adminsGuestInvitersAndAllMembers", "everyone")
INVITER_ROLES = frozenset({GLOBAL_ADMINISTRATOR, USER_ADMINISTRATOR, GUEST_INVITER})
ADMIN_ROLES = frozenset({GLOBAL_ADMINISTRATOR, USER_ADMINISTRATOR})
NOT_ALLOWED = "Guest invitations not allowed for your company. Contact your company administrator for more details."
GUEST_USER_ROLE = GUESTS_LIMITED
GUEST_ACCESS_ROLES = (GUESTS_AS_MEMBERS, GUESTS_LIMITED, GUESTS_RESTRICTED)
MAX_DEFINITION_BYTES = 25 * 1024
_DOMAIN = re.compile(r"^(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{0,62}$")

# authorizationPolicy properties Hospes keeps verbatim (it does not act on them yet) and their defaults.
AUTHORIZATION_DEFAULTS: dict[str, Any] = {
    "allowedToSignUpEmailBasedSubscriptions": True,
    "allowedToUseSSPR": True,
    "allowEmailVerifiedUsersToJoinOrganization": False,
    "allowUserConsentForRiskyApps": False,
    "blockMsolPowerShell": False,
    "guestUserRoleId": GUEST_USER_ROLE,
    "defaultUserRolePermissions": {
        "allowedToCreateApps": True,
        "allowedToCreateSecurityGroups": True,
        "allowedToCreateTenants": True,
        "allowedToReadBitlockerKeysForOwnedDevice": True,
        "allowedToReadOtherUsers": True,
        "permissionGrantPoliciesAssigned": [],
    },
}


def guest_access_of(policy: B2BPolicy) -> str:
    """``guestUserRoleId``: how much of the directory the tenant's guests see (limited, by default)."""
    value = (policy.authorization_extra or {}).get("guestUserRoleId")
    return value if value in GUEST_ACCESS_ROLES else GUEST_USER_ROLE


def load_policy(session: Session, tenant_id: str) -> B2BPolicy:
    """The tenant's row, or the defaults (everyone may invite, no domain list) when none was ever written."""
    row = session.get(B2BPolicy, tenant_id)
    return row or B2BPolicy(tenant_id=tenant_id, allow_invites_from="everyone", domains=[], authorization_extra={})


def policy_row(session: Session, tenant_id: str) -> B2BPolicy:
    """The tenant's policy row for update, created on first write (a concurrent first write retries)."""
    return settings_row_for_update(
        session,
        B2BPolicy,
        tenant_id,
        lambda: B2BPolicy(tenant_id=tenant_id, allow_invites_from="everyone", domains=[], authorization_extra={}),
        "collaboration settings",
    )


def directory_roles(session: Session, tenant_id: str, principal_id: str) -> set[str]:
    rows = session.scalars(
        select(DirectoryRoleMember.role_template_id).where(
            DirectoryRoleMember.tenant_id == tenant_id, DirectoryRoleMember.principal_id == principal_id
        )
    )
    return set(rows)


def check_may_invite(
    session: Session, actor: Principal, inviter: User | None, member: bool, *, policy: B2BPolicy | None = None
) -> None:
    """``allowInvitesFrom`` for user callers; ``none`` also stops apps ("app-only calls don't work if B2B
    invitations are disabled"). Apps are otherwise authorized by their granted permission alone. ``policy``: the
    tenant's, when the caller already loaded it in this transaction."""
    setting = (policy or load_policy(session, actor.tenant_id)).allow_invites_from
    if actor.kind == "system":
        return  # the operator's CLI: policy on domains still applies, see check_domain
    if setting == "none":
        raise ForbiddenError(NOT_ALLOWED)
    if actor.kind == "app":
        return
    if inviter is None or not inviter.account_enabled or inviter.deleted_at is not None:
        raise ForbiddenError(NOT_ALLOWED)
    roles = directory_roles(session, actor.tenant_id, inviter.id)
    if member and not roles & ADMIN_ROLES:
        raise ForbiddenError("Only administrators can invite users of type Member.")
    allowed = bool(roles & INVITER_ROLES)
    if setting in ("adminsGuestInvitersAndAllMembers", "everyone") and inviter.user_type == "Member":
        allowed = True
    if setting == "everyone":
        allowed = True
    if not allowed:
        raise ForbiddenError(NOT_ALLOWED)


def domain_rule(domains: list[str], domain: str) -> str | None:
    """The first rule of the list that covers ``domain``: ``example.com`` is exact, ``*.example.com`` covers every
    subdomain (not the apex, which needs its own entry)."""
    domain = domain.lower().rstrip(".")
    for rule in domains:
        if rule.startswith("*."):
            if domain.endswith(rule[1:]):
                return rule
        elif domain == rule:
            return rule
    return None


def check_domain(session: Session, tenant_id: str, email: str, *, policy: B2BPolicy | None = None) -> None:
    """Refuse an address the tenant's allow or deny list excludes, naming the rule (or the list)."""
    policy = policy or load_policy(session, tenant_id)
    if not policy.domain_mode:
        return
    domain = email.rpartition("@")[2].lower()
    rule = domain_rule(policy.domains or [], domain)
    if policy.domain_mode == "block" and rule:
        raise InvitationError(
            f"The domain of the user '{domain}' is currently blocked by your invitation policy: it matches the "
            f"blocked domain rule '{rule}' of policy '{policy.domain_policy_id}'."
        )
    if policy.domain_mode == "allow" and not rule:
        raise InvitationError(
            f"The domain of the user '{domain}' is currently blocked by your invitation policy: it is not on the "
            f"allowed domains list of policy '{policy.domain_policy_id}'."
        )


@dataclass(frozen=True)
class DomainPolicy:
    id: str
    display_name: str
    mode: str | None
    domains: list[str]

    def definition(self) -> str:
        allowed = self.domains if self.mode == "allow" else []
        blocked = self.domains if self.mode == "block" else []
        inner = {"AllowedDomains": allowed, "BlockedDomains": blocked}
        return json.dumps({"B2BManagementPolicy": {"InvitationsAllowedAndBlockedDomainsPolicy": inner}})


def parse_definition(definition: Any) -> tuple[str | None, list[str]]:
    """``definition`` of a b2bManagementPolicy: a one-element array holding the policy as a JSON string."""
    if not isinstance(definition, list) or len(definition) != 1 or not isinstance(definition[0], str):
        raise InvalidInputError("'definition' must be an array holding one JSON string.", target="definition")
    if len(definition[0].encode()) > MAX_DEFINITION_BYTES:
        raise InvalidInputError("The policy definition is larger than 25 KB.", target="definition")
    try:
        doc = json.loads(definition[0])
        lists = doc["B2BManagementPolicy"]["InvitationsAllowedAndBlockedDomainsPolicy"]
        allowed = lists.get("AllowedDomains") or []
        blocked = lists.get("BlockedDomains") or []
    except (ValueError, KeyError, TypeError, AttributeError):
        raise InvalidInputError(
            'The definition must be {"B2BManagementPolicy":{"InvitationsAllowedAndBlockedDomainsPolicy":'
            '{"AllowedDomains":[...],"BlockedDomains":[...]}}}.',
            target="definition",
        ) from None
    if allowed and blocked:
        raise InvalidInputError(
            "A policy has either an allow list or a block list of domains, not both.", target="definition"
        )
    domains = allowed or blocked
    if not isinstance(domains, list) or not all(isinstance(d, str) for d in domains):
        raise InvalidInputError("Domain lists must be arrays of strings.", target="definition")
    clean = []
    for raw in domains:
        name = raw.strip().lower()
        if not _DOMAIN.match(name):
            raise InvalidInputError(f"'{raw}' is not a domain name or a '*.domain' wildcard.", target="definition")
        clean.append(name)
    mode = "allow" if allowed else "block" if blocked else None
    return mode, sorted(set(clean))


class PolicyService(Services):
    def authorization_policy(self) -> dict[str, Any]:
        with self.read() as session:
            policy = load_policy(session, self.tenant_id)
            return {
                "id": "authorizationPolicy",
                "displayName": "Authorization Policy",
                "description": "Used to manage authorization related settings across the company.",
                "allowInvitesFrom": policy.allow_invites_from,
                **AUTHORIZATION_DEFAULTS,
                **(policy.authorization_extra or {}),
                "deletedDateTime": None,
            }

    def update_authorization_policy(self, body: Any) -> None:
        if not isinstance(body, dict):
            raise InvalidInputError("The request body must be a JSON object.")
        with self.write("Policy", "Update authorization policy") as op:
            policy = policy_row(op.session, self.tenant_id)
            extra = dict(policy.authorization_extra or {})
            for key, value in body.items():
                if key == "@odata.type":
                    continue
                if key == "allowInvitesFrom":
                    if value not in ALLOW_INVITES_FROM:
                        raise InvalidInputError(
                            f"Invalid value '{value}' for property 'allowInvitesFrom'; expected one of "
                            + ", ".join(ALLOW_INVITES_FROM)
                            + ".",
                            target=key,
                        )
                    policy.allow_invites_from = value
                elif key == "guestUserRoleId" and value not in GUEST_ACCESS_ROLES:
                    raise InvalidInputError(
                        f"Invalid value '{value}' for property 'guestUserRoleId'; expected one of "
                        + ", ".join(GUEST_ACCESS_ROLES)
                        + ".",
                        target=key,
                    )
                elif key in AUTHORIZATION_DEFAULTS and (
                    type(value) is type(AUTHORIZATION_DEFAULTS[key]) or value is None
                ):
                    extra[key] = value
                else:
                    raise InvalidInputError(
                        f"Invalid value specified for property '{key}' of resource 'AuthorizationPolicy'.",
                        target=key,
                    )
                op.details.setdefault("modifiedProperties", []).append(key)
            policy.authorization_extra = extra
            policy.updated_at = op.now
            op.target("Policy", "authorizationPolicy", "Authorization Policy")

    def domain_policy(self) -> DomainPolicy | None:
        with self.read() as session:
            policy = load_policy(session, self.tenant_id)
            if policy.domain_policy_id is None:
                return None
            return DomainPolicy(
                policy.domain_policy_id, policy.domain_policy_name or "", policy.domain_mode, policy.domains or []
            )

    def create_domain_policy(self, display_name: str, definition: Any) -> DomainPolicy:
        mode, domains = parse_definition(definition)
        with self.write("Policy", "Add B2B management policy") as op:
            policy = policy_row(op.session, self.tenant_id)
            if policy.domain_policy_id is not None:
                raise ConflictError(
                    "Another object with the same value for property isOrganizationDefault already exists: an "
                    "organization has one b2bManagementPolicy; update it instead.",
                    code="Request_MultipleObjectsWithSameKeyValue",
                )
            policy.domain_policy_id, policy.domain_policy_name = new_id(), display_name[:256]
            policy.domain_mode, policy.domains, policy.updated_at = mode, domains, op.now
            op.target("Policy", policy.domain_policy_id, display_name)
            return DomainPolicy(policy.domain_policy_id, display_name, mode, domains)

    def update_domain_policy(self, policy_id: str, display_name: str | None, definition: Any | None) -> None:
        parsed = parse_definition(definition) if definition is not None else None
        with self.write("Policy", "Update B2B management policy") as op:
            policy = policy_row(op.session, self.tenant_id)
            if policy.domain_policy_id != policy_id:
                raise NotFoundError(policy_id)
            if display_name is not None:
                policy.domain_policy_name = display_name[:256]
            if parsed is not None:
                policy.domain_mode, policy.domains = parsed
            policy.updated_at = op.now
            op.target("Policy", policy_id, policy.domain_policy_name)

    def delete_domain_policy(self, policy_id: str) -> None:
        with self.write("Policy", "Delete B2B management policy") as op:
            policy = policy_row(op.session, self.tenant_id)
            if policy.domain_policy_id != policy_id:
                raise NotFoundError(policy_id)
            policy.domain_policy_id = policy.domain_policy_name = policy.domain_mode = None
            policy.domains, policy.updated_at = [], op.now
            op.target("Policy", policy_id, None)
