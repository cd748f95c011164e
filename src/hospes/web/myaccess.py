"""My Access: ``/{tenant}/myaccess`` for a signed-in member or guest (packages they may request, their requests
with cancel, their assignments with their end and "extend", the approvals waiting for them with approve or deny),
and ``/{tenant}/myaccess/access-packages/{id}``, the link a package is shared with. Someone outside the directory
who follows the link signs in with their own identity first (their home tenant or a one-time passcode, the guest
sign-in steps of ``redeem.py`` in a flow of kind ``access``), then answers the questions and asks."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.responses import Response

from hospes.domain.errors import DomainError
from hospes.services.entitlement.external import ExternalIdentity, ExternalRequests
from hospes.services.entitlement.my_access import MyAccess
from hospes.services.entitlement.notify import EmConfig
from hospes.services.guest_flows import FlowView
from hospes.services.users import is_invited
from hospes.services.web_sessions import user_principal
from hospes.web.context import Page, gettext_for
from hospes.web.deps import PageDep
from hospes.web.exits import PageExit
from hospes.web.guest import current_flow, entered_address, flow_cookie
from hospes.web.login import checked_form
from hospes.web.redeem import guest_signin_url

router = APIRouter(include_in_schema=False)
MAX_ANSWER = 2000


def _service(page: Page) -> MyAccess:
    return MyAccess(page.web.sessions, EmConfig.from_settings(page.web.settings))


def _signed_in(page: Page) -> Any:
    user = page.user
    if user is None or (is_invited(user) and user.external_user_state not in (None, "Accepted")):
        return None
    return user


def _member(page: Page, path: str) -> Any:
    user = _signed_in(page)
    if user is None:
        raise PageExit(page.redirect(guest_signin_url(page, f"/{page.tenant.key}{path}")))
    return user


def _answers(form: dict[str, str], questions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for question in questions:
        value = form.get(f"q_{question['id']}", "").strip()[:MAX_ANSWER]
        if value:
            out.append(
                {
                    "@odata.type": "#microsoft.graph.accessPackageAnswerString",
                    "value": value,
                    "answeredQuestion": {"id": question["id"]},
                }
            )
    return out


def _home(page: Page, user: Any, notice: str | None = None, error: str | None = None, status: int = 200) -> Response:
    service = _service(page)
    tenant = page.tenant.id
    return page.render(
        "myaccess.html",
        status,
        offers=service.offers(tenant, user.id),
        requests=service.my_requests(tenant, user.id),
        assignments=service.my_assignments(tenant, user.id),
        waiting=service.waiting(tenant, user.id),
        notice=notice,
        error=error,
    )


@router.get("/{tenant}/myaccess")
def my_access(page: PageDep) -> Response:
    user = _member(page, "/myaccess")
    _ = gettext_for(page)
    notices = {
        "requested": _("Your request was sent."),
        "canceled": _("The request was canceled."),
        "extended": _("Your request to extend was sent."),
        "decided": _("Your decision was recorded."),
    }
    return _home(page, user, notices.get(page.request.query_params.get("done", "")))


async def _act(page: Page, path: str) -> tuple[Any, dict[str, str]]:
    user = _member(page, path)
    return user, await checked_form(page)


def _failed(page: Page, user: Any, exc: DomainError) -> Response:
    return _home(page, user, error=exc.message, status=409 if exc.code == "Conflict" else 400)


@router.post("/{tenant}/myaccess/request")
async def request_package(page: PageDep) -> Response:
    user, form = await _act(page, "/myaccess")
    package_id = form.get("package", "")[:64]
    offers = _service(page).offers(page.tenant.id, user.id, package_id)
    if not offers:
        _ = gettext_for(page)
        return _home(page, user, error=_("This access package cannot be requested."), status=404)
    offer = offers[0]
    body = {
        "requestType": "userAdd",
        "assignment": {"accessPackageId": offer.package_id, "assignmentPolicyId": offer.policy_id},
        "justification": form.get("justification", "").strip()[:MAX_ANSWER] or None,
        "answers": _answers(form, offer.questions),
    }
    try:
        _service(page).requests(user_principal(user)).create(body)
    except DomainError as exc:
        return _failed(page, user, exc)
    return page.redirect(f"{page.base}/myaccess?done=requested")


@router.post("/{tenant}/myaccess/requests/{request_id}/cancel")
async def cancel_request(page: PageDep, request_id: str) -> Response:
    user, _form = await _act(page, "/myaccess")
    try:
        _service(page).requests(user_principal(user)).cancel(request_id[:64])
    except DomainError as exc:
        return _failed(page, user, exc)
    return page.redirect(f"{page.base}/myaccess?done=canceled")


@router.post("/{tenant}/myaccess/assignments/{assignment_id}/extend")
async def extend(page: PageDep, assignment_id: str) -> Response:
    user, form = await _act(page, "/myaccess")
    body = {
        "requestType": "userUpdate",
        "assignment": {"id": assignment_id[:64]},
        "justification": form.get("justification", "").strip()[:MAX_ANSWER] or None,
    }
    try:
        _service(page).requests(user_principal(user)).create(body)
    except DomainError as exc:
        return _failed(page, user, exc)
    return page.redirect(f"{page.base}/myaccess?done=extended")


@router.post("/{tenant}/myaccess/approvals/{request_id}/{stage_id}")
async def decide(page: PageDep, request_id: str, stage_id: str) -> Response:
    user, form = await _act(page, "/myaccess")
    result = {"approve": "Approve", "deny": "Deny"}.get(form.get("decision", ""))
    if result is None:
        _ = gettext_for(page)
        return _home(page, user, error=_("Choose approve or deny."), status=400)
    body = {"reviewResult": result, "justification": form.get("justification", "").strip()[:MAX_ANSWER] or None}
    try:
        _service(page).approvals(user_principal(user)).decide(request_id[:64], stage_id[:64], body)
    except DomainError as exc:
        return _failed(page, user, exc)
    return page.redirect(f"{page.base}/myaccess?done=decided")


# -- the shareable link --------------------------------------------------------------------------------------------


def _verified(page: Page) -> FlowView | None:
    """This browser's finished access sign-in at this tenant, if any."""
    flow = current_flow(page)
    if flow is None or flow.kind != "access" or flow.verified_method is None or flow.tenant_id != page.tenant.id:
        return None
    return flow


def _identity(flow: FlowView) -> ExternalIdentity:
    home = flow.data.get("home") or {}
    name = str(flow.data.get("name") or "")[:256] or None
    federated = None
    if flow.verified_method in ("saml", "oidc"):
        # Their guest keeps the provider they proved the address with (and signs in there again, not by passcode).
        asserted = flow.data.get("federated") or {}
        issuer, subject = asserted.get("issuer"), asserted.get("sub")
        if issuer and subject:
            federated = {"signInType": "federated", "issuer": str(issuer), "issuerAssignedId": str(subject)}
    return ExternalIdentity(flow.email.lower(), name, home.get("tenant"), home.get("user"), federated)


def _package_page(page: Page, package_id: str, status: int = 200, **extra: Any) -> Response:
    external = ExternalRequests(page.web.sessions, page.tenant.id, EmConfig.from_settings(page.web.settings))
    _ = gettext_for(page)
    user = _signed_in(page)
    context: dict[str, Any] = {"package_id": package_id, "notice": None, "error": None, **extra}
    if user is not None:
        offers = _service(page).offers(page.tenant.id, user.id, package_id)
        if offers:
            return page.render("myaccess_package.html", status, mode="member", offer=offers[0], **context)
    try:
        package, _policies = external.package(package_id[:64])
    except DomainError:
        return page.render(
            "notice.html",
            404,
            title=_("Access package not available"),
            message=_("This access package does not exist, or it cannot be requested with this link."),
            link=f"{page.base}/myaccess" if user is not None else None,
            link_text=_("Go to My Access") if user is not None else None,
        )
    flow = _verified(page)
    if flow is None:
        return page.render("myaccess_package.html", status, mode="signin", package=package, **context)
    who = _identity(flow)
    policy = external.applicable(package.id, who)
    questions = policy.settings.get("questions") or [] if policy is not None else []
    justification = (
        bool(policy.settings["requestApprovalSettings"]["isRequestorJustificationRequired"]) if policy else False
    )
    return page.render(
        "myaccess_package.html",
        status,
        mode="external",
        package=package,
        email=who.email,
        allowed=policy is not None,
        questions=questions,
        justification_required=justification,
        requests=external.mine(who.email),
        **context,
    )


@router.get("/{tenant}/myaccess/access-packages/{package_id}")
def package_link(page: PageDep, package_id: str) -> Response:
    return _package_page(page, package_id[:64])


@router.post("/{tenant}/myaccess/access-packages/{package_id}/signin")
async def package_signin(page: PageDep, package_id: str) -> Response:
    """Someone outside the directory names their address: the guest sign-in proves it (home tenant or passcode)."""
    form = await checked_form(page)
    email, valid = entered_address(form)
    if not valid:
        _ = gettext_for(page)
        return _package_page(page, package_id[:64], 400, error=_("Enter an email address."))
    back = f"{page.base}/myaccess/access-packages/{package_id[:64]}"
    name = form.get("name", "").strip()[:256]
    with page.web.sessions.begin() as session:
        token = page.web.redemption.flows.start(
            session,
            kind="access",
            tenant_id=page.tenant.id,
            user_id=None,
            email=email,
            invitation_id=None,
            ticket_hash=None,
            next_url=back,
            data={"name": name} if name else {},
            now=page.now,
        )
    page.set_cookie(flow_cookie(page.web), token)
    return page.redirect(f"{page.base}/redeem/signin")


@router.post("/{tenant}/myaccess/access-packages/{package_id}")
async def package_request(page: PageDep, package_id: str) -> Response:
    form = await checked_form(page)
    flow = _verified(page)
    if flow is None:
        return _package_page(page, package_id[:64], 401)
    external = ExternalRequests(page.web.sessions, page.tenant.id, EmConfig.from_settings(page.web.settings))
    who = _identity(flow)
    policy = external.applicable(package_id[:64], who)
    questions = policy.settings.get("questions") or [] if policy is not None else []
    justification = form.get("justification", "").strip()[:MAX_ANSWER] or None
    try:
        external.request(package_id[:64], who, justification, _answers(form, questions))
    except DomainError as exc:
        return _package_page(page, package_id[:64], 400, error=exc.message)
    _ = gettext_for(page)
    return _package_page(page, package_id[:64], notice=_("Your request was sent."))
