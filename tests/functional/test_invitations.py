"""``POST /invitations``: the guest user, the redeem link, re-invite, reset redemption, validation, sponsors,
tenant isolation, and the outbox row written with the invitation."""

from __future__ import annotations

import base64
import email
import email.policy
import hashlib
import re
from email.header import decode_header, make_header
from typing import Any
from urllib.parse import parse_qs, urlsplit

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from hospes.storage.tables import ChangeLog, Invitation, OutboxMessage, RedemptionTicket, User
from tests.helpers.graph import assert_graph_error
from tests.helpers.invitations import invite
from tests.helpers.tenants import TenantHandle, fetch_token


def _ticket(url: str) -> str:
    return parse_qs(urlsplit(url).query)["ticket"][0]


def test_invite_creates_pending_guest(tenant: TenantHandle, sessions: sessionmaker[Session]) -> None:
    response = invite(tenant, "Alice@Fabrikam.example", invitedUserDisplayName="Alice Partner")
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["@odata.context"] == "http://testserver/v1.0/$metadata#invitations/$entity"
    assert body["status"] == "PendingAcceptance"
    assert body["invitedUserType"] == "Guest"
    assert body["sendInvitationMessage"] is False and body["resetRedemption"] is False
    assert body["invitedUserEmailAddress"] == "Alice@fabrikam.example"
    upn = f"Alice_fabrikam.example#EXT#@{tenant.domain}"
    assert body["invitedUser"]["userPrincipalName"] == upn
    redeem = urlsplit(body["inviteRedeemUrl"])
    assert f"{redeem.scheme}://{redeem.netloc}{redeem.path}" == "http://testserver/redeem"
    query = parse_qs(redeem.query)
    assert query["tenant"] == [tenant.id] and query["invitation"] == [body["id"]]
    assert len(query["ticket"][0]) >= 43  # 32 random bytes, base64url

    user = tenant.get(
        f"/users/{body['invitedUser']['id']}?$select=id,userType,externalUserState,creationType,mail,"
        "userPrincipalName,displayName,otherMails,identities,externalUserStateChangeDateTime"
    ).json()
    assert user["userType"] == "Guest"
    assert user["externalUserState"] == "PendingAcceptance"
    assert user["externalUserStateChangeDateTime"]
    assert user["creationType"] == "Invitation"
    assert user["mail"] == "Alice@fabrikam.example"
    assert user["displayName"] == "Alice Partner"
    assert user["otherMails"] == ["Alice@fabrikam.example"]
    assert user["identities"][0]["issuer"] == tenant.domain

    with sessions() as session:
        stored = session.scalars(select(RedemptionTicket).where(RedemptionTicket.invitation_id == body["id"])).all()
        assert [t.token_hash for t in stored] == [hashlib.sha256(_ticket(body["inviteRedeemUrl"]).encode()).hexdigest()]
        assert (stored[0].expires_at - stored[0].created_at).days == 30
        # sendInvitationMessage false: nothing to mail
        assert (
            session.scalar(
                select(func.count()).select_from(OutboxMessage).where(OutboxMessage.related_id == body["id"])
            )
            == 0
        )
        kinds = session.scalars(select(ChangeLog.change_type).where(ChangeLog.object_id == user["id"])).all()
        assert "created" in kinds


def test_reinvite_pending_guest_rotates_link(tenant: TenantHandle, sessions: sessionmaker[Session]) -> None:
    first = invite(tenant, "bob@partner.example").json()
    second = invite(tenant, "BOB@partner.example").json()
    assert second["invitedUser"]["id"] == first["invitedUser"]["id"]
    assert second["id"] != first["id"]
    assert _ticket(second["inviteRedeemUrl"]) != _ticket(first["inviteRedeemUrl"])
    with sessions() as session:
        rows = {
            t.invitation_id: t
            for t in session.scalars(
                select(RedemptionTicket).where(RedemptionTicket.user_id == first["invitedUser"]["id"])
            )
        }
        assert rows[first["id"]].revoked_at is not None  # the old link is dead
        assert rows[second["id"]].revoked_at is None
        assert (
            session.scalar(
                select(func.count())
                .select_from(User)
                .where(User.mail_key == "bob@partner.example", User.tenant_id == tenant.id)
            )
            == 1
        )
    # re-invite by object id works too
    third = invite(
        tenant,
        "bob@partner.example",
        invitedUser={"id": first["invitedUser"]["id"], "@odata.type": "#microsoft.graph.user"},
    )
    assert third.status_code == 201 and third.json()["invitedUser"]["id"] == first["invitedUser"]["id"]


def test_inviting_a_member_is_an_error(tenant: TenantHandle) -> None:
    member = tenant.new_user("carol", mail=f"carol@{tenant.domain}")
    error = assert_graph_error(invite(tenant, f"carol@{tenant.domain}"), 400, "BadRequest")
    assert "member" in error["message"]
    error = assert_graph_error(
        invite(tenant, f"carol@{tenant.domain}", invitedUser={"id": member["id"]}), 400, "BadRequest"
    )
    assert "member" in error["message"]


def test_reset_redemption(tenant: TenantHandle, sessions: sessionmaker[Session]) -> None:
    guest = invite(tenant, "dan@old.example").json()
    user_id = guest["invitedUser"]["id"]
    with sessions.begin() as session:  # as if redeemed, with a second known address
        user = session.get(User, user_id)
        assert user is not None
        user.external_user_state = "Accepted"
        user.identities = [
            *user.identities,
            {"signInType": "federated", "issuer": "google.com", "issuerAssignedId": "x"},
        ]
        user.other_mails = ["dan@old.example", "dan@new.example"]
    # an address not on the user object: the documented message
    error = assert_graph_error(
        invite(tenant, "dan@other.example", invitedUser={"id": user_id}, resetRedemption=True), 400, "BadRequest"
    )
    assert error["message"].startswith("The email you\u2019re using to invite this user doesn\u2019t match")
    # resetRedemption without invitedUser
    assert_graph_error(invite(tenant, "dan@new.example", resetRedemption=True), 400, "BadRequest")
    reset = invite(tenant, "dan@new.example", invitedUser={"id": user_id}, resetRedemption=True)
    assert reset.status_code == 201, reset.text
    body = reset.json()
    assert body["resetRedemption"] is True and body["status"] == "PendingAcceptance"
    assert body["invitedUser"]["id"] == user_id
    after = tenant.get(f"/users/{user_id}?$select=externalUserState,mail,userPrincipalName,identities").json()
    assert after["externalUserState"] == "PendingAcceptance"
    assert after["mail"] == "dan@new.example"
    assert after["userPrincipalName"] == guest["invitedUser"]["userPrincipalName"]  # UPN kept
    assert all(i["issuer"] != "google.com" for i in after["identities"])


def test_reinvite_of_redeemed_guest_is_completed(tenant: TenantHandle, sessions: sessionmaker[Session]) -> None:
    guest = invite(tenant, "erin@partner.example").json()
    with sessions.begin() as session:
        user = session.get(User, guest["invitedUser"]["id"])
        assert user is not None
        user.external_user_state = "Accepted"
    again = invite(tenant, "erin@partner.example").json()
    assert again["invitedUser"]["id"] == guest["invitedUser"]["id"]
    assert again["status"] == "Completed"


def test_member_invitation_and_message_info(tenant: TenantHandle, sessions: sessionmaker[Session]) -> None:
    body = invite(
        tenant,
        "frank@partner.example",
        invitedUserType="Member",
        sendInvitationMessage=True,
        invitedUserMessageInfo={
            "customizedMessageBody": "Welcome <b>aboard</b>",
            "messageLanguage": "fr-FR",
            "ccRecipients": [{"emailAddress": {"address": "boss@partner.example", "name": "Boss"}}],
        },
    ).json()
    assert body["invitedUserType"] == "Member"
    assert body["invitedUserMessageInfo"]["ccRecipients"][0]["emailAddress"]["address"] == "boss@partner.example"
    assert body["@hospes.messageStatus"] == "Queued"
    with sessions() as session:
        row = session.scalar(select(OutboxMessage).where(OutboxMessage.related_id == body["id"]))
        assert row is not None and row.status == "pending"
        assert row.recipients == ["frank@partner.example", "boss@partner.example"]
        invitation = session.get(Invitation, body["id"])
        assert invitation is not None and invitation.language == "fr-FR"


def test_validation_errors(tenant: TenantHandle) -> None:
    cases: list[dict[str, Any]] = [
        {"inviteRedirectUrl": "https://a.example"},
        {"invitedUserEmailAddress": "x@y.example"},
        {"invitedUserEmailAddress": "not-an-email", "inviteRedirectUrl": "https://a.example"},
        {"invitedUserEmailAddress": "a+b@y.example", "inviteRedirectUrl": "https://a.example"},
        {"invitedUserEmailAddress": ".a@y.example", "inviteRedirectUrl": "https://a.example"},
        {"invitedUserEmailAddress": "zoë@y.example", "inviteRedirectUrl": "https://a.example"},  # SMTPUTF8
        {"invitedUserEmailAddress": "a@bücher.example", "inviteRedirectUrl": "https://a.example"},  # not punycode
        {"invitedUserEmailAddress": "a@y.example", "inviteRedirectUrl": "javascript:alert(1)"},
        {"invitedUserEmailAddress": "a@y.example", "inviteRedirectUrl": "https://user:pw@a.example/"},
        {"invitedUserEmailAddress": "a@y.example", "inviteRedirectUrl": "/relative"},
        {
            "invitedUserEmailAddress": "a@y.example",
            "inviteRedirectUrl": "https://a.example",
            "invitedUserType": "Admin",
        },
        {
            "invitedUserEmailAddress": "a@y.example",
            "inviteRedirectUrl": "https://a.example",
            "invitedUserDisplayName": "A\r\nBcc: x@evil.example",
        },
        {
            "invitedUserEmailAddress": "a@y.example",
            "inviteRedirectUrl": "https://a.example",
            "sendInvitationMessage": "yes",
        },
        {"invitedUserEmailAddress": "a@y.example", "inviteRedirectUrl": "https://a.example", "bogus": 1},
        {
            "invitedUserEmailAddress": "a@y.example",
            "inviteRedirectUrl": "https://a.example",
            "invitedUserMessageInfo": {
                "ccRecipients": [{"emailAddress": {"address": "c@d.example", "name": "x\nBcc: e@f"}}]
            },
        },
        {
            "invitedUserEmailAddress": "a@y.example",
            "inviteRedirectUrl": "https://a.example",
            "invitedUserMessageInfo": {
                "ccRecipients": [
                    {"emailAddress": {"address": "c@d.example"}},
                    {"emailAddress": {"address": "e@d.example"}},
                ]
            },
        },
        {
            "invitedUserEmailAddress": "a@y.example",
            "inviteRedirectUrl": "https://a.example",
            "invitedUser": {"id": "nope"},
        },
    ]
    for body in cases:
        response = tenant.post("/invitations", json=body)
        assert response.status_code == 400, (body, response.text)
        assert response.json()["error"]["code"] == "BadRequest"
    assert (
        tenant.post("/invitations", content=b"[1,2]", headers={"content-type": "application/json"}).status_code == 400
    )
    missing = invite(tenant, "g@y.example", invitedUser={"id": "00000000-0000-0000-0000-000000000001"})
    assert_graph_error(missing, 404, "Request_ResourceNotFound")


def test_sponsors(tenant: TenantHandle) -> None:
    sponsor = tenant.new_user("sam")
    group = tenant.new_group("Partners")
    body = invite(
        tenant,
        "gina@partner.example",
        invitedUserSponsors=[
            {"id": sponsor["id"], "@odata.type": "#microsoft.graph.user"},
            {"id": group["id"], "@odata.type": "#microsoft.graph.group"},
        ],
    ).json()
    assert {s["id"] for s in body["invitedUserSponsors"]} == {sponsor["id"], group["id"]}
    listed = tenant.get(f"/users/{body['invitedUser']['id']}/sponsors").json()["value"]
    assert {(s["@odata.type"], s["id"]) for s in listed} == {
        ("#microsoft.graph.user", sponsor["id"]),
        ("#microsoft.graph.group", group["id"]),
    }
    unknown = invite(tenant, "h@partner.example", invitedUserSponsors=[{"id": "00000000-0000-0000-0000-000000000002"}])
    assert_graph_error(unknown, 404, "Request_ResourceNotFound")


def test_tenant_isolation(tenant: TenantHandle, other_tenant: TenantHandle) -> None:
    body = invite(tenant, "ivy@partner.example").json()
    user_id = body["invitedUser"]["id"]
    assert other_tenant.get(f"/users/{user_id}").status_code == 404
    assert other_tenant.get(f"/users/{user_id}/sponsors").status_code == 404
    # the other tenant cannot re-invite or reset this tenant's guest
    assert invite(other_tenant, "ivy@partner.example", invitedUser={"id": user_id}).status_code == 404
    reset = invite(other_tenant, "ivy@partner.example", invitedUser={"id": user_id}, resetRedemption=True)
    assert reset.status_code == 404
    # the same address invited by the other tenant is a different guest there
    theirs = invite(other_tenant, "ivy@partner.example").json()
    assert theirs["invitedUser"]["id"] != user_id
    assert theirs["invitedUser"]["userPrincipalName"].endswith(f"@{other_tenant.domain}")


def test_permissions(tenant: TenantHandle, make_tenant: Any) -> None:
    from hospes.domain.principals import system_principal
    from hospes.services.apps import AppService

    sessions = tenant.client.app.state.runtime.sessions  # type: ignore[attr-defined]
    apps = AppService(sessions, system_principal(tenant.id))
    tokens = {}
    for perms in (["User.Invite.All"], ["User.Read.All"]):
        with apps.write("ApplicationManagement", "Add application") as op:
            application = apps.insert_app(op, {"display_name": "+".join(perms)}, {})
            sp = apps.insert_sp(op, application)
            _, secret = apps.insert_secret(op, application, "t")
            apps.grant_permissions(op, sp, perms)
        tokens[perms[0]] = fetch_token(tenant.client, tenant.domain, application.app_id, secret)
    headers = {"Authorization": f"Bearer {tokens['User.Read.All']}"}
    body = {"invitedUserEmailAddress": "j@partner.example", "inviteRedirectUrl": "https://a.example"}
    assert_graph_error(
        tenant.client.post("/v1.0/invitations", json=body, headers=headers), 403, "Authorization_RequestDenied"
    )
    headers = {"Authorization": f"Bearer {tokens['User.Invite.All']}"}
    assert tenant.client.post("/v1.0/invitations", json=body, headers=headers).status_code == 201
    # User.Invite.All is not enough to reset a redemption
    guest = invite(tenant, "k@partner.example").json()
    reset = {
        **body,
        "invitedUserEmailAddress": "k@partner.example",
        "invitedUser": {"id": guest["invitedUser"]["id"]},
        "resetRedemption": True,
    }
    assert tenant.client.post("/v1.0/invitations", json=reset, headers=headers).status_code == 403
    assert tenant.client.post("/v1.0/invitations", json=body).status_code == 401


def test_bulk_endpoint(tenant: TenantHandle) -> None:
    rows = [
        {"invitedUserEmailAddress": "b1@partner.example", "inviteRedirectUrl": "https://a.example"},
        {"invitedUserEmailAddress": "bad", "inviteRedirectUrl": "https://a.example"},
        {
            "invitedUserEmailAddress": "b2@partner.example",
            "inviteRedirectUrl": "https://a.example",
            "sendInvitationMessage": True,
        },
        "not an object",
    ]
    response = tenant.post("/invitations/bulk", json={"invitations": rows})
    assert response.status_code == 200, response.text
    value = response.json()["value"]
    assert [v["status"] for v in value] == [201, 400, 201, 400]
    assert value[0]["invitation"]["invitedUser"]["userPrincipalName"].startswith("b1_partner.example#EXT#@")
    assert value[1]["error"]["code"] == "BadRequest" and "invitedUserEmailAddress" in value[1]["error"]["message"]
    assert value[2]["invitation"]["@hospes.messageStatus"] == "Queued"
    assert_graph_error(tenant.post("/invitations/bulk", json={"invitations": []}), 400, "Request_BadRequest")
    assert_graph_error(tenant.post("/invitations/bulk", json={"invitations": [{}] * 1001}), 400, "Request_BadRequest")


def test_display_name_written_as_encoded_words_reaches_the_mail_as_typed(
    tenant: TenantHandle, sessions: sessionmaker[Session]
) -> None:
    """``invitedUserDisplayName`` spelled as an RFC 2047 encoded word that decodes to a line break is accepted as
    text (a name is whatever the admin typed) and sent so that mail clients show it as typed, not decoded."""
    name = "=?utf-8?b?" + base64.b64encode(b"Eve\r\nBcc: spy@evil.example").decode() + "?="
    response = invite(tenant, "eve@partner.example", invitedUserDisplayName=name, sendInvitationMessage=True)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["invitedUserDisplayName"] == name
    with sessions() as session:
        row = session.scalar(select(OutboxMessage).where(OutboxMessage.related_id == body["id"]))
        assert row is not None
        wire = row.mime
    head = re.sub(r"\r\n[ \t]", " ", wire.split("\r\n\r\n", 1)[0])
    [to] = [line.removeprefix("To: ") for line in head.split("\r\n") if line.startswith("To: ")]
    assert str(make_header(decode_header(to))) == f"{name} <eve@partner.example>"
    parsed = email.message_from_string(wire, policy=email.policy.SMTP)
    [mailbox] = parsed["To"].addresses
    assert (mailbox.display_name, mailbox.addr_spec) == (name, "eve@partner.example")
