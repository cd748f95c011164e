"""The Provisioning screen and provisioning logs of the admin portal, against a live scim2-server target."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from hospes.asgi import create_app
from hospes.domain.principals import USER_ADMINISTRATOR
from hospes.domain.provisioning import JobCode
from hospes.settings import Settings
from tests.helpers.collector import run_collector
from tests.helpers.portal import alerts, csrf_of, sign_in
from tests.helpers.scimtarget import Target, run_target
from tests.helpers.tenants import ADMIN_PASSWORD, TenantHandle


@pytest.fixture(scope="module")
def loopback_app(settings: Settings) -> Iterator[FastAPI]:
    """The app with loopback targets admitted (the SSRF guard refuses them by default)."""
    app = create_app(settings.model_copy(update={"outbound_allow": "127.0.0.1"}), housekeeping=False)
    yield app
    app.state.runtime.database.dispose()


@pytest.fixture
def web2(loopback_app: FastAPI) -> Iterator[TestClient]:
    with TestClient(loopback_app, raise_server_exceptions=False, follow_redirects=False) as test:
        yield test


@pytest.fixture
def target(tmp_path: Path) -> Iterator[Target]:
    with run_target(tmp_path / "scim") as found:
        yield found


class Portal:
    def __init__(self, web: TestClient, tenant: TenantHandle) -> None:
        self.web, self.tenant = web, tenant
        response = sign_in(web, tenant.domain, tenant.boot.admin_user_principal_name, ADMIN_PASSWORD)
        assert response.status_code == 303
        self.csrf = csrf_of(web.get(f"/{tenant.domain}/admin").text)

    def get(self, path: str) -> Any:
        return self.web.get(f"/{self.tenant.domain}{path}")

    def post(self, path: str, **data: Any) -> Any:
        return self.web.post(f"/{self.tenant.domain}{path}", data={"csrf": self.csrf, **data})

    def new_app(self, name: str = "8x8") -> str:
        created = self.post("/admin/apps/new", name=name, roles="User")
        assert created.status_code == 303
        return str(created.headers["location"].split("?")[0].removeprefix(f"/{self.tenant.domain}"))


def test_only_global_admins(web: TestClient, tenant: TenantHandle) -> None:
    sp = tenant.get("/servicePrincipals").json()["value"][0]["id"]
    user = tenant.new_user()
    body = {"@odata.id": f"https://graph.microsoft.com/v1.0/directoryObjects/{user['id']}"}
    assert tenant.post(f"/directoryRoles/{USER_ADMINISTRATOR}/members/$ref", json=body).status_code == 204
    sign_in(web, tenant.domain, user["userPrincipalName"])
    for path in (f"/admin/apps/{sp}/provisioning", "/admin/provisioning/logs", "/admin/provisioning/logs/1"):
        assert web.get(f"/{tenant.domain}{path}").status_code == 403
    token = csrf_of(web.get(f"/{tenant.domain}/admin").text)
    refused = web.post(f"/{tenant.domain}/admin/apps/{sp}/provisioning/create", data={"csrf": token})
    assert refused.status_code == 403
    live = web.get(f"/{tenant.domain}/admin/provisioning/validate-expression", params={"expression": "x"})
    assert live.status_code == 403


def test_the_ssrf_guard_answers_on_the_page(web: TestClient, tenant: TenantHandle) -> None:
    portal = Portal(web, tenant)
    app = portal.new_app()
    assert portal.post(f"{app}/provisioning/create").status_code == 303
    tested = portal.post(
        f"{app}/provisioning/credentials", action="test", tenant_url="http://127.0.0.1:9/scim", secret_token="t"
    )
    assert tested.status_code == 400
    assert re.search(
        r'id="test-result">Test connection failed|id="test-result">[^<]*(loopback|private|allowed)', tested.text
    )
    saved = portal.post(
        f"{app}/provisioning/credentials", action="save", tenant_url="https://u:p@scim.example/v2", secret_token="t"
    )
    assert saved.status_code == 400 and "credentials in the URL" in alerts(saved.text)["tenant_url"]
    # Discovering the target's schema goes through the same guard: nothing is asked of a loopback address.
    loopback = portal.post(
        f"{app}/provisioning/credentials", action="save", tenant_url="http://127.0.0.1:9/scim", secret_token="t"
    )
    assert loopback.status_code == 303
    refused = portal.post(f"{app}/provisioning/mappings/user/discover")
    assert refused.status_code == 400 and "The target&#39;s attributes could not be read" in refused.text
    assert "HOSPES_OUTBOUND_ALLOW" in refused.text


def test_forms_need_the_token(web2: TestClient, tenant: TenantHandle) -> None:
    portal = Portal(web2, tenant)
    app = portal.new_app()
    assert portal.post(f"{app}/provisioning/create").status_code == 303
    for path in ("create", "start", "pause", "restart", "allow-deletes", "reset-mappings", "credentials"):
        response = web2.post(f"/{tenant.domain}{app}/provisioning/{path}", data={"csrf": "forged", "action": "save"})
        assert response.status_code == 403, path
    for path in ("mappings/user/attribute", "mappings/user/scope", "mappings/user/delete"):
        assert web2.post(f"/{tenant.domain}{app}/provisioning/{path}", data={"csrf": "x"}).status_code == 403
    assert "Not configured" in portal.get(f"{app}/provisioning").text
    unknown = portal.post(f"{app}/provisioning/bogus")
    assert unknown.status_code == 404 and "This item does not exist" in unknown.text


def test_a_saved_token_goes_only_to_the_url_it_was_typed_for(web2: TestClient, tenant: TenantHandle) -> None:
    """Leaving the token empty keeps the saved one only for the same tenant URL: testing or saving another URL
    needs it typed again (else an administrator could send it to a host of theirs), and nothing is saved."""
    portal = Portal(web2, tenant)
    app = portal.new_app()
    assert portal.post(f"{app}/provisioning/create").status_code == 303
    sp_id = app.rsplit("/", 1)[1]
    prov = web2.app.state.runtime.provisioning  # type: ignore[attr-defined]
    first = "http://127.0.0.1:9/scim"
    saved = portal.post(
        f"{app}/provisioning/credentials", action="save", tenant_url=first, secret_token="saved-token-1"
    )
    assert saved.status_code == 303
    with run_collector() as collector:
        for action in ("test", "save"):
            moved = portal.post(f"{app}/provisioning/credentials", action=action, tenant_url=f"{collector.url}/scim")
            assert moved.status_code == 400, (action, moved.text)
            assert "Enter the secret token again for the new tenant URL." in alerts(moved.text)["secret_token"]
        assert "saved-token-1" not in collector.secrets_seen() and collector.seen == []
        assert prov.saved_secrets(tenant.id, sp_id)["BaseAddress"] == first
        retyped = portal.post(
            f"{app}/provisioning/credentials",
            action="save",
            tenant_url=f"{collector.url}/scim",
            secret_token="new-token-2",
        )
        assert retyped.status_code == 303
    secrets = prov.saved_secrets(tenant.id, sp_id)
    assert secrets["BaseAddress"] == f"{collector.url}/scim" and secrets["SecretToken"] == "new-token-2"
    kept = portal.post(f"{app}/provisioning/credentials", action="save", tenant_url=f"{collector.url}/scim")
    assert kept.status_code == 303  # the same URL keeps the saved token
    assert prov.saved_secrets(tenant.id, sp_id)["SecretToken"] == "new-token-2"
    # OAuth client credentials saved over Graph stay with their target too: a token minted with them would
    # otherwise be sent to the new URL.
    oauth = {
        "BaseAddress": first,
        "AuthenticationType": "OAuth2ClientCredentials",
        "Oauth2ClientId": "client-1",
        "Oauth2ClientSecret": "oauth-secret-1",
        "Oauth2TokenExchangeUri": "http://127.0.0.1:9/token",
        "SyncAll": "true",
    }
    prov.put_secrets(tenant.id, sp_id, oauth)
    moved = portal.post(
        f"{app}/provisioning/credentials",
        action="save",
        tenant_url="http://127.0.0.1:8/scim",
        secret_token="typed-3",
        scope="all",
    )
    assert moved.status_code == 303
    assert prov.saved_secrets(tenant.id, sp_id) == {
        "BaseAddress": "http://127.0.0.1:8/scim",
        "SecretToken": "typed-3",
        "SyncAll": "true",
        "SyncNotificationSettings": prov.saved_secrets(tenant.id, sp_id)["SyncNotificationSettings"],
    }


def test_configure_test_provision_and_read_the_logs(web2: TestClient, tenant: TenantHandle, target: Target) -> None:
    portal = Portal(web2, tenant)
    app = portal.new_app()
    screen = portal.get(f"{app}/provisioning")
    assert "Get started" in screen.text and "script-src 'self'" in screen.headers["content-security-policy"]
    assert portal.post(f"{app}/provisioning/create").status_code == 303
    wrong = portal.post(
        f"{app}/provisioning/credentials", action="test", tenant_url=target.base_url, secret_token="wrong"
    )
    assert wrong.status_code == 400 and "401" in wrong.text
    assert 'value="wrong"' in wrong.text  # the typed token stays in the field for the next try
    invalid = portal.post(
        f"{app}/provisioning/credentials", action="save", tenant_url="ftp://x", notify="on", delete_threshold="0"
    )
    assert invalid.status_code == 400
    assert {"tenant_url", "secret_token", "notification_email", "delete_threshold"} <= set(alerts(invalid.text))
    assert "Not configured" in portal.get(f"{app}/provisioning").text  # nothing half-saved
    saved = portal.post(
        f"{app}/provisioning/credentials",
        action="save",
        tenant_url=target.base_url,
        secret_token=target.token,
        notification_email="ops@contoso.example",
        notify="on",
        prevent_deletes="on",
        delete_threshold="50",
        scope="assigned",
    )
    assert saved.status_code == 303
    page = portal.get(f"{app}/provisioning").text
    assert target.token not in page and "Saved — leave empty to keep it." in page
    # Changing the notification address keeps the saved token: the connection test still passes with it.
    assert (
        portal.post(
            f"{app}/provisioning/credentials",
            action="save",
            tenant_url=target.base_url,
            notification_email="ops2@contoso.example",
            delete_threshold="50",
        ).status_code
        == 303
    )
    tested = portal.post(f"{app}/provisioning/credentials", action="test", tenant_url=target.base_url)
    assert "The supplied credentials are authorized" in tested.text

    user = tenant.new_user("paul", displayName="Paul Provisioned")
    sp_id = app.rsplit("/", 1)[1]
    roles = tenant.get(f"/servicePrincipals/{sp_id}").json()["appRoles"]
    assigned = tenant.post(
        f"/servicePrincipals/{sp_id}/appRoleAssignedTo",
        json={"principalId": user["id"], "resourceId": sp_id, "appRoleId": roles[0]["id"]},
    )
    assert assigned.status_code == 201
    dry = portal.post(f"{app}/provisioning-run/dry-run")
    assert dry.status_code == 200 and "<dt>Create</dt><dd>1</dd>" in dry.text and target.users() == []
    on_demand = portal.post(f"{app}/provisioning-run/on-demand", subject=user["userPrincipalName"])
    assert on_demand.status_code == 303  # Post/Redirect/Get: the steps are shown once by a GET
    shown = portal.web.get(on_demand.headers["location"])
    assert shown.status_code == 200 and "Export to the target" in shown.text and "— Create: " in shown.text
    assert [u["userName"] for u in target.users()] == [user["userPrincipalName"]]
    assert portal.web.get(on_demand.headers["location"]).status_code == 410  # a reload runs nothing
    unknown = portal.post(f"{app}/provisioning-run/on-demand", subject="nobody")
    assert unknown.status_code == 400 and "subject" in alerts(unknown.text)

    assert portal.post(f"{app}/provisioning/start").status_code == 303
    assert 'id="prov-code">On<' in portal.get(f"{app}/provisioning").text
    assert portal.get(f"{app}/provisioning/progress.json").json()["code"] == JobCode.ACTIVE

    logs = portal.get("/admin/provisioning/logs?action=create&status=success&identity=paul")
    ids = re.findall(r"/admin/provisioning/logs/(\d+)", logs.text)
    assert len(ids) == 1 and "Paul Provisioned" in logs.text
    assert "Paul Provisioned" not in portal.get("/admin/provisioning/logs?status=failure").text
    detail = portal.get(f"/admin/provisioning/logs/{ids[0]}").text
    assert "Import from the source" in detail and "Export to the target" in detail and "userName" in detail


def test_mapping_editor(web2: TestClient, tenant: TenantHandle) -> None:
    portal = Portal(web2, tenant)
    app = portal.new_app()
    assert portal.post(f"{app}/provisioning/create").status_code == 303
    mappings = f"{app}/provisioning/mappings/user"
    page = portal.get(mappings).text
    assert "userName" in page and "[userPrincipalName]" not in page and "userPrincipalName" in page
    edit = portal.get(f"{mappings}?edit=title").text
    assert 'id="editor"' in edit and ">jobTitle</textarea>" in edit
    bad = portal.post(
        f"{mappings}/attribute",
        original="",
        target="displayName",
        source_type="Function",
        expression='Join(" ", [givenName], [surname]',
        matching="0",
        flow="Always",
    )
    assert bad.status_code == 400 and "at character" in alerts(bad.text)["expression"]
    twice = portal.post(
        f"{mappings}/attribute",
        original="",
        target="title",
        source_type="Attribute",
        expression="mail",
        matching="0",
        flow="Always",
    )
    assert twice.status_code == 400 and "mapped twice" in alerts(twice.text)["target"]
    assert "displayName</code>" in portal.get(mappings).text  # a default mapping
    good = portal.post(
        f"{mappings}/attribute",
        original="",
        target="name.formatted",
        source_type="Function",
        expression='Join(" ", [givenName], [surname])',
        matching="0",
        flow="Always",
    )
    assert good.status_code == 303
    assert "Join(&#34; &#34;, [givenName], [surname])" in portal.get(mappings).text
    same_precedence = portal.post(
        f"{mappings}/attribute",
        original="displayName",
        target="displayName",
        source_type="Attribute",
        expression="displayName",
        matching="1",
        flow="Always",
    )
    assert same_precedence.status_code == 400 and "precedence" in same_precedence.text
    assert portal.post(f"{mappings}/delete", target="displayName").status_code == 303
    assert "displayName</code>" not in portal.get(mappings).text
    scope = portal.post(f"{mappings}/scope", scope="department EQUALS Sales\n\njobTitle IS NOT NULL")
    assert scope.status_code == 303
    assert "department EQUALS Sales\n\njobTitle IS NOT NULL" in portal.get(mappings).text
    bad_scope = portal.post(f"{mappings}/scope", scope="department LOOKS LIKE Sales")
    assert bad_scope.status_code == 400 and "scope" in alerts(bad_scope.text)
    live = portal.get("/admin/provisioning/validate-expression?expression=" + "ToUpper(%5Bmail%5D")
    assert live.json()["ok"] is False and live.json()["position"] is not None and "^" in live.json()["caret"]
    assert portal.get("/admin/provisioning/validate-expression?expression=ToUpper(%5Bmail%5D)").json()["ok"]
    assert portal.post(f"{app}/provisioning/reset-mappings").status_code == 303
    assert "department EQUALS" not in portal.get(mappings).text


def test_quarantine_banner_and_allow_deletes(
    web2: TestClient, loopback_app: FastAPI, tenant: TenantHandle, target: Target
) -> None:
    """The deletion threshold (set on the screen) stops a cycle; the banner explains it and Allow deletes lets
    the held deletes through."""
    portal = Portal(web2, tenant)
    app = portal.new_app()
    sp_id = app.rsplit("/", 1)[1]
    assert portal.post(f"{app}/provisioning/create").status_code == 303
    saved = portal.post(
        f"{app}/provisioning/credentials",
        action="save",
        tenant_url=target.base_url,
        secret_token=target.token,
        prevent_deletes="on",
        delete_threshold="2",
    )
    assert saved.status_code == 303
    service = loopback_app.state.runtime.provisioning
    job_id = service.list_jobs(tenant.id, sp_id)[0]["id"]

    def settle() -> None:
        for _ in range(50):
            if not service.engine.step(job_id):
                return
        raise AssertionError("the engine never settled")

    role = tenant.get(f"/servicePrincipals/{sp_id}").json()["appRoles"][0]["id"]
    assignments = []
    for _ in range(3):
        user = tenant.new_user()
        body = {"principalId": user["id"], "resourceId": sp_id, "appRoleId": role}
        assignments.append(tenant.post(f"/servicePrincipals/{sp_id}/appRoleAssignedTo", json=body).json()["id"])
    assert portal.post(f"{app}/provisioning/start").status_code == 303
    settle()
    assert len(target.users()) == 3
    for assignment in assignments:
        assert tenant.delete(f"/servicePrincipals/{sp_id}/appRoleAssignedTo/{assignment}").status_code == 204
    settle()
    page = portal.get(f"{app}/provisioning").text
    assert 'id="quarantine"' in page and "accidental-deletion threshold" in page and "Allow deletes" in page
    assert all(u["active"] for u in target.users())
    held = portal.get("/admin/provisioning/logs?action=stagedDelete").text
    assert len(re.findall(r"/admin/provisioning/logs/\d+", held)) == 3
    assert portal.post(f"{app}/provisioning/allow-deletes").status_code == 303
    settle()
    assert not any(u["active"] for u in target.users())
    after = portal.get(f"{app}/provisioning").text
    assert 'id="quarantine"' not in after and 'id="prov-code">On<' in after


def test_the_editor_offers_the_targets_attributes(web2: TestClient, tenant: TenantHandle, target: Target) -> None:
    portal = Portal(web2, tenant)
    app = portal.new_app()
    assert portal.post(f"{app}/provisioning/create").status_code == 303
    mappings = f"{app}/provisioning/mappings/user"
    # Not configured yet: the refresh says why, and the editor offers Hospes's list in a datalist.
    unconfigured = portal.post(f"{mappings}/discover")
    assert unconfigured.status_code == 400 and "Set the tenant URL and secret token first." in unconfigured.text
    fallback = portal.get(f"{mappings}?edit=").text
    assert 'list="target-attributes"' in fallback and '<option value="userName">' in fallback
    assert '<option value="nickName">' not in fallback
    saved = portal.post(
        f"{app}/provisioning/credentials", action="save", tenant_url=target.base_url, secret_token=target.token
    )
    assert saved.status_code == 303
    assert web2.post(f"/{tenant.domain}{mappings}/discover", data={"csrf": "forged"}).status_code == 403
    refreshed = portal.post(f"{mappings}/discover")
    assert refreshed.status_code == 303 and refreshed.headers["location"].endswith("?done=discovered")
    page = portal.web.get(refreshed.headers["location"]).text
    assert "The target&#39;s attributes were read from its schema." in page
    assert re.search(r"\d+ attributes read from the target's schema\.", page)
    editor = portal.get(f"{mappings}?edit=").text
    assert '<select id="f-target" name="target"' in editor and '<option value="nickName">nickName</option>' in editor
    assert '<option value="emails[type eq &#34;home&#34;].value">' in editor  # escaped like every value
    # An existing mapping whose attribute the target does not describe stays editable.
    custom = portal.post(
        f"{mappings}/attribute",
        original="",
        target="urn:example:custom:1.0:User:badge",
        source_type="Constant",
        expression="x",
        matching="0",
        flow="Always",
    )
    assert custom.status_code == 303
    kept = portal.get(f"{mappings}?edit=urn:example:custom:1.0:User:badge").text
    assert "urn:example:custom:1.0:User:badge (not in the target's schema)" in kept
    chosen = portal.post(
        f"{mappings}/attribute",
        original="",
        target="nickName",
        source_type="Attribute",
        expression="mailNickname",
        matching="0",
        flow="Always",
    )
    assert chosen.status_code == 303 and "nickName</code>" in portal.get(mappings).text
    groups = portal.get(f"{app}/provisioning/mappings/group?edit=").text
    assert '<option value="members">members</option>' in groups
