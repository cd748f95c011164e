"""The official msgraph-sdk against a real Hospes process: a guest gets a sponsor through ``sponsors/$ref``; an
access review of a group's guests is created, listed, read (instances, decisions, stages, contacted reviewers),
decided, stopped and applied through the SDK's request builders and models; the app owners' ``owners/$ref``."""

from __future__ import annotations

import asyncio
from typing import Any

from msgraph.generated.models.access_review_instance_decision_item import AccessReviewInstanceDecisionItem
from msgraph.generated.models.access_review_query_scope import AccessReviewQueryScope
from msgraph.generated.models.access_review_reviewer_scope import AccessReviewReviewerScope
from msgraph.generated.models.access_review_schedule_definition import AccessReviewScheduleDefinition
from msgraph.generated.models.access_review_schedule_settings import AccessReviewScheduleSettings
from msgraph.generated.models.application import Application
from msgraph.generated.models.reference_create import ReferenceCreate
from msgraph.generated.models.service_principal import ServicePrincipal
from sqlalchemy.orm import Session, sessionmaker

from hospes.domain.principals import system_principal
from hospes.services.groups import GroupService
from hospes.services.tenants import TenantBootstrap
from hospes.services.users import UserService

GRAPH = "https://graph.microsoft.com/v1.0"


def _people(sessions: sessionmaker[Session], boot: TenantBootstrap) -> tuple[str, list[str], str]:
    system = system_principal(boot.tenant_id)
    users = UserService(sessions, system)

    def user(nick: str, kind: str) -> str:
        values = {"account_enabled": True, "display_name": nick.title(), "mail_nickname": nick,
                  "user_principal_name": f"{nick}@{boot.domain}", "user_type": kind}  # fmt: skip
        return users.create(values, "Correct-Horse-9").id

    sponsor = user("sam", "Member")
    guests = [user(f"guest{i}", "Guest") for i in range(3)]
    group = GroupService(sessions, system).create(
        {"display_name": "Partners", "mail_nickname": "partners", "mail_enabled": False, "security_enabled": True},
        guests,
        [],
    )
    return group.id, guests, sponsor


def test_an_access_review_through_the_sdk(sdk: Any, boot: TenantBootstrap, sessions: sessionmaker[Session]) -> None:
    group_id, guests, sponsor = _people(sessions, boot)

    async def scenario() -> None:
        for guest in guests:
            ref = ReferenceCreate(odata_id=f"{GRAPH}/users/{sponsor}")
            await sdk.users.by_user_id(guest).sponsors.ref.post(ref)
        sponsors = await sdk.users.by_user_id(guests[0]).sponsors.get()
        assert [s.id for s in sponsors.value] == [sponsor]
        definitions = sdk.identity_governance.access_reviews.definitions
        created = await definitions.post(
            AccessReviewScheduleDefinition(
                display_name="Partners review",
                scope=AccessReviewQueryScope(
                    odata_type="#microsoft.graph.accessReviewQueryScope",
                    query=f"/groups/{group_id}/transitiveMembers/microsoft.graph.user/?$filter=(userType eq 'Guest')",
                    query_type="MicrosoftGraph",
                ),
                reviewers=[
                    AccessReviewReviewerScope(query="./sponsors", query_type="MicrosoftGraph", query_root="decisions")
                ],
                settings=AccessReviewScheduleSettings(
                    default_decision_enabled=True,
                    default_decision="Approve",
                    auto_apply_decisions_enabled=False,
                    recommendations_enabled=True,
                    instance_duration_in_days=7,
                ),
            )
        )
        assert created.id and created.status == "InProgress" and created.settings.default_decision == "Approve"
        assert [d.id for d in (await definitions.get()).value] == [created.id]
        mine = await definitions.filter_by_current_user_with_on("reviewer").get()
        assert mine.value == []  # the app reviews nothing
        one = definitions.by_access_review_schedule_definition_id(created.id)
        [instance] = (await one.instances.get()).value
        assert instance.status == "InProgress"
        item = one.instances.by_access_review_instance_id(instance.id)
        decisions = (await item.decisions.get()).value
        assert sorted(d.principal.id for d in decisions) == sorted(guests)
        assert {d.decision for d in decisions} == {"NotReviewed"}
        reviewers = (await item.contacted_reviewers.get()).value
        assert [r.id for r in reviewers] == [sponsor]
        stages = (await item.stages.get()).value
        assert [s.status for s in stages] == ["InProgress"]
        denied = next(d for d in decisions if d.principal.id == guests[0])
        await item.decisions.by_access_review_instance_decision_item_id(denied.id).patch(
            AccessReviewInstanceDecisionItem(decision="Deny", justification="left the project")
        )
        await item.stop.post()
        assert (await item.get()).status == "Completed"
        await item.apply_decisions.post()
        after = {d.principal.id: d for d in (await item.decisions.get()).value}
        assert after[guests[0]].apply_result == "AppliedSuccessfully"
        assert after[guests[1]].decision == "Approve" and after[guests[1]].apply_result == "New"
        members = await sdk.groups.by_group_id(group_id).members.get()
        assert sorted(m.id for m in members.value) == sorted(guests[1:])
        await sdk.users.by_user_id(guests[0]).sponsors.by_directory_object_id(sponsor).ref.delete()
        assert (await sdk.users.by_user_id(guests[0]).sponsors.get()).value == []

    asyncio.run(scenario())


def test_app_owners_through_the_sdk(sdk: Any, boot: TenantBootstrap, sessions: sessionmaker[Session]) -> None:
    _, _, owner = _people(sessions, boot)

    async def scenario() -> None:
        app = await sdk.applications.post(Application(display_name="Wiki"))
        sp = await sdk.service_principals.post(ServicePrincipal(app_id=app.app_id))
        owners = sdk.service_principals.by_service_principal_id(sp.id).owners
        await owners.ref.post(ReferenceCreate(odata_id=f"{GRAPH}/directoryObjects/{owner}"))
        assert [o.id for o in (await owners.get()).value] == [owner]
        await owners.by_directory_object_id(owner).ref.delete()
        assert (await owners.get()).value == []

    asyncio.run(scenario())
