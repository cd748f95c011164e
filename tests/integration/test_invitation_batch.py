"""Group commit of invitations (``services/invitations/batch.py``): a batch decides every call exactly as the same
calls made one by one would, and a batch that fails as a whole loses and duplicates nothing."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from hospes.domain.errors import InvitationError
from hospes.domain.invitation import InvitationRequest
from hospes.domain.principals import Principal
from hospes.services.invitations import tickets
from hospes.services.invitations.batch import BatchLookups, invite_many
from hospes.services.invitations.blocks import block_invitations
from hospes.services.invitations.service import InvitationResult, InvitationService, InviteConfig
from hospes.settings import Settings
from hospes.storage.engine import Database
from hospes.storage.tables import AuditLog, ChangeLog, Invitation, OutboxMessage, User
from tests.helpers.live import run_server
from tests.helpers.tenants import TenantHandle


def _service(tenant: TenantHandle, database: Database, settings: Settings) -> InvitationService:
    actor = Principal(tenant.id, "app", "", "Batch", frozenset({"User.Invite.All"}))
    return InvitationService(database, actor, InviteConfig.from_settings(settings, lambda p, v: "sealed"))


def _req(email: str, name: str | None = None) -> InvitationRequest:
    return InvitationRequest(email=email, redirect_url="https://app.example/", display_name=name, send_message=True)


def _count(session: Session, table: Any, *where: Any) -> int:
    return int(session.scalar(select(func.count()).select_from(table).where(*where)) or 0)


def test_a_batch_decides_each_call_as_alone(
    tenant: TenantHandle, database: Database, sessions: sessionmaker[Session], settings: Settings
) -> None:
    service = _service(tenant, database, settings)
    earlier = service.invite(_req("known@partner.example"))
    member = tenant.post(
        "/users",
        json={
            "accountEnabled": True,
            "displayName": "Member",
            "mailNickname": "member",
            "userPrincipalName": f"member@{tenant.domain}",
            "mail": "member@partner.example",
            "passwordProfile": {"password": "Correct-horse-9-battery"},
        },
    )
    assert member.status_code == 201, member.text
    with sessions.begin() as session:
        block_invitations(session, tenant.id, "blocker@partner.example")
    deny_list = tenant.post(
        "/policies/b2bManagementPolicies",
        json={
            "definition": [
                json.dumps(
                    {
                        "B2BManagementPolicy": {
                            "InvitationsAllowedAndBlockedDomainsPolicy": {
                                "AllowedDomains": [],
                                "BlockedDomains": ["rivals.example"],
                            }
                        }
                    }
                )
            ]
        },
    )
    assert deny_list.status_code == 201, deny_list.text
    emails = [
        "new1@partner.example",
        "new2@partner.example",
        "twice@partner.example",
        "known@partner.example",  # an existing guest: re-invited
        "member@partner.example",  # a member: refused
        "twice@partner.example",  # second of the same address in one batch: re-invites the first's guest
        "blocker@partner.example",  # blocked this tenant: no email
        "spy@rivals.example",  # deny list: refused
        "new3@partner.example",
    ]
    outcomes = invite_many([(_service(tenant, database, settings), _req(e, f"Name {i}")) for i, e in enumerate(emails)])
    assert len(outcomes) == len(emails)
    ok = {i: o for i, o in enumerate(outcomes) if isinstance(o, InvitationResult)}
    assert sorted(ok) == [0, 1, 2, 3, 5, 6, 8]
    assert isinstance(outcomes[4], InvitationError) and "member" in outcomes[4].message
    assert isinstance(outcomes[7], InvitationError) and "rivals.example" in outcomes[7].message
    assert ok[3].user.id == earlier.user.id
    assert ok[5].user.id == ok[2].user.id
    assert len({ok[i].user.id for i in (0, 1, 2, 8)}) == 4
    assert ok[6].invitation.message_status == "BlockedByRecipient"
    for i in (0, 1, 2, 3, 5, 8):
        assert ok[i].invitation.message_status == "Queued"
        assert ok[i].user.user_principal_name.startswith(emails[i].replace("@", "_") + "#EXT#@")
    with sessions() as session:
        for i in (0, 1, 8):  # new guests: created, named, pending, linked, mailed, logged
            user = session.get(User, ok[i].user.id)
            assert user is not None and user.display_name == f"Name {i}"
            assert user.external_user_state == "PendingAcceptance" and user.creation_type == "Invitation"
            query = parse_qs(urlsplit(ok[i].redeem_url).query)
            ticket = tickets.find_valid(
                session, tenant.id, ok[i].invitation.id, query["ticket"][0], ok[i].invitation.created_at
            )
            assert ticket is not None and ticket.user_id == user.id
            mails = session.scalars(select(OutboxMessage).where(OutboxMessage.related_id == ok[i].invitation.id))
            [mail] = list(mails)
            assert mail.recipients == [emails[i]] and f"Name {i}" in mail.mime
            created = ChangeLog.object_id == user.id, ChangeLog.change_type == "created"
            assert _count(session, ChangeLog, *created) == 1
        # The earlier guest's first link died when the batch re-invited it.
        first = parse_qs(urlsplit(earlier.redeem_url).query)["ticket"][0]
        now = ok[3].invitation.created_at
        assert tickets.find_valid(session, tenant.id, earlier.invitation.id, first, now) is None
        for email in set(emails) - {"member@partner.example", "spy@rivals.example"}:
            assert _count(session, User, User.tenant_id == tenant.id, User.mail_key == email) == 1
        assert _count(session, User, User.tenant_id == tenant.id, User.mail_key == "spy@rivals.example") == 0
        invitations = _count(session, Invitation, Invitation.tenant_id == tenant.id)
        assert invitations == 1 + len(ok)
        audit = AuditLog.tenant_id == tenant.id, AuditLog.activity == "Invite external user"
        assert _count(session, AuditLog, *audit, AuditLog.result == "success") == 1 + len(ok)
        assert _count(session, AuditLog, *audit, AuditLog.result == "failure") == 2


def test_a_batch_that_fails_as_a_whole_runs_each_call_alone(
    tenant: TenantHandle,
    database: Database,
    sessions: sessionmaker[Session],
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A guest created behind the batch's back (as another server process would, between the batch's lookup
    and its insert): the batch's insert hits the unique index, everything is rolled back, and each call runs on
    its own, so the raced address is re-invited and the others are invited once."""
    service = _service(tenant, database, settings)
    raced = service.invite(_req("raced@partner.example"))
    real_prefetch = BatchLookups.prefetch.__func__  # type: ignore[attr-defined]

    def stale_prefetch(cls: type[BatchLookups], s: Session, invitees: list[tuple[str, str]]) -> BatchLookups:
        lookups: BatchLookups = real_prefetch(cls, s, invitees)
        upn = raced.user.user_principal_name.lower()
        lookups.absent |= {(tenant.id, "raced@partner.example"), (tenant.id, upn)}
        return lookups

    monkeypatch.setattr(BatchLookups, "prefetch", classmethod(stale_prefetch))
    emails = ["a@partner.example", "raced@partner.example", "b@partner.example"]
    outcomes = invite_many([(_service(tenant, database, settings), _req(e)) for e in emails])
    assert all(isinstance(o, InvitationResult) for o in outcomes), outcomes
    results = [o for o in outcomes if isinstance(o, InvitationResult)]
    assert results[1].user.id == raced.user.id
    with sessions() as session:
        for email in emails:
            assert _count(session, User, User.tenant_id == tenant.id, User.mail_key == email) == 1
        assert _count(session, Invitation, Invitation.tenant_id == tenant.id) == 1 + len(emails)
        ids = [r.invitation.id for r in results]
        assert _count(session, OutboxMessage, OutboxMessage.related_id.in_(ids)) == len(emails)


def test_concurrent_api_calls_are_batched_and_all_answered(
    tenant: TenantHandle, sessions: sessionmaker[Session]
) -> None:
    """Many POST /invitations at once through the app's batcher: every call gets its own invitation."""
    import concurrent.futures

    def call(i: int) -> Any:
        body = {"invitedUserEmailAddress": f"c{i}@partner.example", "inviteRedirectUrl": "https://app.example/"}
        return tenant.post("/invitations", json=body)

    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        responses = list(pool.map(call, range(48)))
    assert [r.status_code for r in responses] == [201] * 48, [r.text for r in responses if r.status_code != 201]
    bodies = [r.json() for r in responses]
    assert [b["invitedUserEmailAddress"] for b in bodies] == [f"c{i}@partner.example" for i in range(48)]
    assert len({b["invitedUser"]["id"] for b in bodies}) == 48
    with sessions() as session:
        assert _count(session, User, User.tenant_id == tenant.id, User.mail_key.like("c%@partner.example")) == 48


def test_two_server_processes_on_a_new_database_invite_each_address_once(tmp_path: Any) -> None:
    """``hospes serve --workers 2`` on a database no server has used yet (its processes create the server keys as
    they start; the forced race is in test_server_keys.py), then 120 concurrent invitations, each of 40 addresses
    three times, spread over both processes' batches: every call answered 201 with a token either process
    accepts, one guest per address, an invitation per call."""
    import concurrent.futures

    import httpx

    from hospes.services.tenants import create_tenant
    from hospes.storage.migrate import upgrade

    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    upgrade(url)
    sessions = Database.open(url).sessions
    boot = create_tenant(sessions, "Two", "two.example")
    with run_server(url, str(tmp_path / "data"), workers=2) as server, httpx.Client(base_url=server.base_url) as http:
        grant = {
            "grant_type": "client_credentials",
            "client_id": boot.client_id,
            "client_secret": boot.client_secret,
            "scope": "https://graph.microsoft.com/.default",
        }
        token = http.post(f"/{boot.tenant_id}/oauth2/v2.0/token", data=grant).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}

        def call(i: int) -> httpx.Response:
            body = {"invitedUserEmailAddress": f"p{i % 40}@partner.example", "inviteRedirectUrl": "https://a.example/"}
            with httpx.Client(base_url=server.base_url, headers=headers, timeout=30) as own:  # own connection each
                return own.post("/v1.0/invitations", json=body)

        with concurrent.futures.ThreadPoolExecutor(24) as pool:
            answers = list(pool.map(call, range(120)))
    assert [a.status_code for a in answers] == [201] * 120, [a.text for a in answers if a.status_code != 201][:3]
    by_address: dict[str, set[str]] = {}
    for answer in answers:
        body = answer.json()
        by_address.setdefault(body["invitedUserEmailAddress"], set()).add(body["invitedUser"]["id"])
    assert len(by_address) == 40 and all(len(ids) == 1 for ids in by_address.values())
    with sessions() as session:
        assert _count(session, User, User.tenant_id == boot.tenant_id, User.mail_key.like("p%@partner.example")) == 40
        assert _count(session, Invitation, Invitation.tenant_id == boot.tenant_id) == 120
