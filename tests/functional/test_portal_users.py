"""The Users screen beyond the basics: editing properties (every problem under its field, in plain words, nothing
saved), converting a guest to a member and back, sponsors with a picker, sorting, "Download users" with Entra's
columns, the multi-select (delete, restore, delete permanently, each through a confirmation page), last sign-in,
and what became of each invitation email."""

from __future__ import annotations

import csv
import html
import io
import re
from typing import Any
from urllib.parse import urlencode

from fastapi.testclient import TestClient
from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from hospes.domain.principals import GLOBAL_ADMINISTRATOR, USER_ADMINISTRATOR
from hospes.services.user_export import COLUMNS
from hospes.storage.tables import OutboxMessage
from tests.helpers.portal import alerts, csrf_of, sign_in, sign_in_as_admin
from tests.helpers.tenants import TenantHandle


def _post(web: TestClient, tenant: TenantHandle, path: str, data: dict[str, Any] | list[tuple[str, str]]) -> Any:
    token = csrf_of(web.get(f"/{tenant.domain}/admin").text)
    pairs = list(data.items()) if isinstance(data, dict) else list(data)
    body = urlencode([("csrf", token), *pairs])  # repeated fields (the multi-select's ids) in order
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    return web.post(f"/{tenant.domain}{path}", content=body, headers=headers)


def _grant(tenant: TenantHandle, role: str, user_id: str) -> None:
    body = {"@odata.id": f"https://graph.microsoft.com/v1.0/directoryObjects/{user_id}"}
    assert tenant.post(f"/directoryRoles/{role}/members/$ref", json=body).status_code == 204


def _guest(tenant: TenantHandle, email: str, send: bool = False) -> dict[str, Any]:
    body = {"invitedUserEmailAddress": email, "inviteRedirectUrl": "https://a.example", "sendInvitationMessage": send}
    response = tenant.post("/invitations", json=body)
    assert response.status_code == 201, response.text
    return dict(response.json()["invitedUser"])


def _user(tenant: TenantHandle, user_id: str) -> dict[str, Any]:
    select = "displayName,jobTitle,companyName,usageLocation,accountEnabled,userType,department,employeeId"
    return dict(tenant.get(f"/users/{user_id}?$select={select}").json())


# --- edit --------------------------------------------------------------------------------------------------------


def test_edit_shows_every_problem_under_its_field_and_saves_nothing(web: TestClient, tenant: TenantHandle) -> None:
    sign_in_as_admin(web, tenant)
    user = tenant.new_user("carla", jobTitle="Analyst")
    form = web.get(f"/{tenant.domain}/admin/users/{user['id']}/edit")
    assert (
        form.status_code == 200 and 'value="Analyst"' in form.text and '<option value="FR">France</option>' in form.text
    )
    data = {"display_name": "", "job_title": "x" * 129, "usage_location": "QQ", "department": "<b>Ops</b>"}
    response = _post(web, tenant, f"/admin/users/{user['id']}/edit", data)
    assert response.status_code == 400
    errors = alerts(response.text)
    assert errors == {
        "display_name": "Enter a name.",
        "job_title": "This is too long: at most 128 characters.",
        "usage_location": "Choose a country or region from the list.",
    }
    assert "Nothing was saved" in response.text
    assert "&lt;b&gt;Ops&lt;/b&gt;" in response.text  # kept, escaped
    for internal in ("jobTitle", "usageLocation", "displayName", "Invalid value"):
        assert internal not in response.text
    assert _user(tenant, user["id"])["jobTitle"] == "Analyst"


def test_edit_saves_the_properties(web: TestClient, tenant: TenantHandle) -> None:
    sign_in_as_admin(web, tenant)
    user = tenant.new_user("dario")
    data = {
        "display_name": "Dario Rossi",
        "job_title": "Buyer",
        "department": "Purchasing",
        "company_name": "Fabrikam",
        "employee_id": "E-42",
        "usage_location": "it",
        "account_enabled": "on",
    }
    response = _post(web, tenant, f"/admin/users/{user['id']}/edit", data)
    assert response.status_code == 303, response.text
    assert response.headers["location"].endswith(f"/admin/users/{user['id']}?done=saved")
    saved = _user(tenant, user["id"])
    assert saved["displayName"] == "Dario Rossi" and saved["companyName"] == "Fabrikam"
    assert saved["usageLocation"] == "IT" and saved["employeeId"] == "E-42" and saved["accountEnabled"] is True
    page = web.get(f"/{tenant.domain}/admin/users/{user['id']}?done=saved").text
    assert "The changes were saved." in page and '<dd id="usage-location">Italy</dd>' in page
    # Unticking "Account enabled" blocks sign-in; emptied fields are cleared.
    data.update({"account_enabled": "", "job_title": ""})
    assert _post(web, tenant, f"/admin/users/{user['id']}/edit", data).status_code == 303
    saved = _user(tenant, user["id"])
    assert saved["accountEnabled"] is False and saved["jobTitle"] is None


def test_nobody_blocks_themselves_and_a_user_admin_cannot_edit_a_global_admin(
    web: TestClient, tenant: TenantHandle
) -> None:
    sign_in_as_admin(web, tenant)
    me = tenant.get(f"/users/{tenant.boot.admin_user_principal_name}").json()
    response = _post(web, tenant, f"/admin/users/{me['id']}/edit", {"display_name": "Me"})
    assert response.status_code == 400
    assert alerts(response.text) == {"account_enabled": "You can&#39;t block your own sign-in."}
    ua = tenant.new_user("ua")
    _grant(tenant, USER_ADMINISTRATOR, ua["id"])
    web.cookies.clear()
    assert sign_in(web, tenant.domain, ua["userPrincipalName"]).status_code == 303
    assert web.get(f"/{tenant.domain}/admin/users/{me['id']}/edit").status_code == 403
    refused = _post(web, tenant, f"/admin/users/{me['id']}/edit", {"display_name": "Hacked", "account_enabled": "on"})
    assert refused.status_code == 403
    assert tenant.get(f"/users/{me['id']}").json()["displayName"] != "Hacked"


# --- convert, sponsors -------------------------------------------------------------------------------------------


def test_convert_a_guest_to_a_member_and_back_after_confirming(web: TestClient, tenant: TenantHandle) -> None:
    sign_in_as_admin(web, tenant)
    guest = _guest(tenant, "convert@partner.example")
    path = f"/admin/users/{guest['id']}/convert"
    unconfirmed = _post(web, tenant, path, {})
    assert unconfirmed.status_code == 303 and unconfirmed.headers["location"].endswith(path)
    assert _user(tenant, guest["id"])["userType"] == "Guest"
    page = web.get(f"/{tenant.domain}{path}").text
    assert "Convert this guest to a member?" in page and 'name="confirm" value="yes"' in page
    assert _post(web, tenant, path, {"confirm": "yes"}).status_code == 303
    assert _user(tenant, guest["id"])["userType"] == "Member"
    assert "Convert this member to a guest?" in web.get(f"/{tenant.domain}{path}").text
    assert _post(web, tenant, path, {"confirm": "yes"}).headers["location"].endswith("done=to-guest")
    assert _user(tenant, guest["id"])["userType"] == "Guest"
    audit = tenant.get("/auditLogs/directoryAudits", params={"$filter": "activityDisplayName eq 'Update user'"})
    assert any(e["targetResources"][0]["id"] == guest["id"] for e in audit.json()["value"])


def test_sponsors_are_added_by_name_and_removed(web: TestClient, tenant: TenantHandle) -> None:
    sign_in_as_admin(web, tenant)
    guest = _guest(tenant, "sponsored@partner.example")
    tenant.new_user("marta", displayName="Marta Bianchi")
    tenant.new_user("marco", displayName="Marco Bianchi")
    tenant.new_group("Procurement team")
    picked = web.get(f"/{tenant.domain}/admin/pick", params={"kind": "principals", "q": "bianchi"}).json()
    assert sorted(r["name"] for r in picked["results"]) == ["Marco Bianchi", "Marta Bianchi"]
    assert {r["value"] for r in picked["results"]} == {f"marta@{tenant.domain}", f"marco@{tenant.domain}"}
    path = f"/admin/users/{guest['id']}/sponsors/add"
    several = _post(web, tenant, path, {"sponsor": "Bianchi"})
    assert several.status_code == 400
    assert alerts(several.text)["sponsor"].startswith("Several match")
    assert _post(web, tenant, path, {"sponsor": "Marta"}).status_code == 303  # the only "Marta"
    assert _post(web, tenant, path, {"sponsor": "procurement TEAM"}).status_code == 303
    again = _post(web, tenant, path, {"sponsor": f"marta@{tenant.domain}"})
    assert alerts(again.text) == {"sponsor": "This sponsor is already there."}
    nobody = _post(web, tenant, path, {"sponsor": "zzz"})
    assert alerts(nobody.text) == {"sponsor": "No user or group matches “zzz”."}
    names = sorted(s.get("displayName") for s in tenant.get(f"/users/{guest['id']}/sponsors").json()["value"])
    assert names == ["Marta Bianchi", "Procurement team"]
    page = web.get(f"/{tenant.domain}/admin/users/{guest['id']}").text
    marta = re.search(r'/sponsors/([0-9a-f-]+)/remove"[^>]*>.*?Marta', page, re.S)
    assert marta and "Marta Bianchi" in page
    assert _post(web, tenant, f"/admin/users/{guest['id']}/sponsors/{marta.group(1)}/remove", {}).status_code == 303
    names = [s.get("displayName") for s in tenant.get(f"/users/{guest['id']}/sponsors").json()["value"]]
    assert names == ["Procurement team"]
    audit = tenant.get("/auditLogs/directoryAudits", params={"$filter": "activityDisplayName eq 'Update user'"})
    props = [e["targetResources"][0]["modifiedProperties"] for e in audit.json()["value"]]
    assert [{"displayName": "sponsors", "oldValue": '["Marta Bianchi"]', "newValue": "[null]"}] in props


def test_a_group_owner_picks_guests_only(web: TestClient, tenant: TenantHandle) -> None:
    owner = tenant.new_user("owner")
    tenant.new_group("Owned", **{"owners@odata.bind": [f"https://graph.microsoft.com/v1.0/users/{owner['id']}"]})
    tenant.new_user("alfa", displayName="Alfa Member")
    _guest(tenant, "alfa.guest@partner.example")
    assert sign_in(web, tenant.domain, owner["userPrincipalName"]).status_code == 303
    found = web.get(f"/{tenant.domain}/admin/pick", params={"kind": "principals", "q": "alfa"}).json()["results"]
    assert [r["kind"] for r in found] == ["user"] and "partner.example" in found[0]["value"]
    web.cookies.clear()
    member = tenant.new_user("plain")
    assert sign_in(web, tenant.domain, member["userPrincipalName"]).status_code == 303
    assert web.get(f"/{tenant.domain}/admin/pick", params={"q": "alfa"}).status_code == 403


# --- list: sort, last sign-in, download ----------------------------------------------------------------------------


def test_sort_by_column_and_last_sign_in(web: TestClient, tenant: TenantHandle) -> None:
    for nick in ("bea", "abe", "cid"):
        tenant.new_user(nick, displayName=f"{nick.title()} Sortable")
    signer = tenant.new_user("dan", displayName="Dan Sortable")
    assert sign_in(web, tenant.domain, signer["userPrincipalName"]).status_code == 303
    web.cookies.clear()
    sign_in_as_admin(web, tenant)

    def names(**params: str) -> list[str]:
        page = web.get(f"/{tenant.domain}/admin/users", params={"q": "Sortable", **params}).text
        return re.findall(r'/admin/users/[0-9a-f-]+">([^<]+) Sortable<', page)

    assert names() == ["Abe", "Bea", "Cid", "Dan"]
    assert names(sort="name", dir="desc") == ["Dan", "Cid", "Bea", "Abe"]
    assert names(sort="upn", dir="asc") == ["Abe", "Bea", "Cid", "Dan"]
    assert names(sort="signin", dir="desc")[0] == "Dan"
    assert names(sort="signin", dir="asc")[0] == "Dan"  # never signed in: last, whichever the direction
    page = web.get(f"/{tenant.domain}/admin/users", params={"q": "Sortable", "sort": "name"}).text
    assert 'aria-sort="ascending"' in page and "sort=name&amp;dir=desc" in page
    assert page.count(">Never<") == 3
    detail = web.get(f"/{tenant.domain}/admin/users/{signer['id']}").text
    last = re.search(r'<dd id="last-sign-in">([^<]+)<', detail)
    assert last and last.group(1) != "Never" and re.search(r"\d", last.group(1))
    assert names(sort="nonsense") == ["Abe", "Bea", "Cid", "Dan"]  # an unknown column falls back to the name


def test_download_users_has_entras_columns_and_follows_the_filter(web: TestClient, tenant: TenantHandle) -> None:
    sign_in_as_admin(web, tenant)
    tenant.new_user("eve", displayName="=HYPERLINK(1) Export", jobTitle="Lead", usageLocation="DE")
    tenant.new_user("fay", displayName="Fay Export")
    guest = _guest(tenant, "export.guest@partner.example")
    response = web.get(f"/{tenant.domain}/admin/users/download.csv", params={"q": "export"})
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    text = response.content.decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert tuple(csv.reader(io.StringIO(text)).__next__()) == COLUMNS
    by_upn = {r["userPrincipalName"]: r for r in rows}
    assert len(rows) == 3
    eve = by_upn[f"eve@{tenant.domain}"]
    assert eve["displayName"] == "'=HYPERLINK(1) Export"  # never a formula in a spreadsheet
    assert eve["jobTitle"] == "Lead" and eve["usageLocation"] == "DE" and eve["accountEnabled"] == "True"
    guest_row = next(r for r in rows if r["objectId"] == guest["id"])
    assert guest_row["userType"] == "Guest" and guest_row["invitationState"] == "PendingAcceptance"
    assert guest_row["creationType"] == "Invitation"
    only_guests = web.get(f"/{tenant.domain}/admin/users/download.csv", params={"q": "export", "filter": "guests"})
    assert len(list(csv.DictReader(io.StringIO(only_guests.content.decode("utf-8-sig"))))) == 1


# --- multi-select ------------------------------------------------------------------------------------------------


def test_bulk_delete_restore_and_purge_through_confirmation(web: TestClient, tenant: TenantHandle) -> None:
    sign_in_as_admin(web, tenant)
    a, b, c = (tenant.new_user(n) for n in ("gia", "hal", "ivo"))
    chosen = [("action", "delete"), ("ids", a["id"]), ("ids", b["id"])]
    confirm = _post(web, tenant, "/admin/users/selected", chosen)
    assert confirm.status_code == 200 and "Delete these users?" in confirm.text
    assert "Gia" in confirm.text and "Hal" in confirm.text and "Ivo" not in confirm.text
    assert tenant.get(f"/users/{a['id']}").status_code == 200  # nothing deleted yet
    done = _post(web, tenant, "/admin/users/selected", [*chosen, ("confirm", "yes")])
    assert done.status_code == 303 and "done=deleted" in done.headers["location"]
    assert "Deleted: 2." in web.get(done.headers["location"]).text
    assert tenant.get(f"/users/{a['id']}").status_code == 404 and tenant.get(f"/users/{c['id']}").status_code == 200
    audit = tenant.get("/auditLogs/directoryAudits", params={"$filter": "activityDisplayName eq 'Delete user'"})
    targets = {e["targetResources"][0]["id"] for e in audit.json()["value"]}
    assert {a["id"], b["id"]} <= targets
    deleted = web.get(f"/{tenant.domain}/admin/users", params={"filter": "deleted"}).text
    assert 'id="restore-selected"' in deleted and 'id="purge-selected"' in deleted
    restore = [("action", "restore"), ("ids", a["id"]), ("confirm", "yes")]
    assert _post(web, tenant, "/admin/users/selected", restore).status_code == 303
    assert tenant.get(f"/users/{a['id']}").status_code == 200
    purge = [("action", "purge"), ("ids", b["id"])]
    assert "Delete these users permanently?" in _post(web, tenant, "/admin/users/selected", purge).text
    assert _post(web, tenant, "/admin/users/selected", [*purge, ("confirm", "yes")]).status_code == 303
    assert tenant.get(f"/directory/deletedItems/{b['id']}").status_code == 404
    # A live user cannot be purged; nobody is purged without the confirmation.
    assert _post(web, tenant, "/admin/users/selected", [("action", "purge"), ("ids", c["id"])]).status_code == 400


def test_bulk_delete_refuses_yourself_and_global_admins_for_a_user_admin(web: TestClient, tenant: TenantHandle) -> None:
    sign_in_as_admin(web, tenant)
    me = tenant.get(f"/users/{tenant.boot.admin_user_principal_name}").json()
    other = tenant.new_user("jon")
    mine = [("action", "delete"), ("ids", me["id"]), ("ids", other["id"]), ("confirm", "yes")]
    refused = _post(web, tenant, "/admin/users/selected", mine)
    assert refused.status_code == 400 and "You can&#39;t delete your own account here" in refused.text
    assert tenant.get(f"/users/{other['id']}").status_code == 200  # all or none
    ua = tenant.new_user("uadm")
    _grant(tenant, USER_ADMINISTRATOR, ua["id"])
    ga = tenant.new_user("gadm")
    _grant(tenant, GLOBAL_ADMINISTRATOR, ga["id"])
    web.cookies.clear()
    assert sign_in(web, tenant.domain, ua["userPrincipalName"]).status_code == 303
    theirs = [("action", "delete"), ("ids", ga["id"]), ("confirm", "yes")]
    assert _post(web, tenant, "/admin/users/selected", theirs).status_code == 400
    assert tenant.get(f"/users/{ga['id']}").status_code == 200


def test_permanent_delete_of_one_deleted_user(web: TestClient, tenant: TenantHandle) -> None:
    sign_in_as_admin(web, tenant)
    user = tenant.new_user("kim")
    assert web.get(f"/{tenant.domain}/admin/users/{user['id']}/purge").status_code == 404  # not deleted yet
    assert tenant.delete(f"/users/{user['id']}").status_code == 204
    page = web.get(f"/{tenant.domain}/admin/users/{user['id']}").text
    assert 'id="purge"' in page
    assert _post(web, tenant, f"/admin/users/{user['id']}/purge", {}).status_code == 303  # to the confirmation
    assert tenant.get(f"/directory/deletedItems/{user['id']}").status_code == 200
    done = _post(web, tenant, f"/admin/users/{user['id']}/purge", {"confirm": "yes"})
    assert done.status_code == 303 and "filter=deleted" in done.headers["location"]
    assert tenant.get(f"/directory/deletedItems/{user['id']}").status_code == 404


# --- invitation delivery -------------------------------------------------------------------------------------------


def test_invitation_history_shows_the_emails_real_delivery_state(
    web: TestClient, tenant: TenantHandle, sessions: sessionmaker[Session]
) -> None:
    sign_in_as_admin(web, tenant)
    guest = _guest(tenant, "delivery@partner.example", send=True)
    page = web.get(f"/{tenant.domain}/admin/users/{guest['id']}").text
    history = page[page.index('id="invitation-history"') :]
    assert "Queued" in history and "Pending acceptance" in history and "PendingAcceptance" not in history
    with sessions.begin() as s:
        s.execute(
            update(OutboxMessage)
            .where(OutboxMessage.tenant_id == tenant.id, OutboxMessage.recipients.isnot(None))
            .where(OutboxMessage.kind == "invitation")
            .values(status="failed", attempts=5, last_error="550 5.1.1 <delivery@partner.example>: no such user")
        )
    page = web.get(f"/{tenant.domain}/admin/users/{guest['id']}").text
    history = page[page.index('id="invitation-history"') :]
    assert "Failed" in history and "550 5.1.1 &lt;delivery@partner.example&gt;: no such user" in history
    with sessions.begin() as s:
        s.execute(
            update(OutboxMessage)
            .where(OutboxMessage.tenant_id == tenant.id, OutboxMessage.kind == "invitation")
            .values(status="sent", last_error=None, sent_at=OutboxMessage.created_at)
        )
    history = web.get(f"/{tenant.domain}/admin/users/{guest['id']}").text
    assert "Delivered" in history[history.index('id="invitation-history"') :]
    quiet = _guest(tenant, "quiet@partner.example", send=False)
    assert "No email requested" in web.get(f"/{tenant.domain}/admin/users/{quiet['id']}").text


# --- directory roles -----------------------------------------------------------------------------------------------


def test_a_global_admin_assigns_and_removes_directory_roles(web: TestClient, tenant: TenantHandle) -> None:
    sign_in_as_admin(web, tenant)
    user = tenant.new_user("lia")
    page = web.get(f"/{tenant.domain}/admin/users/{user['id']}").text
    assert "No directory roles." in page and '<option value="95e79109-95c0-4d8e-aee3-d01accf2d47b">' in page
    add = f"/admin/users/{user['id']}/roles/add"
    assert _post(web, tenant, add, {"role": "95e79109-95c0-4d8e-aee3-d01accf2d47b"}).status_code == 303
    members = tenant.get("/directoryRoles/95e79109-95c0-4d8e-aee3-d01accf2d47b/members").json()["value"]
    assert user["id"] in [m["id"] for m in members]
    page = web.get(f"/{tenant.domain}/admin/users/{user['id']}?done=role-added").text
    assert "Guest Inviter" in page[page.index('id="role-list"') :] and "The role was assigned." in page
    assert alerts(_post(web, tenant, add, {"role": "not-a-role"}).text) == {"role": "Choose a role from the list."}
    # The user is a Guest Inviter at their next click.
    other = TestClient(web.app, follow_redirects=False)
    assert sign_in(other, tenant.domain, user["userPrincipalName"]).status_code == 303
    assert other.get(f"/{tenant.domain}/admin/users/invite").status_code == 200
    remove = f"/admin/users/{user['id']}/roles/95e79109-95c0-4d8e-aee3-d01accf2d47b/remove"
    assert _post(web, tenant, remove, {}).status_code == 303
    assert other.get(f"/{tenant.domain}/admin/users/invite").status_code == 403
    audit = tenant.get("/auditLogs/directoryAudits", params={"$filter": "category eq 'RoleManagement'"}).json()
    assert {"Add member to role", "Remove member from role"} <= {a["activityDisplayName"] for a in audit["value"]}


def test_roles_need_a_global_admin_and_nobody_drops_their_own(web: TestClient, tenant: TenantHandle) -> None:
    sign_in_as_admin(web, tenant)
    me = tenant.get(f"/users/{tenant.boot.admin_user_principal_name}").json()
    own = _post(web, tenant, f"/admin/users/{me['id']}/roles/{GLOBAL_ADMINISTRATOR}/remove", {})
    assert own.status_code == 400 and alerts(own.text) == {
        "role": "You can&#39;t remove your own Global Administrator role."
    }
    ua = tenant.new_user("uarole")
    _grant(tenant, USER_ADMINISTRATOR, ua["id"])
    target = tenant.new_user("target")
    web.cookies.clear()
    assert sign_in(web, tenant.domain, ua["userPrincipalName"]).status_code == 303
    page = web.get(f"/{tenant.domain}/admin/users/{target['id']}").text
    assert 'id="assign-role"' not in page
    refused = _post(web, tenant, f"/admin/users/{target['id']}/roles/add", {"role": GLOBAL_ADMINISTRATOR})
    assert refused.status_code == 403
    assert tenant.get(f"/directoryRoles/{GLOBAL_ADMINISTRATOR}/members").json()["value"][0]["id"] != target["id"]
    fr = web.get(f"/{tenant.domain}/admin", params={"lang": "fr"}).text
    assert "Administrateur d’utilisateurs" in html.unescape(fr)


def test_column_choice_is_kept_while_sorting_and_paging(web: TestClient, tenant: TenantHandle) -> None:
    sign_in_as_admin(web, tenant)
    tenant.new_user("tom", displayName="Tom Columns", jobTitle="Welder", department="Works", usageLocation="NL")
    default = web.get(f"/{tenant.domain}/admin/users", params={"q": "Columns"}).text
    headers = re.findall(r'<th scope="col"[^>]*>(?:<a [^>]*>)?([^<]+)<', default)
    assert [h.strip() for h in headers] == ["Name", "Sign-in name", "Type", "State", "Last sign-in", "Created"]
    chosen = web.get(
        f"/{tenant.domain}/admin/users",
        params=[("q", "Columns"), ("cols", "job"), ("cols", "location"), ("cols", "bogus")],
    ).text
    headers = [h.strip() for h in re.findall(r'<th scope="col"[^>]*>(?:<a [^>]*>)?([^<]+)<', chosen)]
    assert headers == ["Name", "Sign-in name", "Job title", "Usage location"]
    assert ">Welder<" in chosen and ">Netherlands<" in chosen and "Last sign-in" not in headers
    assert "cols=job%2Clocation" in chosen  # in the sort links, so sorting keeps the choice
    assert 'name="cols" value="job,location"' in chosen  # and in the search form
