"""My Access pages: a member requests a package, the approver approves on the page, the member extends; someone
outside the directory follows the package's link, proves their address with a one-time passcode, asks, and on
approval their guest exists already redeemed, in the package's group, without an invitation email."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from hospes.storage.tables import OutboxMessage
from tests.helpers.entitlement import EM, make_bundle, ok, policy_body, stages
from tests.helpers.portal import csrf_of, sign_in
from tests.helpers.redemption import latest_code, path_of
from tests.helpers.tenants import TenantHandle


def mails(sessions: sessionmaker[Session], address: str) -> list[str]:
    with sessions() as session:
        rows = session.scalars(select(OutboxMessage).order_by(OutboxMessage.created_at))
        return [r.kind for r in rows if address.lower() in [x.lower() for x in r.recipients]]


def post_form(web: TestClient, page_url: str, action: str, **fields: Any) -> Any:
    page = web.get(page_url)
    assert page.status_code == 200, page.text
    return web.post(action, data={"csrf": csrf_of(page.text), **fields})


def members(tenant: TenantHandle, group_id: str) -> set[str]:
    return {m["id"] for m in ok(tenant.get(f"/groups/{group_id}/members"))["value"]}


def test_member_requests_approver_approves_on_the_pages(
    tenant: TenantHandle, web: TestClient, sessions: sessionmaker[Session]
) -> None:
    bundle = make_bundle(tenant, "Design")
    ada, bob = tenant.new_user("ada"), tenant.new_user("bob", mail=f"bob@{tenant.domain}")
    body = policy_body(bundle.package["id"], "allMemberUsers", requestApprovalSettings=stages(bob["id"]))
    ok(tenant.post(f"{EM}/assignmentPolicies", json=body), 201)
    base = f"/{tenant.domain}/myaccess"

    assert web.get(base, follow_redirects=False).status_code == 303  # signed out: to the sign-in first
    assert sign_in(web, tenant.domain, ada["userPrincipalName"]).status_code == 303
    page = web.get(base)
    assert page.status_code == 200 and "Design" in page.text and 'id="no-requests"' in page.text
    sent = post_form(web, base, f"{base}/request", package=bundle.package["id"], justification="for the launch")
    assert sent.status_code == 303 and sent.headers["location"].endswith("done=requested")
    page = web.get(base + "?done=requested")
    assert "pendingApproval" in page.text and "You already have it, or asked for it." in page.text
    assert mails(sessions, bob["mail"]) == ["access_approval"]

    web.cookies.clear()
    assert sign_in(web, tenant.domain, bob["userPrincipalName"]).status_code == 303
    page = web.get(base + "?lang=fr")
    assert "Approbations en attente de votre part" in page.text and "for the launch" in page.text
    request = ok(tenant.get(f"{EM}/assignmentRequests"))["value"][0]
    stage = request_stage(tenant, request["id"])
    decided = post_form(web, base, f"{base}/approvals/{request['id']}/{stage}", decision="approve", justification="ok")
    assert decided.status_code == 303, decided.text
    assert members(tenant, bundle.group["id"]) == {ada["id"]}
    again = post_form(web, base, f"{base}/approvals/{request['id']}/{stage}", decision="deny")
    assert again.status_code == 409  # already decided

    web.cookies.clear()
    assert sign_in(web, tenant.domain, ada["userPrincipalName"]).status_code == 303
    page = web.get(base)
    assert 'id="assignments"' in page.text and "delivered" in page.text
    assignment = ok(tenant.get(f"{EM}/assignments"))["value"][0]
    extended = post_form(web, base, f"{base}/assignments/{assignment['id']}/extend", justification="longer")
    assert extended.status_code == 303 and extended.headers["location"].endswith("done=extended")


def request_stage(tenant: TenantHandle, request_id: str) -> str:
    from hospes.storage.tables_entitlement import EmApprovalStage

    sessions = tenant.client.app.state.runtime.sessions  # type: ignore[attr-defined]
    with sessions() as session:
        return str(session.scalars(select(EmApprovalStage.id).where(EmApprovalStage.request_id == request_id)).one())


def test_outsider_asks_through_the_link_with_a_passcode(
    tenant: TenantHandle, web: TestClient, sessions: sessionmaker[Session]
) -> None:
    bundle = make_bundle(tenant, "Partners")
    org = ok(
        tenant.post(
            f"{EM}/connectedOrganizations",
            json={
                "displayName": "Fabrikam",
                "identitySources": [
                    {
                        "@odata.type": "#microsoft.graph.domainIdentitySource",
                        "domainName": "fabrikam.example",
                        "displayName": "Fabrikam",
                    }
                ],
            },
        ),
        201,
    )
    body = policy_body(
        bundle.package["id"],
        "specificConnectedOrganizationUsers",
        specificAllowedTargets=[
            {"@odata.type": "#microsoft.graph.connectedOrganizationMembers", "connectedOrganizationId": org["id"]}
        ],
        questions=[{"id": "why", "text": "Which project?", "isRequired": True}],
    )
    ok(tenant.post(f"{EM}/assignmentPolicies", json=body), 201)  # no approval: a pre-authorised domain
    link = f"/{tenant.id}/myaccess/access-packages/{bundle.package['id']}"
    page = web.get(link)
    assert page.status_code == 200 and 'id="signin-form"' in page.text
    started = web.post(
        f"{link}/signin", data={"csrf": csrf_of(page.text), "email": "Pat@Fabrikam.example", "name": "Pat Partner"}
    )
    assert started.status_code == 303 and started.headers["location"].endswith("/redeem/signin")
    signin = web.get(path_of(started.headers["location"]))
    assert signin.status_code == 200
    sent = web.post(f"/{tenant.id}/redeem/code/send", data={"csrf": csrf_of(signin.text)})
    assert sent.status_code == 303
    code_page = web.get(f"/{tenant.id}/redeem/code")
    verified = web.post(
        f"/{tenant.id}/redeem/code",
        data={"csrf": csrf_of(code_page.text), "code": latest_code(sessions, "pat@fabrikam.example")},
    )
    assert verified.status_code == 303
    back = web.get(f"/{tenant.id}/redeem/continue", follow_redirects=False)
    assert back.status_code == 303 and back.headers["location"] == link
    form = web.get(link)
    assert 'id="request-form"' in form.text and "pat@fabrikam.example" in form.text
    missing = web.post(link, data={"csrf": csrf_of(form.text)})
    assert missing.status_code == 400 and "Which project?" in missing.text
    done = web.post(link, data={"csrf": csrf_of(form.text), "q_why": "Apollo"})
    assert done.status_code == 200 and "delivered" in done.text

    guests = ok(tenant.get("/users?$filter=mail eq 'pat@fabrikam.example'&$select=id,externalUserState,identities"))
    guest = guests["value"][0]
    assert guest["externalUserState"] == "Accepted"
    assert {"signInType": "federated", "issuer": "mail", "issuerAssignedId": "pat@fabrikam.example"} in guest[
        "identities"
    ]
    assert members(tenant, bundle.group["id"]) == {guest["id"]}
    kinds = mails(sessions, "pat@fabrikam.example")
    assert "invitation" not in kinds and "access_granted" in kinds and "otp" in kinds

    other = web.get(f"/{tenant.id}/myaccess/access-packages/00000000-0000-0000-0000-000000000000")
    assert other.status_code == 404
