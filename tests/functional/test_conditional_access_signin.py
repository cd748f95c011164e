"""Conditional access at sign-in: a member blocked at /login (AADSTS53003 page), a member asked to set up and give
a second factor for the portal, an OpenID Connect authorization refused (53003 to the client) or sent through the
MFA step and back, report-only letting the user in; the sign-in log keeps the applied policies and their results."""

from __future__ import annotations

import html
import re
from typing import Any

import pyotp
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from hospes.storage.tables_sso import SignIn
from tests.helpers.oidc import RelyingParty, admin_consent, answer_of, follow, register_rp
from tests.helpers.portal import csrf_of, sign_in
from tests.helpers.tenants import TenantHandle

POLICIES = "/identity/conditionalAccess/policies"
_SEALED = re.compile(r'name="sealed" value="([^"]+)"')
_SECRET = re.compile(r'id="totp-secret"[^>]*>([^<]+)<')


def _policy(
    tenant: TenantHandle, controls: list[str], users: dict[str, Any], apps: list[str], state: str = "enabled"
) -> str:
    created = tenant.post(
        POLICIES,
        json={
            "displayName": f"{'+'.join(controls)} policy",
            "state": state,
            "conditions": {"users": users, "applications": {"includeApplications": apps}},
            "grantControls": {"operator": "OR", "builtInControls": controls},
        },
    )
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


def _authorize(rp: RelyingParty, **params: str) -> str:
    from urllib.parse import urlencode

    query = {
        "client_id": rp.client_id,
        "redirect_uri": rp.redirect_uri,
        "response_type": "code",
        "scope": "openid profile",
        "state": "st",
        "nonce": "n-0",
        **params,
    }
    return f"/{rp.tenant.id}/oauth2/v2.0/authorize?{urlencode(query)}"


def _log(sessions: sessionmaker[Session], tenant_id: str) -> list[SignIn]:
    with sessions() as session:
        return list(session.scalars(select(SignIn).where(SignIn.tenant_id == tenant_id).order_by(SignIn.created_at)))


def _register(web: TestClient, page: Any) -> tuple[pyotp.TOTP, Any]:
    """The set-up step a policy put in the middle of a sign-in, answered with a code of the new authenticator."""
    assert page.status_code == 200 and "/login/mfa/enrol" in page.text, page.text[:300]
    totp = pyotp.TOTP(_SECRET.search(page.text).group(1).replace(" ", ""))  # type: ignore[union-attr]
    sealed = html.unescape(_SEALED.search(page.text).group(1))  # type: ignore[union-attr]
    action = html.unescape(re.search(r'action="([^"]+/login/mfa/enrol)"', page.text).group(1))  # type: ignore[union-attr]
    done = web.post(action, data={"csrf": csrf_of(page.text), "sealed": sealed, "code": totp.now()})
    return totp, done


def test_a_member_blocked_at_login_sees_the_reason(web: TestClient, tenant: TenantHandle) -> None:
    user = tenant.new_user()
    _policy(tenant, ["block"], {"includeUsers": [user["id"]]}, ["All"])
    refused = sign_in(web, tenant.domain, user["userPrincipalName"])
    assert refused.status_code == 403
    assert "AADSTS53003" in refused.text
    assert web.get(f"/{tenant.domain}/me").status_code == 303  # no session
    audit = tenant.get("/auditLogs/directoryAudits?$filter=activityDisplayName eq 'Sign in'").json()["value"]
    assert any("blocked by conditional access" in (a["resultReason"] or "") for a in audit)
    logged = tenant.get(f"/auditLogs/signIns?$filter=userId eq '{user['id']}'").json()["value"]
    assert [(r["status"]["errorCode"], r["conditionalAccessStatus"], r["appDisplayName"]) for r in logged] == [
        (53003, "failure", "Hospes")
    ]
    # Another member is not concerned.
    other = tenant.new_user()
    assert sign_in(web, tenant.domain, other["userPrincipalName"]).status_code == 303
    logged = tenant.get(f"/auditLogs/signIns?$filter=userId eq '{other['id']}'").json()["value"]
    assert [(r["status"]["errorCode"], r["conditionalAccessStatus"]) for r in logged] == [(0, "notApplied")]
    assert logged[0]["appliedConditionalAccessPolicies"][0]["result"] == "notApplied"


def test_mfa_for_the_portal_has_a_member_set_up_an_authenticator(web: TestClient, tenant: TenantHandle) -> None:
    user = tenant.new_user()
    _policy(tenant, ["mfa"], {"includeUsers": ["All"]}, ["MicrosoftAdminPortals"])
    # My Apps is not the portal: no second factor asked.
    assert sign_in(web, tenant.domain, user["userPrincipalName"], next=f"/{tenant.domain}/myapps").status_code == 303
    assert web.get(f"/{tenant.domain}/me").status_code == 200
    started = sign_in(web, tenant.domain, user["userPrincipalName"], next=f"/{tenant.domain}/admin")
    assert started.headers["location"].endswith("/login/mfa")
    assert web.get(f"/{tenant.domain}/me").status_code == 303  # pending: not signed in yet
    totp, done = _register(web, web.get(started.headers["location"]))
    assert done.status_code == 200 and f'href="/{tenant.domain}/admin"' in done.text  # recovery codes, then on
    assert web.get(f"/{tenant.domain}/me").status_code == 200
    rows = tenant.get(f"/auditLogs/signIns?$filter=userId eq '{user['id']}'").json()["value"]  # newest first
    assert [(r["appDisplayName"], r["conditionalAccessStatus"]) for r in rows] == [
        ("Hospes portal", "success"),
        ("Hospes", "notApplied"),
    ]
    # The next sign-in asks for the code, as for anyone with an authenticator.
    again = sign_in(web, tenant.domain, user["userPrincipalName"])
    assert again.headers["location"].endswith("/login/mfa")
    assert totp.now()


def test_oidc_authorization_blocked_by_policy(web: TestClient, tenant: TenantHandle, sessions: Any) -> None:
    rp = register_rp(tenant)
    admin_consent(rp, "openid profile")
    user = tenant.new_user()
    policy_id = _policy(tenant, ["block"], {"includeUsers": ["All"]}, [rp.client_id])
    assert sign_in(web, tenant.domain, user["userPrincipalName"]).status_code == 303  # Hospes itself: not blocked
    answered = follow(web, web.get(_authorize(rp)))
    params = answer_of(answered)
    assert params["error"] == "access_denied" and "AADSTS53003" in params["error_description"]
    row = _log(sessions, tenant.id)[-1]
    assert (row.error_code, row.conditional_access_status, row.user_id) == (53003, "failure", user["id"])
    # The Graph sign-in log says the same, and the what-if agrees with the live decision.
    listed = tenant.get("/auditLogs/signIns?$filter=status/errorCode eq 53003").json()["value"]
    assert [r["id"] for r in listed] == [row.id]
    assert listed[0]["conditionalAccessStatus"] == "failure" and listed[0]["appId"] == rp.client_id
    what_if = tenant.post(
        "/identity/conditionalAccess/evaluate",
        json={
            "signInIdentity": {"@odata.type": "#microsoft.graph.userSignIn", "userId": user["id"]},
            "signInContext": {
                "@odata.type": "#microsoft.graph.applicationContext",
                "includeApplications": [rp.client_id],
            },
        },
    ).json()["value"]
    assert [(r["id"], r["policyApplies"]) for r in what_if] == [(policy_id, True)]
    applied = row.details["appliedConditionalAccessPolicies"]
    assert applied == [
        {
            "id": policy_id,
            "displayName": "block policy",
            "enforcedGrantControls": ["block"],
            "enforcedSessionControls": [],
            "result": "failure",
        }
    ]


def test_oidc_mfa_required_goes_through_the_mfa_step_and_back(
    web: TestClient, tenant: TenantHandle, sessions: Any
) -> None:
    rp = register_rp(tenant)
    admin_consent(rp, "openid profile")
    user = tenant.new_user()
    _policy(tenant, ["mfa"], {"includeUsers": [user["id"]]}, [rp.client_id])
    assert sign_in(web, tenant.domain, user["userPrincipalName"]).status_code == 303
    silent = follow(web, web.get(_authorize(rp, prompt="none")))
    assert answer_of(silent)["error"] == "interaction_required" and "50076" in answer_of(silent)["error_description"]
    step = follow(web, web.get(_authorize(rp)))
    assert "/login/mfa" in str(step.url)  # the step-up, then the set-up of an authenticator
    _, done = _register(web, step)
    assert done.status_code == 200
    next_url = html.unescape(re.search(r'class="button" href="([^"]+)"', done.text).group(1))  # type: ignore[union-attr]
    answered = follow(web, web.get(next_url))
    assert isinstance(answered, str), (next_url, answered.url, answered.status_code, answered.text[:800])
    assert "code" in answer_of(answered), answered
    row = _log(sessions, tenant.id)[-1]
    assert (row.error_code, row.conditional_access_status) == (0, "success")
    assert [p["result"] for p in row.details["appliedConditionalAccessPolicies"]] == ["success"]


def test_report_only_logs_and_lets_the_user_in(web: TestClient, tenant: TenantHandle, sessions: Any) -> None:
    rp = register_rp(tenant)
    admin_consent(rp, "openid profile")
    user = tenant.new_user()
    _policy(tenant, ["block"], {"includeUsers": ["All"]}, ["All"], state="enabledForReportingButNotEnforced")
    assert sign_in(web, tenant.domain, user["userPrincipalName"]).status_code == 303
    answered = follow(web, web.get(_authorize(rp)))
    assert "code" in answer_of(answered)
    row = _log(sessions, tenant.id)[-1]
    assert (row.error_code, row.conditional_access_status) == (0, "notApplied")
    assert [p["result"] for p in row.details["appliedConditionalAccessPolicies"]] == ["reportOnlyFailure"]


def test_saml_sign_in_from_my_apps_blocked_or_asked_for_mfa(
    app: Any, web: TestClient, tenant: TenantHandle, sessions: Any
) -> None:
    import base64

    from tests.functional.test_saml_sso import _member, _register, _sp
    from tests.helpers.saml import form_fields

    sp = _sp("ca")
    handle = _register(app, tenant, sessions, sp)
    user = _member(web, tenant)
    block = _policy(tenant, ["block"], {"includeUsers": [user["id"]]}, [handle.app_id])
    refused = web.get(f"/{tenant.domain}/myapps/signin/{handle.app_id}")
    action, fields = form_fields(refused.text)  # an error Response to the app, which tells the user
    assert action == sp.acs and b"RequestDenied" in base64.b64decode(fields["SAMLResponse"])
    row = _log(sessions, tenant.id)[-1]
    assert (row.protocol, row.error_code, row.conditional_access_status) == ("saml", 53003, "failure")
    assert row.details["appliedConditionalAccessPolicies"][0]["id"] == block
    # Once the policy asks for MFA instead, the launch goes through the MFA step first.
    assert tenant.patch(f"{POLICIES}/{block}", json={"grantControls": {"builtInControls": ["mfa"]}}).status_code == 204
    asked = web.get(f"/{tenant.domain}/myapps/signin/{handle.app_id}")
    assert asked.status_code == 303 and "/login/stepup?" in asked.headers["location"]


def test_portal_sign_in_logs(web: TestClient, tenant: TenantHandle) -> None:
    from tests.helpers.portal import sign_in_as_admin

    user = tenant.new_user()
    policy_id = _policy(tenant, ["block"], {"includeUsers": [user["id"]]}, ["All"])
    assert sign_in(web, tenant.domain, user["userPrincipalName"]).status_code == 403
    web.cookies.clear()
    sign_in_as_admin(web, tenant)
    listed = web.get(f"/{tenant.domain}/admin/sign-ins")
    assert listed.status_code == 200 and 'href="/' in listed.text and "Sign-in logs" in listed.text
    assert user["userPrincipalName"] in listed.text
    failures = web.get(f"/{tenant.domain}/admin/sign-ins", params={"status": "failure", "user": user["id"]})
    ids = re.findall(r'/admin/sign-ins/([0-9a-f-]{36})"', failures.text)
    assert len(ids) == 1
    assert "53003" in failures.text
    successes = web.get(f"/{tenant.domain}/admin/sign-ins", params={"status": "success", "user": user["id"]})
    assert re.findall(r'/admin/sign-ins/([0-9a-f-]{36})"', successes.text) == []
    detail = web.get(f"/{tenant.domain}/admin/sign-ins/{ids[0]}")
    assert detail.status_code == 200 and "AADSTS53003" in detail.text
    assert "block policy" in detail.text and "failure" in detail.text and policy_id not in detail.text
    assert web.get(f"/{tenant.domain}/admin/sign-ins/nope").status_code == 404
    assert web.get(f"/{tenant.domain}/admin/sign-ins", params={"from": "yesterday"}).status_code == 400
    # Only Global Administrators see it.
    web.cookies.clear()
    member = tenant.new_user()
    assert sign_in(web, tenant.domain, member["userPrincipalName"]).status_code == 303
    assert web.get(f"/{tenant.domain}/admin/sign-ins").status_code in (302, 303, 403)
