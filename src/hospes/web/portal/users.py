"""Users: detail, create member, invite an external user, and the actions on one user (resend invitation, reset
redemption, block or unblock sign-in, delete, restore from deleted items or delete permanently). The list is
``user_lists.py``; editing a user, converting and sponsors ``user_edit.py``.

Every POST is one service call (one transaction): on a validation error the form comes back with the message
next to its field and nothing was saved.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from hospes.domain.errors import DomainError, InvalidInputError, NotFoundError
from hospes.domain.invitation import parse_invitation
from hospes.domain.principals import DIRECTORY_ROLES, GLOBAL_ADMINISTRATOR
from hospes.services.invitations.onboarding import AppGrant, invite_with_access
from hospes.services.tenants import generate_password
from hospes.services.user_views import UserDetail
from hospes.web.exits import PageExit
from hospes.web.portal.access import AdminPage, Form
from hospes.web.portal.deps import InviteDep, PortalHomeDep, UserAdminDep, UsersDep
from hospes.web.portal.lifecycle import lifecycle_of
from hospes.web.portal.results import gone, invitation_outcome, show_later, take
from hospes.web.portal.wording import Wording

router = APIRouter(include_in_schema=False)

INVITE_FIELDS = {
    "invitedUserEmailAddress": "email",
    "inviteRedirectUrl": "redirect_url",
    "invitedUserDisplayName": "display_name",
    "customizedMessageBody": "message",
    "messageLanguage": "language",
}
MEMBER_FIELDS = {
    "userPrincipalName": "upn",
    "passwordProfile": "password",
    "displayName": "display_name",
    "mailNickname": "upn",
}


@router.get("/{tenant}/admin")
def home(admin: PortalHomeDep) -> Response:
    words = Wording(admin._, admin.page.lang)
    role_names = sorted(words.role(r) for r in admin.access.roles if r in DIRECTORY_ROLES)
    counts = admin.queries.counts() if admin.access.may_see_users else None
    return admin.render("portal/home.html", role_names=role_names, counts=counts)


# --- create member ---------------------------------------------------------------------------------------------


@router.get("/{tenant}/admin/users/new")
def new_user_form(admin: UserAdminDep) -> Response:
    domains = admin.organization.domains()
    return admin.render("portal/user_new.html", values={"enabled": "on"}, errors={}, domains=domains)


@router.post("/{tenant}/admin/users/new")
async def new_user_submit(admin: UserAdminDep) -> Response:
    form = await admin.form()
    _ = admin._
    domains = admin.organization.domains()
    values = {
        k: form.get(k).strip()
        for k in ("display_name", "alias", "domain", "given_name", "surname", "job_title", "department")
    }
    values["enabled"] = "on" if form.flag("enabled") else ""
    values["force_change"] = "on" if form.flag("force_change") else ""
    errors: dict[str, str] = {}
    if not values["display_name"]:
        errors["display_name"] = _("Enter a name.")
    if not values["alias"]:
        errors["upn"] = _("Enter a user name.")
    if values["domain"] not in domains:
        errors["upn"] = _("Choose one of the organization's domains.")
    password = form.get("password")
    generated = not password
    if generated:
        password = generate_password()
    for key, limit in (
        ("display_name", 256),
        ("given_name", 64),
        ("surname", 64),
        ("job_title", 128),
        ("department", 64),
    ):
        if len(values[key]) > limit:
            errors[key] = _("At most %(num)d characters.") % {"num": limit}
    if errors:
        return admin.render("portal/user_new.html", 400, values=values, errors=errors, domains=domains)
    body: dict[str, Any] = {
        "display_name": values["display_name"],
        "user_principal_name": f"{values['alias']}@{values['domain']}",
        "mail_nickname": values["alias"][:64],
        "account_enabled": bool(values["enabled"]),
    }
    for key in ("given_name", "surname", "job_title", "department"):
        if values[key]:
            body[key] = values[key]
    try:
        user = admin.users.create(body, password, bool(values["force_change"]))
    except DomainError as exc:
        errors = admin.plain_errors(exc, MEMBER_FIELDS)
        return admin.render("portal/user_new.html", 400, values=values, errors=errors, domains=domains)
    created = {"id": user.id, "display_name": user.display_name, "user_principal_name": user.user_principal_name}
    outcome = {"user": created, "password": password if generated else None}
    return show_later(admin, "user-created", "/users/new/done", outcome)


@router.get("/{tenant}/admin/users/new/done")
def new_user_done(admin: UserAdminDep) -> Response:
    outcome = take(admin, "user-created")
    if outcome is None:
        return gone(admin)
    return admin.render("portal/user_created.html", created=outcome["user"], password=outcome["password"])


# --- invite ----------------------------------------------------------------------------------------------------


def invite_choices(admin: AdminPage) -> tuple[list[Any], list[Any]]:
    """Groups the inviter may add guests to (admins: all; owners: theirs; Guest Inviters: none), and app roles
    (Global Administrators: every app's; an app's owners: their apps')."""
    access = admin.access
    groups: list[Any] = []
    if access.manages_users:
        groups = admin.queries.group_choices()
    elif access.owned_groups:
        groups = admin.queries.group_choices(access.owned_groups)
    if access.is_global_admin:
        apps = admin.queries.app_choices()
    else:  # an app's owners assign guests to their own apps
        apps = [(sp, roles) for sp, roles in admin.queries.app_choices() if sp.id in access.owned_apps]
    return groups, apps


def _default_redirect(admin: AdminPage) -> str:
    return f"{admin.page.web.settings.public_url.rstrip('/')}/{admin.page.tenant.key}/myapps"


@router.get("/{tenant}/admin/users/invite")
def invite_form(request: Request, admin: InviteDep) -> Response:
    groups, apps = invite_choices(admin)
    preselected = request.query_params.get("group", "")
    values = {"redirect_url": _default_redirect(admin), "send": "on", "groups": [preselected], "apps": []}
    return admin.render("portal/invite.html", values=values, errors={}, groups=groups, apps=apps)


@router.post("/{tenant}/admin/users/invite")
async def invite_submit(admin: InviteDep) -> Response:
    form = await admin.form()
    _ = admin._
    groups, apps = invite_choices(admin)
    values: dict[str, Any] = {
        k: form.get(k).strip() for k in ("email", "display_name", "message", "redirect_url", "language")
    }
    values["send"] = "on" if form.flag("send") else ""
    values["groups"] = form.all("groups")
    values["apps"] = form.all("apps")
    errors: dict[str, str] = {}
    allowed_groups = {g.id for g in groups}
    if any(g not in allowed_groups for g in values["groups"]):
        errors["groups"] = _("You can't add guests to one of the chosen groups.")
    allowed_grants = {f"{sp.id}:{role['id']}" for sp, roles in apps for role in roles}
    if any(a not in allowed_grants for a in values["apps"]):
        errors["apps"] = _("One of the chosen applications or roles is not available.")
    if not admin.access.may_bulk_invite and not values["groups"] and not values["apps"]:
        # A group or app owner without an inviter role invites into one of their own groups or apps.
        errors["groups"] = _("Choose at least one of your groups.")
    body: dict[str, Any] = {
        "invitedUserEmailAddress": values["email"],
        "inviteRedirectUrl": values["redirect_url"],
        "sendInvitationMessage": bool(values["send"]),
    }
    if values["display_name"]:
        body["invitedUserDisplayName"] = values["display_name"]
    info: dict[str, Any] = {}
    if values["message"]:
        info["customizedMessageBody"] = form.get("message")
    if values["language"]:
        info["messageLanguage"] = values["language"]
    if info:
        body["invitedUserMessageInfo"] = info
    try:
        req = parse_invitation(body)
    except DomainError as exc:
        errors.update(admin.plain_errors(exc, INVITE_FIELDS))
    if errors:
        return admin.render("portal/invite.html", 400, values=values, errors=errors, groups=groups, apps=apps)
    grants = [AppGrant(*a.split(":", 1)) for a in values["apps"]]
    try:
        result = invite_with_access(admin.invitations, req, values["groups"], grants)
    except DomainError as exc:
        errors = admin.plain_errors(exc, INVITE_FIELDS)
        return admin.render("portal/invite.html", 400, values=values, errors=errors, groups=groups, apps=apps)
    return show_later(admin, "invite", "/users/invite/done", invitation_outcome(result))


@router.get("/{tenant}/admin/users/invite/done")
def invite_done(admin: InviteDep) -> Response:
    """The invitation just sent, shown once: reloading this page invites nobody again."""
    outcome = take(admin, "invite")
    if outcome is None:
        return gone(admin)
    return admin.render("portal/invite_done.html", result=outcome)


# --- one user --------------------------------------------------------------------------------------------------


@router.get("/{tenant}/admin/users/{user_id}")
def user_detail(request: Request, admin: UsersDep, user_id: str) -> Response:
    try:
        detail = admin.queries.user(user_id[:64], include_deleted=True)
    except NotFoundError:
        return admin.not_found()
    notice = {
        "resent": admin._("The invitation was sent again. The previous link no longer works."),
        "reset": admin._("The redemption status was reset: the guest must accept the invitation again."),
        "blocked": admin._("Sign-in is blocked and the user's sessions were ended."),
        "unblocked": admin._("Sign-in is allowed again."),
        "deleted": admin._("The user was deleted. You can restore it from deleted users."),
        "restored": admin._("The user was restored."),
        "mfa": admin._("Two-step verification was reset: the user sets up an authenticator at the next sign-in."),
        "saved": admin._("The changes were saved."),
        "to-member": admin._("The user is now a member of the organization."),
        "to-guest": admin._("The user is now a guest."),
        "not-self": admin._("You can't change your own user type."),
        "sponsor-added": admin._("The sponsor was added."),
        "sponsor-removed": admin._("The sponsor was removed."),
        "role-added": admin._("The role was assigned. It takes effect at the user's next click."),
        "role-removed": admin._("The role was removed. It takes effect at the user's next click."),
    }.get(request.query_params.get("done", ""))
    gov = lifecycle_of(admin, detail.user)
    return admin.render("portal/user.html", d=detail, notice=notice, error=None, gov=gov)


async def _action(admin: AdminPage, user_id: str, *, on_admins: bool = False, form: Form | None = None) -> UserDetail:
    """Common start of a user action: a valid form, and the user (live or deleted). Like Entra, only a Global
    Administrator may change or remove another Global Administrator (``on_admins``)."""
    if form is None:
        await admin.form()
    try:
        detail = admin.queries.user(user_id[:64], include_deleted=True)
    except NotFoundError:
        raise PageExit(admin.not_found()) from None
    if on_admins and not admin.access.is_global_admin and GLOBAL_ADMINISTRATOR in detail.role_ids:
        raise PageExit(admin.forbidden())
    return detail


async def _confirmed(admin: AdminPage, user_id: str, action: str) -> UserDetail:
    """A destructive action's start: as ``_action``, and the form must carry ``confirm=yes``, which only the
    confirmation page sends; a form without it (an old page, a stray click) lands on that page instead."""
    form = await admin.form()
    detail = await _action(admin, user_id, on_admins=True, form=form)
    if form.get("confirm") != "yes":
        raise PageExit(admin.redirect(f"/users/{detail.user.id}/{action}"))
    return detail


@router.get("/{tenant}/admin/users/{user_id}/{action}")
def confirm_action(admin: UserAdminDep, user_id: str, action: str) -> Response:
    """The confirmation page of a destructive action: what it does, and the button that does it."""
    _ = admin._
    questions = {
        "delete": (
            _("Delete this user?"),
            _("The user can no longer sign in. You can restore it from deleted users for 30 days."),
        ),
        "reset-redemption": (
            _("Reset the redemption status?"),
            _("The guest must accept a new invitation, sent now by email; the current link and sign-in stop working."),
        ),
        "block": (_("Block sign-in?"), _("The user can no longer sign in, and their sessions end now.")),
        "unblock": (_("Allow sign-in again?"), _("The user can sign in again.")),
        "purge": (
            _("Delete this user permanently?"),
            _("The user, their group memberships and their access are removed for good. This can't be undone."),
        ),
        "convert": (
            _("Convert this guest to a member?"),
            _("The user keeps their account and sign-in, and gets a member's access to the directory."),
        ),
        "convert-back": (
            _("Convert this member to a guest?"),
            _("The user keeps their account and sign-in, and gets a guest's limited access to the directory."),
        ),
    }
    if action not in questions or action == "convert-back":
        return admin.not_found()
    try:
        detail = admin.queries.user(user_id[:64], include_deleted=True)
    except NotFoundError:
        return admin.not_found()
    if action == "purge" and detail.user.deleted_at is None:
        return admin.not_found()  # a user is deleted first, then (from the deleted users) deleted permanently
    if action == "convert" and detail.user.user_type != "Guest":
        action = "convert-back"
    title, consequence = questions[action]
    action = "convert" if action == "convert-back" else action
    return admin.render("portal/user_confirm.html", d=detail, action=action, title=title, consequence=consequence)


def _failed(admin: AdminPage, detail: UserDetail, exc: DomainError) -> Response:
    return admin.render("portal/user.html", 400, d=detail, notice=None, error=admin.plain(exc))


@router.post("/{tenant}/admin/users/{user_id}/resend")
async def resend(admin: UserAdminDep, user_id: str) -> Response:
    """An administrator's action on a user page (Guest Inviters invite again from the invite form)."""
    detail = await _action(admin, user_id)
    user = detail.user
    last = admin.queries.last_invitation(user.id)
    if user.deleted_at is not None or last is None or not user.mail:
        return _failed(admin, detail, InvalidInputError(admin._("This user has no invitation to send again.")))
    body = {
        "invitedUserEmailAddress": user.mail,
        "inviteRedirectUrl": last.redirect_url,
        "invitedUser": {"id": user.id},
        "sendInvitationMessage": True,
    }
    try:
        result = admin.invitations.invite(parse_invitation(body))
    except DomainError as exc:
        return _failed(admin, detail, exc)
    return show_later(admin, "invite", "/users/invite/done", invitation_outcome(result))


@router.post("/{tenant}/admin/users/{user_id}/reset-redemption")
async def reset_redemption(admin: UserAdminDep, user_id: str) -> Response:
    detail = await _confirmed(admin, user_id, "reset-redemption")
    user = detail.user
    last = admin.queries.last_invitation(user.id)
    if user.deleted_at is not None or not user.mail or last is None:
        return _failed(
            admin, detail, InvalidInputError(admin._("Only an invited guest can have its redemption reset."))
        )
    body = {
        "invitedUserEmailAddress": user.mail,
        "inviteRedirectUrl": last.redirect_url,
        "invitedUser": {"id": user.id},
        "resetRedemption": True,
        "sendInvitationMessage": True,
    }
    try:
        result = admin.invitations.invite(parse_invitation(body))
    except DomainError as exc:
        return _failed(admin, detail, exc)
    return show_later(admin, "invite", "/users/invite/done", invitation_outcome(result))


async def _set_enabled(admin: AdminPage, user_id: str, enabled: bool) -> Response:
    detail = await _confirmed(admin, user_id, "unblock" if enabled else "block")
    if detail.user.id == admin.principal.id and not enabled:
        return _failed(admin, detail, InvalidInputError(admin._("You can't block your own sign-in.")))
    try:
        admin.users.update(detail.user.id, {"account_enabled": enabled})
    except DomainError as exc:
        return _failed(admin, detail, exc)
    return admin.redirect(f"/users/{detail.user.id}", done="unblocked" if enabled else "blocked")


@router.post("/{tenant}/admin/users/{user_id}/block")
async def block(admin: UserAdminDep, user_id: str) -> Response:
    return await _set_enabled(admin, user_id, False)


@router.post("/{tenant}/admin/users/{user_id}/unblock")
async def unblock(admin: UserAdminDep, user_id: str) -> Response:
    return await _set_enabled(admin, user_id, True)


@router.post("/{tenant}/admin/users/{user_id}/delete")
async def delete(admin: UserAdminDep, user_id: str) -> Response:
    detail = await _confirmed(admin, user_id, "delete")
    if detail.user.id == admin.principal.id:
        return _failed(admin, detail, InvalidInputError(admin._("You can't delete your own account here.")))
    try:
        admin.users.soft_delete(detail.user.id)
    except DomainError as exc:
        return _failed(admin, detail, exc)
    return admin.redirect(f"/users/{detail.user.id}", done="deleted")


@router.post("/{tenant}/admin/users/{user_id}/purge")
async def purge(admin: UserAdminDep, user_id: str) -> Response:
    """Permanent delete, from the deleted users only (Entra's "Delete permanently")."""
    detail = await _confirmed(admin, user_id, "purge")
    if detail.user.deleted_at is None:
        return admin.not_found()
    try:
        admin.deleted_items.purge(detail.user.id)
    except DomainError as exc:
        return _failed(admin, detail, exc)
    return admin.redirect("/users", filter="deleted", done="purged")


@router.post("/{tenant}/admin/users/{user_id}/reset-mfa")
async def reset_mfa(admin: UserAdminDep, user_id: str) -> Response:
    detail = await _action(admin, user_id, on_admins=True)
    try:
        admin.users.reset_mfa(detail.user.id)
    except DomainError as exc:
        return _failed(admin, detail, exc)
    return admin.redirect(f"/users/{detail.user.id}", done="mfa")


@router.post("/{tenant}/admin/users/{user_id}/restore")
async def restore(admin: UserAdminDep, user_id: str) -> Response:
    detail = await _action(admin, user_id, on_admins=True)
    try:
        admin.deleted_items.restore(detail.user.id)
    except DomainError as exc:
        return _failed(admin, detail, exc)
    return admin.redirect(f"/users/{detail.user.id}", done="restored")
