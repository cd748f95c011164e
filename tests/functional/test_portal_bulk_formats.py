"""Bulk invite reads the files people actually have: the Entra portal's template as it downloads it (version line,
bracketed column names), Excel's semicolon-separated CSV (French, German), UTF-8 with or without BOM, UTF-16 with
BOM and Latin-1; the page says what it found, and after an error the form keeps what was entered."""

from __future__ import annotations

import csv
import io
import re
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.helpers.portal import alerts, csrf_of, sign_in_as_admin
from tests.helpers.tenants import TenantHandle

ENTRA_HEADER = (
    "Email address to invite [inviteeEmail] Required,Redirection url [inviteRedirectURL] Required,"
    "Send invitation message (true or false) [sendEmail],Customized invitation message [customizedMessageBody]"
)


def _run_bulk_jobs(web: TestClient) -> None:
    from hospes.auth.crypto import secret_box
    from hospes.services.invitations.jobs_worker import BulkJobWorker

    state = web.app.state.runtime  # type: ignore[attr-defined]
    box = secret_box(state.settings.secret_key, state.settings.data_dir)
    worker = BulkJobWorker(state.database, state.settings, box, state.keys.seal)
    while worker.work_once() is not None:
        pass


def _upload(web: TestClient, tenant: TenantHandle, data: bytes, **form: str) -> Any:
    token = csrf_of(web.get(f"/{tenant.domain}/admin/users/bulk").text)
    fields = {"csrf": token, "redirect_url": "https://a.example", "send": "on", **form}
    if not fields["send"]:
        del fields["send"]
    return web.post(f"/{tenant.domain}/admin/users/bulk", data=fields, files={"file": ("guests.csv", data, "text/csv")})


def _results(web: TestClient, job: str) -> list[dict[str, str]]:
    _run_bulk_jobs(web)
    page = web.get(job).text
    assert 'data-finished="true"' in page, page
    body = web.get(f"{job.split('?', 1)[0]}/results.csv").text
    return list(csv.DictReader(io.StringIO(body)))


def test_the_entra_template_downloads_and_imports_as_is(web: TestClient, tenant: TenantHandle) -> None:
    _run_bulk_jobs(web)
    sign_in_as_admin(web, tenant)
    form = web.get(f"/{tenant.domain}/admin/users/bulk").text
    assert f'href="/{tenant.domain}/admin/users/bulk/template.csv"' in form
    template = web.get(f"/{tenant.domain}/admin/users/bulk/template.csv")
    assert template.status_code == 200 and "attachment" in template.headers["content-disposition"]
    assert template.text.splitlines() == ["version:v1.0", ENTRA_HEADER]
    filled = (
        template.text
        + "Example: someone@example.com,https://myapps.example,TRUE,Hello\r\n"
        + "sent@partner.example,https://welcome.example,TRUE,Hello there\r\n"
        + "quiet@partner.example,,false,\r\n"
    )
    sent = _upload(web, tenant, filled.encode())
    assert sent.status_code == 303, alerts(sent.text)
    page = web.get(sent.headers["location"]).text
    assert "Read as UTF-8, columns separated by commas. This is the Entra bulk-invite template." in page
    results = {r["email"]: r for r in _results(web, sent.headers["location"])}
    assert set(results) == {"sent@partner.example", "quiet@partner.example"}  # the example row is not invited
    assert all(r["result"] == "ok" for r in results.values())
    assert results["sent@partner.example"]["inviteRedeemUrl"] == ""  # emailed, so not kept
    assert "/redeem?" in results["quiet@partner.example"]["inviteRedeemUrl"]  # sendEmail false: link kept


def test_excel_semicolons_with_a_utf8_bom(web: TestClient, tenant: TenantHandle) -> None:
    _run_bulk_jobs(web)
    sign_in_as_admin(web, tenant)
    excel = (
        "version:v1.0;;;\r\n"
        + ENTRA_HEADER.replace(",", ";")
        + "\r\nchloe@partenaire.example;https://a.example;FAUX;Bonjour, à bientôt\r\n;;;\r\n"
    )
    sent = _upload(web, tenant, b"\xef\xbb\xbf" + excel.encode("utf-8"))
    assert sent.status_code == 303, alerts(sent.text)
    assert "Read as UTF-8 (BOM), columns separated by semicolons." in web.get(sent.headers["location"]).text
    results = _results(web, sent.headers["location"])
    assert [(r["email"], r["result"]) for r in results] == [("chloe@partenaire.example", "ok")]
    assert "/redeem?" in results[0]["inviteRedeemUrl"]  # FAUX (French Excel's FALSE): no email


@pytest.mark.parametrize(
    ("encoding", "data", "found"),
    [
        ("utf-16", "email;display name\r\nzoe@x.example;Zoë Müller\r\n".encode("utf-16"), "UTF-16 (BOM)"),
        ("latin-1", "email,display name\nzoe@x.example,Zoë Müller\n".encode("latin-1"), "Latin-1"),
        ("utf-8", "email\tdisplay name\nzoe@x.example\tZoë Müller\n".encode(), "UTF-8"),
    ],
    ids=["utf-16-semicolons", "latin-1", "utf-8-tabs"],
)
def test_encodings_are_read_and_named(
    web: TestClient, tenant: TenantHandle, encoding: str, data: bytes, found: str
) -> None:
    _run_bulk_jobs(web)
    sign_in_as_admin(web, tenant)
    sent = _upload(web, tenant, data)
    assert sent.status_code == 303, alerts(sent.text)
    assert f"Read as {found}, columns separated by" in web.get(sent.headers["location"]).text
    assert [r["result"] for r in _results(web, sent.headers["location"])] == ["ok"]
    guest = tenant.get("/users", params={"$filter": "mail eq 'zoe@x.example'"}).json()["value"][0]
    assert guest["displayName"] == "Zoë Müller", encoding


def test_errors_say_what_was_found_and_keep_the_form(web: TestClient, tenant: TenantHandle) -> None:
    sign_in_as_admin(web, tenant)
    kept = {"redirect_url": "https://kept.example/start", "send": ""}
    workbook = _upload(web, tenant, b"PK\x03\x04" + b"\x00" * 64, **kept)
    assert workbook.status_code == 400 and "Excel workbook" in alerts(workbook.text)["file"]
    no_email = _upload(web, tenant, "name;job\r\nAnn;Dev\r\n".encode("utf-16"), **kept)
    message = alerts(no_email.text)["file"]
    assert no_email.status_code == 400 and "No email column" in message
    assert "Read as UTF-16 (BOM), columns separated by semicolons." in message
    for page in (workbook.text, no_email.text):
        assert 'value="https://kept.example/start"' in page
        assert re.search(r'id="f-send" name="send"\s*>', page)  # left unchecked, as sent


def test_the_upload_adds_guests_to_the_chosen_group_and_app(web: TestClient, tenant: TenantHandle) -> None:
    _run_bulk_jobs(web)
    sign_in_as_admin(web, tenant)
    group = tenant.new_group("Upload partners")
    token = csrf_of(web.get(f"/{tenant.domain}/admin/apps/new").text)
    created = web.post(
        f"/{tenant.domain}/admin/apps/new", data={"csrf": token, "name": "Upload wiki", "roles": "Reader"}
    )
    assert created.status_code == 303
    form = web.get(f"/{tenant.domain}/admin/users/bulk").text
    assert f'name="groups" value="{group["id"]}"' in form
    role_key = re.search(r'name="apps" value="([^"]+)"', form)
    assert role_key is not None
    data = b"email,display name\r\nann@partner.example,Ann\r\nbob@partner.example,Bob\r\n"
    # Something not offered (another tenant's group, a made-up role) is refused, and the choices are kept.
    refused = _upload(web, tenant, data, groups="0" * 32, apps=role_key.group(1))
    assert refused.status_code == 400 and "You can&#39;t add guests to one of the chosen groups." in refused.text
    assert f'value="{role_key.group(1)}" checked' in refused.text
    sent = web.post(
        f"/{tenant.domain}/admin/users/bulk",
        data={
            "csrf": csrf_of(form),
            "redirect_url": "https://a.example",
            "groups": group["id"],
            "apps": role_key.group(1),
        },
        files={"file": ("guests.csv", data, "text/csv")},
    )
    assert sent.status_code == 303, alerts(sent.text)
    progress = web.get(sent.headers["location"]).text
    assert "Each invited guest is added to the groups (1) and application roles (1) chosen with the upload." in progress
    assert [r["result"] for r in _results(web, sent.headers["location"])] == ["ok", "ok"]
    members = tenant.get(f"/groups/{group['id']}/members").json()["value"]
    assert sorted(m["mail"] for m in members) == ["ann@partner.example", "bob@partner.example"]
    sp_id, role_id = role_key.group(1).split(":")
    assigned = tenant.get(f"/servicePrincipals/{sp_id}/appRoleAssignedTo").json()["value"]
    assert sorted((a["principalDisplayName"], a["appRoleId"]) for a in assigned) == [("Ann", role_id), ("Bob", role_id)]
