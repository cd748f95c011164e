"""Each process keeps a tenant's conditional-access rules compiled; a policy or named-location write made by
another process (here: another engine on the same database, as a second server or the CLI would be) is seen by
the next sign-in, and so are the "MFA for guests" setting's writes, which go through neither the API nor the
service."""

from __future__ import annotations

import uuid

from sqlalchemy import select

from hospes.domain.clock import utcnow
from hospes.domain.principals import system_principal
from hospes.services.access_decision import AccessRequest, decide_now
from hospes.services.access_rules import rules_of, rules_version
from hospes.services.conditional_access import ConditionalAccessService
from hospes.services.guest_mfa_policy import set_guest_mfa
from hospes.services.tenants import create_tenant
from hospes.storage.engine import Database
from hospes.storage.tables import User

BLOCK_ALL = {
    "displayName": "Block everyone",
    "state": "enabled",
    "conditions": {"users": {"includeUsers": ["All"]}, "applications": {"includeApplications": ["All"]}},
    "grantControls": {"operator": "OR", "builtInControls": ["block"]},
}


def test_a_write_in_another_process_reaches_the_next_decision(database_url: str) -> None:
    here, there = Database.open(database_url), Database.open(database_url)
    try:
        boot = create_tenant(here.sessions, "Cache", f"cache-{uuid.uuid4().hex[:8]}.example")
        with here.sessions() as session:
            user = session.scalars(select(User).where(User.tenant_id == boot.tenant_id)).one()
            session.expunge(user)

        def decide() -> tuple[bool, str]:
            now = utcnow()
            decision = decide_now(here.sessions, AccessRequest(boot.tenant_id, user, now, ["pwd"], now))
            return decision.blocked, decision.status

        assert decide() == (False, "notApplied")
        with here.sessions() as session:
            kept = rules_of(session, boot.tenant_id)
            assert rules_of(session, boot.tenant_id) is kept  # compiled once while nothing changes
        service = ConditionalAccessService(there.sessions, system_principal(boot.tenant_id))
        created = service.create_policy(BLOCK_ALL)
        assert decide() == (True, "failure")
        service.update_policy(created["id"], {"state": "disabled"})
        assert decide() == (False, "notApplied")
        location = service.create_location(
            {
                "@odata.type": "#microsoft.graph.ipNamedLocation",
                "displayName": "Office",
                "ipRanges": [{"@odata.type": "#microsoft.graph.iPv4CidrRange", "cidrAddress": "10.0.0.0/8"}],
            }
        )
        with here.sessions() as session:
            before = rules_version(session, boot.tenant_id)
        service.delete_location(location["id"])
        service.delete_policy(created["id"])
        with here.sessions() as session:
            assert rules_version(session, boot.tenant_id) == before + 2
            assert rules_of(session, boot.tenant_id).empty
        # The guest MFA setting writes its policy row directly, in the caller's transaction.
        with there.sessions.begin() as session:
            set_guest_mfa(session, boot.tenant_id, True, utcnow())
        with here.sessions() as session:
            assert [p.display_name for p in rules_of(session, boot.tenant_id).policies] == [
                "Require multifactor authentication for guests"
            ]
    finally:
        here.dispose()
        there.dispose()
