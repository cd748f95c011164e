"""The admin portal end to end in headless Chromium against a real server process with a real SMTP sink:
an admin invites a guest and the email arrives; a 200-row CSV bulk invite finishes with its results file; a group
owner invites a guest into their group; a Guest Inviter cannot open admin-only screens. Every screen is
screenshotted at desktop and phone width (``artifacts/browser/<test>/``)."""

from __future__ import annotations

import csv
import io
import os
import re
import signal
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from hospes.domain.principals import GUEST_INVITER, system_principal
from hospes.services.apps import AppService
from hospes.services.directory import DirectoryRoleService
from hospes.services.groups import GroupService
from hospes.services.tenants import TenantBootstrap, create_tenant
from hospes.services.users import UserService
from hospes.storage.tables import AppRoleAssignment, GroupMember, Invitation, OutboxMessage, User
from tests.helpers.live import LiveServer, run_server
from tests.helpers.mail import MailSink
from tests.helpers.scimtarget import EXT_8X8, Target, run_target
from tests.helpers.tenants import ADMIN_PASSWORD, PASSWORD

pytestmark = pytest.mark.live


@pytest.fixture(scope="module")
def mail_server() -> Iterator[MailSink]:
    sink = MailSink().start()
    yield sink
    sink.stop()


@pytest.fixture(scope="module")
def portal_server(
    database_url: str, tmp_path_factory: pytest.TempPathFactory, mail_server: MailSink
) -> Iterator[LiveServer]:
    """A server whose outbox worker delivers to the sink (run_server passes the environment through)."""
    with pytest.MonkeyPatch.context() as env:
        env.setenv("HOSPES_SMTP_HOST", "127.0.0.1")
        env.setenv("HOSPES_SMTP_PORT", str(mail_server.port))
        env.setenv("HOSPES_MAIL_POLL_INTERVAL_SECONDS", "0.2")
        env.setenv("HOSPES_OUTBOUND_ALLOW", "127.0.0.1")  # the scim2-server target runs on loopback
        env.setenv("HOSPES_PROVISIONING_POLL_SECONDS", "0.2")
        env.setenv("HOSPES_PROVISIONING_RUNNER", "true")
        env.setenv("HOSPES_BULK_WORKER", "true")
        with run_server(database_url, str(tmp_path_factory.mktemp("live-portal"))) as server:
            yield server


def _shot(page: Any, folder: Path, name: str) -> None:
    page.screenshot(path=str(folder / f"{name}.png"), full_page=True)


def _tenant(sessions: sessionmaker[Session]) -> TenantBootstrap:
    return create_tenant(sessions, "Contoso", f"contoso-{uuid.uuid4().hex[:8]}.example", admin_password=ADMIN_PASSWORD)


def _member(sessions: sessionmaker[Session], boot: TenantBootstrap, nickname: str) -> str:
    user = UserService(sessions, system_principal(boot.tenant_id)).create(
        {
            "account_enabled": True,
            "display_name": nickname.title(),
            "mail_nickname": nickname,
            "user_principal_name": f"{nickname}@{boot.domain}",
            "mail": f"{nickname}@{boot.domain}",
            "given_name": nickname.title(),
            "surname": "Rossi",
        },
        PASSWORD,
    )
    return user.id


def _first_app(sessions: sessionmaker[Session], boot: TenantBootstrap) -> str:
    from hospes.services.listing import ListQuery

    page, _ = AppService(sessions, system_principal(boot.tenant_id)).list_sps(ListQuery())
    return str(next(sp.id for sp in page.rows if sp.display_name.endswith("automation")))


def _sign_in(page: Any, base: str, upn: str, password: str) -> None:
    page.goto(f"{base}/login?next=/{base.rsplit('/', 1)[1]}/admin")
    page.get_by_label("Sign-in name").fill(upn)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{base}/admin")


def _no_horizontal_scroll(page: Any) -> None:
    assert page.evaluate("document.documentElement.scrollWidth") <= page.viewport_size["width"] + 1


def test_admin_invites_a_guest_and_the_email_arrives(
    page: Any, portal_server: LiveServer, sessions: sessionmaker[Session], mail_server: MailSink, artifacts: Path
) -> None:
    boot = _tenant(sessions)
    base = f"{portal_server.base_url}/{boot.domain}"
    group_id = (
        GroupService(sessions, system_principal(boot.tenant_id))
        .create(
            {"display_name": "Partners", "mail_nickname": "partners", "mail_enabled": False, "security_enabled": True},
            [],
            [],
        )
        .id
    )
    _sign_in(page, base, boot.admin_user_principal_name, ADMIN_PASSWORD)
    assert "Global Administrator" in page.inner_text("#my-roles")
    _shot(page, artifacts, "01-overview")

    page.get_by_role("navigation", name="Administration").get_by_role("link", name="Invite external user").click()
    page.wait_for_url(f"{base}/admin/users/invite")
    page.get_by_label("Email address").fill("not an address")
    page.get_by_role("button", name="Invite").click()
    assert page.locator("#e-email").inner_text() == "This isn't an email address."
    _shot(page, artifacts, "02-invite-error")

    address = f"ann-{uuid.uuid4().hex[:6]}@partner.example"
    page.get_by_label("Email address").fill(address)
    page.get_by_label("Display name").fill("Ann Partner")
    page.get_by_label("Personal message").fill("Welcome to the <project>!")
    page.get_by_label("Partners").check()
    assert page.get_by_label("Send the invitation email").is_checked()
    _shot(page, artifacts, "03-invite-filled")
    page.get_by_role("button", name="Invite").click()
    assert "is on its way" in page.inner_text("#invite-result")
    _shot(page, artifacts, "04-invite-sent")

    received = mail_server.wait_for_rcpt(address, timeout=20)
    assert "invited you" in str(received.message["Subject"])
    assert "Welcome to the &lt;project&gt;!" in received.part("html")
    assert f"/redeem?tenant={boot.tenant_id}" in received.part("plain")

    page.get_by_role("link", name="Open the user").click()
    assert "Pending acceptance" in page.inner_text("#external-state")
    assert "Partners" in page.inner_text("#user-groups")
    _shot(page, artifacts, "05-user-detail")
    page.goto(f"{base}/admin/groups/{group_id}")
    assert "Ann Partner" in page.inner_text("#members")

    page.goto(f"{base}/admin/outbox")
    assert address in page.inner_text("#outbox")
    _shot(page, artifacts, "06-outbox")


def _sent_so_far(sessions: sessionmaker[Session], tenant_id: str) -> tuple[int, int]:
    """Invitations and queued emails of one tenant."""
    with sessions() as s:
        invitations = s.scalar(select(func.count()).select_from(Invitation).where(Invitation.tenant_id == tenant_id))
        emails = s.scalar(select(func.count()).select_from(OutboxMessage).where(OutboxMessage.tenant_id == tenant_id))
    return int(invitations or 0), int(emails or 0)


def test_reload_after_invite_sends_nothing(
    page: Any, portal_server: LiveServer, sessions: sessionmaker[Session], artifacts: Path
) -> None:
    boot = _tenant(sessions)
    base = f"{portal_server.base_url}/{boot.domain}"
    _sign_in(page, base, boot.admin_user_principal_name, ADMIN_PASSWORD)
    page.goto(f"{base}/admin/users/invite")
    address = f"reload-{uuid.uuid4().hex[:6]}@partner.example"
    page.get_by_label("Email address").fill(address)
    page.get_by_role("button", name="Invite").click()
    page.wait_for_url(re.compile(r".*/admin/users/invite/done\?result=[\w-]+$"))
    assert "is on its way" in page.inner_text("#invite-result")
    user_page = page.get_by_role("link", name="Open the user").get_attribute("href")
    sent = _sent_so_far(sessions, boot.tenant_id)
    assert sent == (1, 1)
    page.reload()  # a plain GET: no "resend the form?" prompt, and nothing is sent
    assert "nothing was sent again" in page.inner_text("main")
    assert _sent_so_far(sessions, boot.tenant_id) == sent
    _shot(page, artifacts, "01-reloaded")

    # Resetting the redemption asks first; its result page, reloaded, sends nothing either.
    page.goto(f"{portal_server.base_url}{user_page}")
    page.get_by_role("button", name="Reset redemption status").click()
    page.wait_for_url(re.compile(r".*/admin/users/[0-9a-f-]+/reset-redemption$"))
    assert _sent_so_far(sessions, boot.tenant_id) == sent
    _shot(page, artifacts, "02-confirm-reset")
    page.get_by_role("button", name="Reset the redemption status?").click()
    page.wait_for_url(re.compile(r".*/admin/users/invite/done\?result=[\w-]+$"))
    after_reset = _sent_so_far(sessions, boot.tenant_id)
    assert after_reset == (2, 2)
    page.reload()
    assert _sent_so_far(sessions, boot.tenant_id) == after_reset


def test_bulk_invite_of_200_rows(
    page: Any, portal_server: LiveServer, sessions: sessionmaker[Session], artifacts: Path
) -> None:
    boot = _tenant(sessions)
    base = f"{portal_server.base_url}/{boot.domain}"
    _sign_in(page, base, boot.admin_user_principal_name, ADMIN_PASSWORD)
    page.goto(f"{base}/admin/users/bulk")
    _shot(page, artifacts, "01-bulk-form")
    rows = "Email address to invite,Display name\n" + "".join(
        f"bulk{i:03d}@partner-{i % 7}.example,Bulk Guest {i:03d}\n" for i in range(200)
    )
    page.get_by_label("CSV file").set_input_files(
        {"name": "guests.csv", "mimeType": "text/csv", "buffer": rows.encode()}
    )
    page.get_by_label("Send the invitation emails").uncheck()
    page.get_by_role("button", name="Upload and invite").click()
    page.wait_for_url(re.compile(r".*/admin/users/bulk/[0-9a-f]{32}\?read=utf-8&sep=comma$"))
    _shot(page, artifacts, "02-bulk-progress")
    page.wait_for_selector('#bulk-job[data-finished="true"]', timeout=120_000)
    assert "Finished: 200 invited, 0 failed, of 200 rows." in page.inner_text("#bulk-status")
    _shot(page, artifacts, "03-bulk-finished")
    with page.expect_download() as info:
        page.get_by_role("link", name="Download results (CSV)").click()
    download = info.value
    content = Path(download.path()).read_text(encoding="utf-8")
    results = list(csv.DictReader(io.StringIO(content)))
    assert len(results) == 200 and all(r["result"] == "ok" and "/redeem?" in r["inviteRedeemUrl"] for r in results)
    page.goto(f"{base}/admin/users?filter=pending")
    assert "200 users" in page.inner_text("#result-count")
    _shot(page, artifacts, "04-pending-guests")


def test_entra_template_and_an_excel_semicolon_file_import(
    page: Any, portal_server: LiveServer, sessions: sessionmaker[Session], artifacts: Path
) -> None:
    boot = _tenant(sessions)
    base = f"{portal_server.base_url}/{boot.domain}"
    _sign_in(page, base, boot.admin_user_principal_name, ADMIN_PASSWORD)
    page.goto(f"{base}/admin/users/bulk")
    with page.expect_download() as info:
        page.get_by_role("link", name="Download the template").click()
    template = Path(info.value.path()).read_bytes().decode("utf-8")
    assert template.startswith("version:v1.0\r\nEmail address to invite [inviteeEmail] Required,")
    filled = template + "entra@partner.example,https://a.example,false,Hello\r\n"
    page.get_by_label("CSV file").set_input_files(
        {"name": "UserInviteTemplate.csv", "mimeType": "text/csv", "buffer": filled.encode()}
    )
    page.get_by_role("button", name="Upload and invite").click()
    page.wait_for_selector('#bulk-job[data-finished="true"]', timeout=60_000)
    assert "This is the Entra bulk-invite template." in page.inner_text("#bulk-read-as")
    assert "Finished: 1 invited, 0 failed, of 1 rows." in page.inner_text("#bulk-status")
    _shot(page, artifacts, "01-entra-template")

    # Excel in French: "CSV (séparateur : point-virgule)" saved as UTF-8 with a BOM.
    excel = template.replace(",", ";").replace("version:v1.0", "version:v1.0;;;")
    excel += "excel@partenaire.example;https://a.example;FAUX;Bonjour à tous\r\n;;;\r\n"
    page.goto(f"{base}/admin/users/bulk")
    page.get_by_label("CSV file").set_input_files(
        {"name": "invitations.csv", "mimeType": "text/csv", "buffer": b"\xef\xbb\xbf" + excel.encode()}
    )
    page.get_by_role("button", name="Upload and invite").click()
    page.wait_for_selector('#bulk-job[data-finished="true"]', timeout=60_000)
    assert "Read as UTF-8 (BOM), columns separated by semicolons." in page.inner_text("#bulk-read-as")
    assert "Finished: 1 invited, 0 failed, of 1 rows." in page.inner_text("#bulk-status")
    _shot(page, artifacts, "02-excel-semicolons")

    # A workbook is refused with a message that says why, and the form keeps what was entered.
    page.goto(f"{base}/admin/users/bulk")
    page.get_by_label("Default redirect URL").fill("https://kept.example/start")
    page.get_by_label("Send the invitation emails").uncheck()
    page.get_by_label("CSV file").set_input_files(
        {"name": "guests.xlsx", "mimeType": "application/octet-stream", "buffer": b"PK\x03\x04" + bytes(64)}
    )
    page.get_by_role("button", name="Upload and invite").click()
    assert "Excel workbook" in page.inner_text("#e-file")
    assert page.get_by_label("Default redirect URL").input_value() == "https://kept.example/start"
    assert not page.get_by_label("Send the invitation emails").is_checked()
    _shot(page, artifacts, "03-workbook-refused")


def test_a_bulk_upload_adds_its_guests_to_a_group_and_an_app(
    page: Any, portal_server: LiveServer, sessions: sessionmaker[Session], artifacts: Path
) -> None:
    boot = _tenant(sessions)
    base = f"{portal_server.base_url}/{boot.domain}"
    system = system_principal(boot.tenant_id)
    group = GroupService(sessions, system).create(
        {"display_name": "Suppliers", "mail_nickname": "suppliers", "mail_enabled": False, "security_enabled": True},
        [],
        [],
    )
    sp = AppService(sessions, system).create_enterprise_app("Supplier portal", ["Reader"])
    _sign_in(page, base, boot.admin_user_principal_name, ADMIN_PASSWORD)
    page.goto(f"{base}/admin/users/bulk")
    page.locator("#group-choices").get_by_label("Suppliers").check()
    page.locator("#app-choices").get_by_label("Supplier portal — Reader").check()
    page.get_by_label("Send the invitation emails").uncheck()
    rows = "email,display name\r\nsue@supplier.example,Sue\r\ntom@supplier.example,Tom\r\n"
    page.get_by_label("CSV file").set_input_files(
        {"name": "suppliers.csv", "mimeType": "text/csv", "buffer": rows.encode()}
    )
    _shot(page, artifacts, "01-bulk-with-access")
    page.get_by_role("button", name="Upload and invite").click()
    page.wait_for_selector('#bulk-job[data-finished="true"]', timeout=60_000)
    assert "Finished: 2 invited, 0 failed, of 2 rows." in page.inner_text("#bulk-status")
    assert "groups (1) and application roles (1)" in page.inner_text("#bulk-access")
    _shot(page, artifacts, "02-bulk-with-access-done")
    with sessions() as s:
        members = s.scalars(
            select(User.mail)
            .join(GroupMember, GroupMember.member_id == User.id)
            .where(GroupMember.group_id == group.id, GroupMember.relation == "member")
        )
        assigned = s.scalars(
            select(User.mail)
            .join(AppRoleAssignment, AppRoleAssignment.principal_id == User.id)
            .where(AppRoleAssignment.resource_id == sp.id)
        )
        assert sorted(members) == sorted(assigned) == ["sue@supplier.example", "tom@supplier.example"]
    # The group's page lists the new guests.
    page.goto(f"{base}/admin/groups/{group.id}")
    assert "Sue" in page.inner_text("main") and "Tom" in page.inner_text("main")


def test_group_owner_invites_a_guest_into_their_group(
    page: Any, portal_server: LiveServer, sessions: sessionmaker[Session], mail_server: MailSink, artifacts: Path
) -> None:
    boot = _tenant(sessions)
    base = f"{portal_server.base_url}/{boot.domain}"
    owner_id = _member(sessions, boot, "olivia")
    groups = GroupService(sessions, system_principal(boot.tenant_id))
    mine = groups.create(
        {"display_name": "Project Falcon", "mail_nickname": "falcon", "mail_enabled": False, "security_enabled": True},
        [],
        [owner_id],
    )
    groups.create(
        {"display_name": "Board", "mail_nickname": "board", "mail_enabled": False, "security_enabled": True}, [], []
    )
    _sign_in(page, base, f"olivia@{boot.domain}", PASSWORD)
    nav = page.get_by_role("navigation", name="Administration")
    assert nav.get_by_role("link", name="Users").count() == 0
    _shot(page, artifacts, "01-owner-overview")
    nav.get_by_role("link", name="Groups").click()
    assert "Project Falcon" in page.inner_text("#groups") and "Board" not in page.inner_text("#groups")
    _shot(page, artifacts, "02-owner-groups")
    page.get_by_role("link", name="Project Falcon").click()
    page.get_by_role("link", name="Invite a guest into this group").click()
    assert page.get_by_label("Project Falcon").is_checked()
    address = f"gus-{uuid.uuid4().hex[:6]}@partner.example"
    page.get_by_label("Email address").fill(address)
    page.get_by_label("Display name").fill("Gus Guest")
    page.get_by_label("Send the invitation email").uncheck()
    _shot(page, artifacts, "03-owner-invite")
    page.get_by_role("button", name="Invite").click()
    link = page.get_by_label("Redemption link").input_value()
    assert "/redeem?tenant=" in link
    _shot(page, artifacts, "04-owner-invite-link")
    page.goto(f"{base}/admin/groups/{mine.id}")
    assert "Gus Guest" in page.inner_text("#members")
    _shot(page, artifacts, "05-owner-group-members")
    page.goto(f"{base}/admin/users")
    assert page.locator("#forbidden").is_visible()


def test_guest_inviter_cannot_open_admin_screens(
    page: Any, portal_server: LiveServer, sessions: sessionmaker[Session], artifacts: Path
) -> None:
    boot = _tenant(sessions)
    base = f"{portal_server.base_url}/{boot.domain}"
    inviter = _member(sessions, boot, "ivan")
    DirectoryRoleService(sessions, system_principal(boot.tenant_id)).add_member(GUEST_INVITER, inviter)
    _sign_in(page, base, f"ivan@{boot.domain}", PASSWORD)
    nav = page.get_by_role("navigation", name="Administration")
    assert nav.get_by_role("link", name="Invite external user").count() == 1
    assert nav.get_by_role("link", name="Enterprise applications").count() == 0
    sp_id = _first_app(sessions, boot)
    for path in (
        f"apps/{sp_id}/provisioning",
        "provisioning/logs",
        "apps",
        "settings/collaboration",
        "settings/organization",
        "audit",
        "outbox",
        "groups",
        "users/new",
        "users",
    ):
        response = page.goto(f"{base}/admin/{path}")
        assert response.status == 403, path
        assert "You don't have access to this page" in page.inner_text("h1")
    _shot(page, artifacts, "01-forbidden")
    page.goto(f"{base}/admin/users/invite")
    assert page.get_by_role("heading", name="Invite external user").is_visible()


def test_every_screen_desktop_and_phone(
    browser: Any, portal_server: LiveServer, sessions: sessionmaker[Session], artifacts: Path
) -> None:
    boot = _tenant(sessions)
    base = f"{portal_server.base_url}/{boot.domain}"
    member_id = _member(sessions, boot, "mia")
    group = GroupService(sessions, system_principal(boot.tenant_id)).create(
        {"display_name": "Engineering", "mail_nickname": "eng", "mail_enabled": False, "security_enabled": True},
        [member_id],
        [member_id],
    )
    screens = [
        ("overview", "/admin"),
        ("users", "/admin/users"),
        ("user", f"/admin/users/{member_id}"),
        ("user-new", "/admin/users/new"),
        ("invite", "/admin/users/invite"),
        ("bulk", "/admin/users/bulk"),
        ("groups", "/admin/groups"),
        ("group", f"/admin/groups/{group.id}"),
        ("group-new", "/admin/groups/new"),
        ("apps", "/admin/apps"),
        ("app-new", "/admin/apps/new"),
        ("collaboration", "/admin/settings/collaboration"),
        ("organization", "/admin/settings/organization"),
        ("audit", "/admin/audit"),
        ("outbox", "/admin/outbox"),
    ]
    for label, viewport in (("desktop", {"width": 1280, "height": 800}), ("phone", {"width": 375, "height": 740})):
        context = browser.new_context(viewport=viewport, locale="en-US")
        try:
            page = context.new_page()
            _sign_in(page, base, boot.admin_user_principal_name, ADMIN_PASSWORD)
            page.goto(f"{base}/admin/apps")
            first_app = page.locator("#apps a").first.get_attribute("href")
            app_path = first_app.removeprefix(f"/{boot.domain}")
            page.goto(f"{base}{app_path}/provisioning")
            if page.get_by_role("button", name="Get started").count():
                page.get_by_role("button", name="Get started").click()
            extra = [
                ("app", app_path),
                ("provisioning", f"{app_path}/provisioning"),
                ("provisioning-mappings", f"{app_path}/provisioning/mappings/user"),
                ("provisioning-mapping-edit", f"{app_path}/provisioning/mappings/user?edit=title"),
                ("provisioning-logs", "/admin/provisioning/logs"),
            ]
            for name, path in [*screens, *extra]:
                response = page.goto(f"{base}{path}")
                assert response.status == 200, path
                assert (
                    page.locator("#signed-in-user").inner_text() == f"{boot.domain.split('-')[0].title()} Administrator"
                )
                _no_horizontal_scroll(page)
                _shot(page, artifacts, f"{label}-{name}")
            page.goto(f"{base}/admin/users?lang=fr")
            assert page.locator("html").get_attribute("lang") == "fr"
            assert page.locator("h1").inner_text() == "Utilisateurs"
            assert "Inviter un utilisateur externe" in page.inner_text("nav.side")
            _shot(page, artifacts, f"{label}-users-fr")
        finally:
            context.close()


@pytest.fixture
def scim_target(tmp_path: Path) -> Iterator[Target]:
    with run_target(tmp_path / "scim") as target:
        yield target


def test_the_last_cycle_appears_without_a_reload(
    page: Any, portal_server: LiveServer, sessions: sessionmaker[Session], scim_target: Target, artifacts: Path
) -> None:
    """The target is held (SIGSTOP) while provisioning starts, so the page surely shows "No cycle has run yet";
    once the target answers again the cycle ends and the status panel shows it by itself: the page reloaded
    itself (a marker set by the test is gone), nobody clicked."""
    boot = _tenant(sessions)
    base = f"{portal_server.base_url}/{boot.domain}"
    erin = _member(sessions, boot, "erin")
    apps = AppService(sessions, system_principal(boot.tenant_id))
    sp = apps.create_enterprise_app("Live status app", ["User"])
    apps.assign(erin, sp.id, apps.get_sp(sp.id)[1][0]["id"])
    _sign_in(page, base, boot.admin_user_principal_name, ADMIN_PASSWORD)
    page.goto(f"{base}/admin/apps/{sp.id}/provisioning")
    page.get_by_role("button", name="Get started").click()
    page.get_by_label("Tenant URL").fill(scim_target.base_url)
    page.get_by_label("Secret token").fill(scim_target.token)
    page.get_by_role("button", name="Save", exact=True).click()
    assert "Saved." in page.inner_text("#notice")
    os.kill(scim_target.process.pid, signal.SIGSTOP)
    try:
        page.get_by_role("button", name="Start provisioning", exact=True).click()
        assert page.inner_text("#prov-code") == "On"
        assert "No cycle has run yet." in page.inner_text("#prov-status")
        _shot(page, artifacts, "01-started-no-cycle-yet")
        page.evaluate("window.hospesTestMarker = true")
    finally:
        os.kill(scim_target.process.pid, signal.SIGCONT)
    page.wait_for_selector("#last-cycle", timeout=30_000)
    assert page.evaluate("window.hospesTestMarker === undefined")  # reloaded by the page's own script
    assert page.inner_text("#last-state") == "Succeeded"
    assert "No cycle has run yet." not in page.inner_text("#prov-status")
    assert [u["userName"] for u in scim_target.users()] == [f"erin@{boot.domain}"]
    _shot(page, artifacts, "02-last-cycle-shown")


def test_a_target_attribute_is_chosen_from_the_targets_schema(
    page: Any, portal_server: LiveServer, sessions: sessionmaker[Session], scim_target: Target, artifacts: Path
) -> None:
    """Refresh from target reads the live scim2-server's /Schemas; the editor then offers its attributes in a list,
    one is chosen, and the next cycle writes it at the target."""
    boot = _tenant(sessions)
    base = f"{portal_server.base_url}/{boot.domain}"
    dana = _member(sessions, boot, "dana")
    apps = AppService(sessions, system_principal(boot.tenant_id))
    sp = apps.create_enterprise_app("Schema app", ["User"])
    apps.assign(dana, sp.id, apps.get_sp(sp.id)[1][0]["id"])
    _sign_in(page, base, boot.admin_user_principal_name, ADMIN_PASSWORD)
    page.goto(f"{base}/admin/apps/{sp.id}/provisioning")
    page.get_by_role("button", name="Get started").click()
    page.get_by_label("Tenant URL").fill(scim_target.base_url)
    page.get_by_label("Secret token").fill(scim_target.token)
    page.get_by_role("button", name="Save", exact=True).click()
    assert "Saved." in page.inner_text("#notice")
    page.get_by_role("link", name="Provision Hospes Users").click()
    assert "Hospes's list" in page.inner_text("#target-schema-state")

    page.get_by_role("button", name="Refresh from target").click()
    assert "read from its schema" in page.inner_text("#notice")
    assert "attributes read from the target's schema" in page.inner_text("#target-schema-state")
    page.get_by_role("link", name="Add new mapping").click()
    target = page.get_by_label("Target attribute")
    offered = target.locator("option").all_inner_texts()
    assert "nickName" in offered and f"{EXT_8X8}:site" in offered and "groups" not in offered
    page.get_by_label("Source attribute, constant value or expression").fill("mailNickname")
    target.select_option("nickName")
    _shot(page, artifacts, "01-target-attribute-chosen")
    page.get_by_role("button", name="Save mapping").click()
    assert "Mappings saved." in page.inner_text("#notice")
    assert "nickName" in page.inner_text("#attribute-mappings")

    page.goto(f"{base}/admin/apps/{sp.id}/provisioning")
    page.get_by_role("button", name="Start provisioning", exact=True).click()
    deadline = time.monotonic() + 60
    while not scim_target.users():
        assert time.monotonic() < deadline, "the cycle did not create the user"
        time.sleep(0.3)
    [created] = scim_target.users()
    assert (created["userName"], created["nickName"], created["displayName"]) == (f"dana@{boot.domain}", "dana", "Dana")


def test_provisioning_configured_tested_started_and_logged(
    page: Any, portal_server: LiveServer, sessions: sessionmaker[Session], scim_target: Target, artifacts: Path
) -> None:
    """Seed 002 in a browser: credentials, Test connection, notification email, a mapping with live validation,
    start, and the provisioning logs list the users the cycle created in the live SCIM target."""
    boot = _tenant(sessions)
    base = f"{portal_server.base_url}/{boot.domain}"
    people = [_member(sessions, boot, name) for name in ("alba", "bruno", "chloe")]
    _sign_in(page, base, boot.admin_user_principal_name, ADMIN_PASSWORD)
    page.goto(f"{base}/admin/apps/new")
    page.get_by_label("Name").fill("8x8")
    page.get_by_label("Roles").fill("User")
    page.get_by_role("button", name="Create").click()
    page.wait_for_url(re.compile(r".*/admin/apps/[0-9a-f-]{36}\?done=created$"))
    sp_id = page.url.split("/apps/")[1].split("?")[0]
    apps = AppService(sessions, system_principal(boot.tenant_id))
    role_id = apps.get_sp(sp_id)[1][0]["id"]
    for person in people:
        apps.assign(person, sp_id, role_id)
    page.get_by_role("link", name="Provisioning", exact=True).click()
    _shot(page, artifacts, "01-get-started")
    page.get_by_role("button", name="Get started").click()

    page.get_by_label("Tenant URL").fill(scim_target.base_url)
    page.get_by_label("Secret token").fill("not-the-token")
    page.get_by_role("button", name="Test connection").click()
    assert "401" in page.inner_text("#test-result")
    _shot(page, artifacts, "02-test-connection-failed")
    page.get_by_label("Secret token").fill(scim_target.token)
    page.get_by_role("button", name="Test connection").click()
    assert "authorized to enable provisioning" in page.inner_text("#test-result")
    _shot(page, artifacts, "03-test-connection-ok")
    page.get_by_label("Notification email").fill("ops@contoso.example")
    page.get_by_label("Send an email notification when a failure occurs").check()
    page.get_by_role("button", name="Save", exact=True).click()
    assert "Saved." in page.inner_text("#notice")

    page.get_by_role("link", name="Provision Hospes Users").click()
    _shot(page, artifacts, "04-mappings")
    page.get_by_role("link", name="Add new mapping").click()
    page.get_by_label("Mapping type").select_option("Function")
    page.get_by_label("Source attribute, constant value or expression").fill('Join(" ", [givenName], [surname]')
    page.locator("#live-expression.error").wait_for()
    assert "^" in page.inner_text("#live-expression")  # the caret under the error
    _shot(page, artifacts, "05-live-validation-error")
    page.get_by_label("Source attribute, constant value or expression").fill('Join(" ", [givenName], [surname])')
    page.locator("#live-expression.ok").wait_for()
    page.get_by_label("Target attribute").fill("name.formatted")
    page.get_by_role("button", name="Save mapping").click()
    assert "Mappings saved." in page.inner_text("#notice")
    assert "Join(" in page.inner_text("#attribute-mappings")
    _shot(page, artifacts, "06-mapping-saved")

    page.goto(f"{base}/admin/apps/{sp_id}/provisioning")
    page.get_by_role("button", name="Start provisioning", exact=True).click()
    assert page.inner_text("#prov-code") == "On"
    deadline = time.monotonic() + 60
    while len(scim_target.users()) < 3:
        if time.monotonic() > deadline:
            page.reload()
            raise AssertionError("the cycle did not create the users: " + page.inner_text("main"))
        time.sleep(0.3)
    names = sorted(u["userName"] for u in scim_target.users())
    assert names == sorted(f"{n}@{boot.domain}" for n in ("alba", "bruno", "chloe"))
    # The expression mapping entered above decides the target's formatted name; displayName is a default mapping.
    assert {u["name"].get("formatted") for u in scim_target.users()} == {"Alba Rossi", "Bruno Rossi", "Chloe Rossi"}
    assert {u.get("displayName") for u in scim_target.users()} == {"Alba", "Bruno", "Chloe"}
    # No reload: the status panel notices the finished cycle and shows it by itself.
    page.wait_for_selector("#last-cycle", timeout=30000)
    assert "Imported" in page.inner_text("#last-cycle")
    _shot(page, artifacts, "07-provisioning-on")

    page.get_by_role("link", name="Provisioning logs").first.click()
    page.get_by_label("Action").select_option("create")
    page.get_by_role("button", name="Apply").click()
    logs = page.inner_text("#provisioning-logs")
    assert all(name in logs for name in ("Alba", "Bruno", "Chloe"))
    _shot(page, artifacts, "08-provisioning-logs")
    page.locator("#provisioning-logs a").first.click()
    assert "Export to the target" in page.inner_text("main") and "— Create" in page.inner_text("h1")
    _shot(page, artifacts, "09-provisioning-log-detail")
