"""Guests whose home tenant is in this deployment (sign in at home, come back with a single-use assertion), the
"require MFA for guest users" rule (trusting the home tenant's MFA or enrolling TOTP here), and the refusal of a
second redemption by another identity unless the invitation was reset."""

from __future__ import annotations

import html
import re
import time
import uuid
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pyotp
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from hospes.domain.principals import Principal
from hospes.services.guest_flows import FlowView
from hospes.services.guest_policy import GuestPolicyService
from hospes.services.redemption import RedemptionRefusedError
from tests.helpers.portal import PASSWORD, csrf_of, enrol_totp, sign_in
from tests.helpers.redemption import (
    accept,
    invite,
    latest_code,
    open_link,
    path_of,
    redeem_with_otp,
    send_code,
    submit_code,
)
from tests.helpers.tenants import TenantHandle

_SECRET = re.compile(r'id="totp-secret"[^>]*>([^<]+)<')
_SEALED = re.compile(r'name="sealed" value="([^"]+)"')


def _policy(tenant: TenantHandle, **values: Any) -> None:
    app: Any = tenant.client.app
    GuestPolicyService(app.state.runtime.sessions, Principal(tenant.id, "system", "", "test")).update(**values)


def _home_round_trip(web: TestClient, resource: TenantHandle, upn: str, totp: pyotp.TOTP | None) -> Any:
    """From the sign-in step of a flow: go home, sign in (password, then TOTP if given), come back."""
    page = web.get(f"/{resource.id}/redeem/signin")
    assert page.status_code == 200 and 'id="home-signin"' in page.text
    home_url = html.unescape(re.search(r'id="home-signin" href="([^"]+)"', page.text).group(1))  # type: ignore[union-attr]
    login = web.get(home_url)
    assert login.status_code == 200
    next_path = parse_qs(urlsplit(home_url).query)["next"][0]
    signed = web.post(
        home_url.split("?")[0],
        data={"csrf": csrf_of(login.text), "username": upn, "password": PASSWORD, "next": next_path},
    )
    assert signed.status_code == 303, signed.text
    if totp is not None:
        assert signed.headers["location"].endswith("/login/mfa")
        challenge = web.get(signed.headers["location"])
        signed = web.post(
            signed.headers["location"], data={"csrf": csrf_of(challenge.text), "code": totp.at(time.time() + 30)}
        )
        assert signed.status_code == 303
    assert signed.headers["location"] == next_path
    back = web.get(next_path)
    assert back.status_code == 303 and "/redeem/home/return?assertion=" in back.headers["location"]
    return back


def test_home_tenant_guest_with_trusted_home_mfa(
    web: TestClient, tenant: TenantHandle, other_tenant: TenantHandle, sessions: sessionmaker[Session]
) -> None:
    alice = other_tenant.new_user("alice")
    assert sign_in(web, other_tenant.domain, alice["userPrincipalName"]).status_code == 303
    totp, _codes = enrol_totp(web, other_tenant.domain)
    _policy(tenant, require_guest_mfa=True, trust_home_mfa=True)
    invitation = invite(tenant, alice["userPrincipalName"])

    assert open_link(web, invitation["inviteRedeemUrl"]).status_code == 303
    back = _home_round_trip(web, tenant, alice["userPrincipalName"], totp)
    returned = web.get(path_of(back.headers["location"]))
    assert returned.status_code == 303 and returned.headers["location"].endswith("/redeem/continue")
    replay = web.get(path_of(back.headers["location"]))
    assert replay.status_code == 400  # single use
    went = web.get(returned.headers["location"])
    assert went.headers["location"].endswith("/redeem/consent")  # home MFA trusted: no MFA step here
    done = accept(web, tenant.id)
    assert done.status_code == 303 and done.headers["location"] == "https://apps.example.com/welcome"
    user = tenant.get(f"/users/{invitation['invitedUser']['id']}?$select=externalUserState,identities").json()
    assert user["externalUserState"] == "Accepted"
    assert {
        "signInType": "federated",
        "issuer": "ExternalAzureAD",
        "issuerAssignedId": f"{other_tenant.id}/{alice['id']}",
    } in user["identities"]
    assert web.get(f"/{tenant.id}/myapps").status_code == 200


def test_home_mfa_not_trusted_means_totp_enrolment_here(
    web: TestClient, tenant: TenantHandle, other_tenant: TenantHandle, sessions: sessionmaker[Session]
) -> None:
    bob = other_tenant.new_user("bob")
    _policy(tenant, require_guest_mfa=True, trust_home_mfa=False)
    invitation = invite(tenant, bob["userPrincipalName"])
    assert open_link(web, invitation["inviteRedeemUrl"]).status_code == 303
    back = _home_round_trip(web, tenant, bob["userPrincipalName"], None)
    web.get(path_of(back.headers["location"]))
    went = web.get(f"/{tenant.id}/redeem/continue")
    assert went.headers["location"].endswith("/redeem/mfa")
    assert web.get(f"/{tenant.id}/redeem/consent").headers["location"].endswith("/redeem/continue")
    setup = web.get(f"/{tenant.id}/redeem/mfa")
    secret = _SECRET.search(setup.text).group(1).replace(" ", "")  # type: ignore[union-attr]
    sealed = html.unescape(_SEALED.search(setup.text).group(1))  # type: ignore[union-attr]
    bad = web.post(f"/{tenant.id}/redeem/mfa", data={"csrf": csrf_of(setup.text), "sealed": sealed, "code": "000000"})
    assert bad.status_code == 400
    codes = web.post(
        f"/{tenant.id}/redeem/mfa",
        data={"csrf": csrf_of(setup.text), "sealed": sealed, "code": pyotp.TOTP(secret).now()},
    )
    assert codes.status_code == 200 and "Recovery codes" in codes.text
    assert web.get(f"/{tenant.id}/redeem/continue").headers["location"].endswith("/redeem/consent")
    assert accept(web, tenant.id).status_code == 303
    state = web.app.state.web  # type: ignore[attr-defined]
    assert state.mfa.is_enrolled(invitation["invitedUser"]["id"])


def test_email_passcode_guest_must_pass_mfa_when_required(
    web: TestClient, tenant: TenantHandle, sessions: sessionmaker[Session]
) -> None:
    _policy(tenant, require_guest_mfa=True)
    address = f"carol-{uuid.uuid4().hex[:6]}@partner.example"
    invitation = invite(tenant, address)
    open_link(web, invitation["inviteRedeemUrl"])
    send_code(web, tenant.id)
    verified = submit_code(web, tenant.id, latest_code(sessions, address))
    assert web.get(verified.headers["location"]).headers["location"].endswith("/redeem/mfa")
    assert web.get(f"/{tenant.id}/myapps").status_code == 303  # not signed in before MFA and consent


def test_wrong_account_at_home(
    web: TestClient, tenant: TenantHandle, other_tenant: TenantHandle, sessions: sessionmaker[Session]
) -> None:
    dave = other_tenant.new_user("dave")
    eve = other_tenant.new_user("eve")
    invitation = invite(tenant, dave["userPrincipalName"])
    open_link(web, invitation["inviteRedeemUrl"])
    page = web.get(f"/{tenant.id}/redeem/signin")
    home_url = html.unescape(re.search(r'id="home-signin" href="([^"]+)"', page.text).group(1))  # type: ignore[union-attr]
    next_path = parse_qs(urlsplit(home_url).query)["next"][0]
    login = web.get(home_url)
    web.post(
        home_url.split("?")[0],
        data={
            "csrf": csrf_of(login.text),
            "username": eve["userPrincipalName"],
            "password": PASSWORD,
            "next": next_path,
        },
    )
    wrong = web.get(next_path)
    assert wrong.status_code == 403 and "Wrong account" in wrong.text
    # A forged or foreign assertion is refused.
    forged = web.get(f"/{tenant.id}/redeem/home/return?assertion=v1:AAAA")
    assert forged.status_code == 400


def test_second_identity_refused_until_reset(
    web: TestClient, tenant: TenantHandle, sessions: sessionmaker[Session]
) -> None:

    address = f"frank-{uuid.uuid4().hex[:6]}@partner.example"
    invitation = invite(tenant, address)
    user_id = invitation["invitedUser"]["id"]
    assert redeem_with_otp(web, sessions, invitation["inviteRedeemUrl"], tenant.id, address).status_code == 303
    service = web.app.state.web.redemption  # type: ignore[attr-defined]
    token = service.start_signin(tenant.id, address, f"/{tenant.id}/myapps", service_now())
    flow = service.load(token, service_now())
    other = FlowView(**{**flow.__dict__, "verified_method": "home", "data": {"home": {"tenant": "t", "user": "u"}}})
    try:
        service.accept(other, service_now())
        raise AssertionError("a second identity was accepted")
    except RedemptionRefusedError as exc:
        assert exc.reason == "other_identity"
    reset = tenant.post(
        "/invitations",
        json={
            "invitedUserEmailAddress": address,
            "inviteRedirectUrl": "https://apps.example.com/",
            "resetRedemption": True,
            "invitedUser": {"id": user_id},
        },
    )
    assert reset.status_code == 201, reset.text
    token = service.start_signin(tenant.id, address, f"/{tenant.id}/myapps", service_now())
    flow = service.load(token, service_now())
    other = FlowView(**{**flow.__dict__, "verified_method": "home", "data": {"home": {"tenant": "t", "user": "u"}}})
    service.accept(other, service_now())
    user = tenant.get(f"/users/{user_id}?$select=externalUserState,identities").json()
    assert user["externalUserState"] == "Accepted"
    assert [i["issuer"] for i in user["identities"] if i["signInType"] == "federated"] == ["ExternalAzureAD"]


def service_now() -> Any:
    from hospes.domain.clock import utcnow

    return utcnow()


def test_home_user_who_is_no_guest_here_is_refused_cleanly(
    web: TestClient, tenant: TenantHandle, other_tenant: TenantHandle, sessions: sessionmaker[Session]
) -> None:
    _policy(tenant, require_guest_mfa=True)
    stranger = other_tenant.new_user("gina")
    form = web.get(f"/{tenant.id}/guest")
    web.post(f"/{tenant.id}/guest", data={"csrf": csrf_of(form.text), "email": stranger["userPrincipalName"]})
    back = _home_round_trip(web, tenant, stranger["userPrincipalName"], None)
    returned = web.get(path_of(back.headers["location"]))
    assert returned.status_code == 303
    refused = web.get(returned.headers["location"])
    assert refused.status_code == 403 and "could not sign you in" in refused.text


def _guest_session_amr(sessions: sessionmaker[Session], tenant_id: str, user_id: str) -> list[str]:
    from sqlalchemy import select

    from hospes.storage.tables_signin import WebSession

    with sessions() as session:
        rows = session.scalars(
            select(WebSession).where(WebSession.tenant_id == tenant_id, WebSession.user_id == user_id)
        )
        return [method for row in rows for method in row.amr]


def test_a_second_factor_done_at_an_untrusted_home_never_counts_here(
    web: TestClient, tenant: TenantHandle, other_tenant: TenantHandle, sessions: sessionmaker[Session]
) -> None:
    """The guest's session here keeps only what this tenant counts, so a later sign-in in it (an app with a
    policy asking for MFA) can't take the home tenant's untrusted TOTP for MFA done here."""
    carol = other_tenant.new_user("carol")
    assert sign_in(web, other_tenant.domain, carol["userPrincipalName"]).status_code == 303
    totp, _codes = enrol_totp(web, other_tenant.domain)
    _policy(tenant, require_guest_mfa=False, trust_home_mfa=False)
    invitation = invite(tenant, carol["userPrincipalName"])
    assert open_link(web, invitation["inviteRedeemUrl"]).status_code == 303
    back = _home_round_trip(web, tenant, carol["userPrincipalName"], totp)
    web.get(path_of(back.headers["location"]))
    assert web.get(f"/{tenant.id}/redeem/continue").headers["location"].endswith("/redeem/consent")
    assert accept(web, tenant.id).status_code == 303
    guest_id = invitation["invitedUser"]["id"]
    assert _guest_session_amr(sessions, tenant.id, guest_id) == ["pwd"]


def test_a_trusted_home_second_factor_counts_as_mfa_here(
    web: TestClient, tenant: TenantHandle, other_tenant: TenantHandle, sessions: sessionmaker[Session]
) -> None:
    dave = other_tenant.new_user("dave")
    assert sign_in(web, other_tenant.domain, dave["userPrincipalName"]).status_code == 303
    totp, _codes = enrol_totp(web, other_tenant.domain)
    _policy(tenant, require_guest_mfa=False, trust_home_mfa=True)
    invitation = invite(tenant, dave["userPrincipalName"])
    assert open_link(web, invitation["inviteRedeemUrl"]).status_code == 303
    back = _home_round_trip(web, tenant, dave["userPrincipalName"], totp)
    web.get(path_of(back.headers["location"]))
    web.get(f"/{tenant.id}/redeem/continue")
    assert accept(web, tenant.id).status_code == 303
    assert _guest_session_amr(sessions, tenant.id, invitation["invitedUser"]["id"]) == ["pwd", "mfa"]
