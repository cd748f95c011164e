"""Who a policy is for and who approves: the subject sets of ``specificAllowedTargets`` and of approval stages
resolved against the directory, and the connected organization an external person belongs to."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from hospes.domain.entitlement_policy import PolicyView
from hospes.services.dynamic_groups import decide, user_views
from hospes.services.group_rules import checked_rule
from hospes.services.memberships import member_users, transitive_groups
from hospes.storage.tables import Domain, User, UserSponsor
from hospes.storage.tables_entitlement import EmConnectedOrg, EmOrgSponsor, EmSubject

MAX_APPROVERS = 500


def rule_matches(session: Session, tenant_id: str, user_id: str, rule_text: str) -> bool:
    rule = checked_rule(rule_text)
    view = user_views(session, tenant_id, [rule], [user_id]).get(user_id)
    return view is not None and decide(rule, view) is True


def in_scope(session: Session, tenant_id: str, policy: PolicyView, subject: EmSubject) -> bool:
    """Whether ``subject`` may request under the policy (members and guests of the directory by their user; external
    people by their connected organization)."""
    scope = policy.scope
    user = session.get(User, subject.object_id) if subject.object_id else None
    if user is not None and (user.deleted_at is not None or user.tenant_id != tenant_id):
        return False
    if scope == "allDirectoryUsers":
        return user is not None
    if scope == "allMemberUsers":
        return user is not None and user.user_type == "Member"
    if scope == "specificDirectoryUsers":
        if user is None:
            return False
        groups = None
        for item in policy.settings["specificAllowedTargets"]:
            if item.get("userId") == user.id:
                return True
            if "groupId" in item:
                groups = groups if groups is not None else transitive_groups(session, tenant_id, user.id)
                if item["groupId"] in groups:
                    return True
            if "membershipRule" in item and rule_matches(session, tenant_id, user.id, item["membershipRule"]):
                return True
        return False
    external = user is None or user.user_type == "Guest"
    if not external:
        return False
    org = session.get(EmConnectedOrg, subject.connected_org_id) if subject.connected_org_id else None
    if scope == "allExternalUsers":
        return True
    if scope == "allConfiguredConnectedOrganizationUsers":
        return org is not None and org.state == "configured"
    if scope == "specificConnectedOrganizationUsers":
        wanted = {i.get("connectedOrganizationId") for i in policy.settings["specificAllowedTargets"]}
        return org is not None and org.id in wanted
    return False


def org_for(session: Session, tenant_id: str, email: str | None, home_tenant_id: str | None) -> EmConnectedOrg | None:
    """The connected organization of an external person: by their home tenant, by their address's domain, or by
    the tenant hosted here that owns that domain. Configured organizations win over proposed ones."""
    domain = (email or "").rpartition("@")[2].lower()
    owner = session.scalar(select(Domain.tenant_id).where(Domain.name == domain)) if domain else None
    tenants = {t for t in (home_tenant_id, owner) if t}
    rows = session.scalars(
        select(EmConnectedOrg).where(EmConnectedOrg.tenant_id == tenant_id).order_by(EmConnectedOrg.created_at)
    )
    found = []
    for org in rows:
        for source in org.identity_sources:
            if (domain and source.get("domainName") == domain) or source.get("tenantId") in tenants:
                found.append(org)
                break
    found.sort(key=lambda o: o.state != "configured")
    return found[0] if found else None


def _users_of(session: Session, tenant_id: str, kind: str, object_id: str) -> list[str]:
    if kind == "user":
        return [object_id]
    return sorted(member_users(session, tenant_id, object_id))


def approvers(session: Session, tenant_id: str, sets: list[dict[str, Any]], subject: EmSubject) -> list[str]:
    """The enabled users a list of subject sets names, for this requestor."""
    out: list[str] = []
    user = session.get(User, subject.object_id) if subject.object_id else None
    for item in sets:
        kind = item["@odata.type"].rsplit(".", 1)[-1]
        if kind == "singleUser":
            out.append(item["userId"])
        elif kind == "groupMembers":
            out.extend(_users_of(session, tenant_id, "group", item["groupId"]))
        elif kind == "requestorManager" and user is not None:
            manager = user.manager_id
            if manager and item.get("managerLevel", 1) == 2:
                boss = session.get(User, manager)
                manager = boss.manager_id if boss is not None else None
            if manager:
                out.append(manager)
        elif kind in ("internalSponsors", "externalSponsors") and subject.connected_org_id:
            links = session.execute(
                select(EmOrgSponsor.object_type, EmOrgSponsor.object_id).where(
                    EmOrgSponsor.org_id == subject.connected_org_id, EmOrgSponsor.kind == kind[:8]
                )
            )
            for object_type, object_id in links:
                out.extend(_users_of(session, tenant_id, object_type, object_id))
        elif kind == "targetUserSponsors" and user is not None:
            for object_type, object_id in session.execute(
                select(UserSponsor.sponsor_type, UserSponsor.sponsor_id).where(UserSponsor.user_id == user.id)
            ):
                out.extend(_users_of(session, tenant_id, object_type, object_id))
    live = set(
        session.scalars(
            select(User.id).where(
                User.tenant_id == tenant_id,
                User.id.in_(out),
                User.deleted_at.is_(None),
                User.account_enabled.is_(True),
            )
        )
    )
    # The requestor never approves their own request.
    return [uid for uid in dict.fromkeys(out) if uid in live and uid != subject.object_id][:MAX_APPROVERS]
