"""Conditional access in the portal: the policy list, one policy's editor (who, which apps, conditions, grant and
session controls), and deleting after confirming. Every write goes through ``ConditionalAccessService``, the service
Graph's ``/identity/conditionalAccess/policies`` uses, so the portal can't store what Graph would refuse."""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter
from starlette.responses import Response

from hospes.domain.errors import DomainError, NotFoundError
from hospes.domain.principals import DIRECTORY_ROLES
from hospes.services.conditional_access import ConditionalAccessService
from hospes.web.exits import PageExit
from hospes.web.portal import ca_forms
from hospes.web.portal.access import AdminPage
from hospes.web.portal.deps import ConditionalAccessDep
from hospes.web.portal.pickers import resolve

router = APIRouter(include_in_schema=False)
_GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
BASE = "/conditional-access"


def service(admin: AdminPage) -> ConditionalAccessService:
    return ConditionalAccessService(admin.sessions, admin.principal)


def _resolver(admin: AdminPage) -> ca_forms.Resolver:
    def resolve_line(kind: str, line: str) -> tuple[str | None, str | None]:
        choice, problem = resolve(admin, line, kind)
        if choice is not None and choice.kind != kind.rstrip("s"):
            return None, admin._("“%(text)s” is not a group.") % {"text": line}
        return (choice.id if choice else None), problem

    return resolve_line


def _describer(admin: AdminPage) -> ca_forms.Describer:
    def describe(kind: str, object_id: str) -> str:
        found = [c for c in admin.queries.search_people(object_id, users=True, groups=True) if c.id == object_id]
        if not found:
            return object_id  # deleted since: the id stays visible so saving keeps or drops it knowingly
        return found[0].detail if kind == "users" else f"{found[0].name} ({object_id})"

    return describe


def _policy(admin: AdminPage, policy_id: str) -> dict[str, Any]:
    pid = policy_id.lower()[:64]
    if not _GUID.match(pid):
        raise PageExit(admin.not_found())
    try:
        return service(admin).get_policy(pid)
    except NotFoundError:
        raise PageExit(admin.not_found()) from None


def _editor(
    admin: AdminPage,
    values: dict[str, Any],
    errors: dict[str, str],
    policy: dict[str, Any] | None,
    status: int = 200,
) -> Response:
    locations = service(admin).list_locations()
    return admin.render(
        "portal/ca_policy.html",
        status,
        policy=policy,
        values=values,
        errors=errors,
        roles=sorted(((rid, name) for rid, (name, _d) in DIRECTORY_ROLES.items()), key=lambda r: r[1]),
        apps=[(sp.app_id, sp.display_name) for sp, _roles in admin.queries.app_choices()],
        admin_portals=ca_forms.ADMIN_PORTALS,
        locations=[(loc["id"], loc["displayName"]) for loc in locations],
        guest_kinds=ca_forms.GUEST_KINDS,
        client_kinds=ca_forms.CLIENT_KINDS,
        platform_kinds=ca_forms.PLATFORM_KINDS,
        grant_kinds=ca_forms.GRANT_KINDS,
        notice=admin._("The policy was saved.") if admin.page.request.query_params.get("done") == "saved" else None,
    )


@router.get("/{tenant}/admin/conditional-access")
def policy_list(admin: ConditionalAccessDep) -> Response:
    done = admin.page.request.query_params.get("done", "")
    notices = {"deleted": admin._("The policy was deleted."), "created": admin._("The policy was created.")}
    return admin.render("portal/ca_policies.html", policies=service(admin).list_policies(), notice=notices.get(done))


@router.get("/{tenant}/admin/conditional-access/policies/new")
def new_policy(admin: ConditionalAccessDep) -> Response:
    return _editor(admin, ca_forms.values_of(None, _describer(admin)), {}, None)


async def _save(admin: AdminPage, policy: dict[str, Any] | None) -> Response:
    values = ca_forms.posted_values(await admin.form())
    body, errors = ca_forms.policy_body(values, _resolver(admin), admin._)
    if body is None:
        return _editor(admin, values, errors, policy, 400)
    try:
        if policy is None:
            created = service(admin).create_policy(body)
            return admin.redirect(f"{BASE}/policies/{created['id']}", done="saved")
        service(admin).update_policy(policy["id"], body)
    except DomainError as exc:
        return _editor(admin, values, admin.plain_errors(exc, ca_forms.ERROR_FIELDS), policy, 400)
    return admin.redirect(f"{BASE}/policies/{policy['id']}", done="saved")


@router.post("/{tenant}/admin/conditional-access/policies/new")
async def create_policy(admin: ConditionalAccessDep) -> Response:
    return await _save(admin, None)


@router.get("/{tenant}/admin/conditional-access/policies/{policy_id}")
def edit_policy(admin: ConditionalAccessDep, policy_id: str) -> Response:
    policy = _policy(admin, policy_id)
    return _editor(admin, ca_forms.values_of(policy, _describer(admin)), {}, policy)


@router.post("/{tenant}/admin/conditional-access/policies/{policy_id}")
async def update_policy(admin: ConditionalAccessDep, policy_id: str) -> Response:
    return await _save(admin, _policy(admin, policy_id))


@router.get("/{tenant}/admin/conditional-access/policies/{policy_id}/delete")
def confirm_delete(admin: ConditionalAccessDep, policy_id: str) -> Response:
    policy = _policy(admin, policy_id)
    _ = admin._
    return confirm_page(
        admin,
        _("Delete this policy?"),
        policy["displayName"],
        _("Sign-ins are no longer checked against it. This can't be undone; to pause it, turn it off instead."),
        f"{BASE}/policies/{policy['id']}",
        (BASE, _("Conditional access")),
    )


def confirm_page(
    admin: AdminPage, question: str, name: str, warning: str, item: str, back: tuple[str, str]
) -> Response:
    """The confirmation page before deleting ``item`` (a portal path; the form posts to ``item``/delete)."""
    return admin.render(
        "portal/ca_confirm.html",
        question=question,
        name=name,
        warning=warning,
        action=f"{admin.admin}{item}/delete",
        back=f"{admin.admin}{item}",
        back_list=f"{admin.admin}{back[0]}",
        list_name=back[1],
    )


@router.post("/{tenant}/admin/conditional-access/policies/{policy_id}/delete")
async def delete_policy(admin: ConditionalAccessDep, policy_id: str) -> Response:
    form = await admin.form()
    policy = _policy(admin, policy_id)
    if form.get("confirm") != "yes":
        return admin.redirect(f"{BASE}/policies/{policy['id']}/delete")
    try:
        service(admin).delete_policy(policy["id"])
    except NotFoundError:
        return admin.not_found()
    return admin.redirect(BASE, done="deleted")
