"""What the pages show when conditional access refuses a sign-in (every sign-in page says it the same way)."""

from __future__ import annotations

from urllib.parse import urlencode

from starlette.responses import Response

from hospes.domain.ca_evaluation import BLOCKED, Decision
from hospes.services import sign_in_log
from hospes.services.access_decision import (
    AccessRequest,
    blocked_message,
    decide_now,
    home_tenant_of,
    log_details,
    terms_required,
)
from hospes.services.access_rules import rules_of
from hospes.services.collaboration_access import INBOUND_REFUSED, OUTBOUND_REFUSED
from hospes.services.sign_in_log import SignInEvent
from hospes.storage.tables import User
from hospes.web.context import Page, client_address, gettext_for


def blocked_page(page: Page, code: int = BLOCKED) -> Response:
    """A readable refusal with the AADSTS code an administrator finds in the sign-in log."""
    _ = gettext_for(page)
    messages = {
        INBOUND_REFUSED: _(
            "This organization's cross-tenant access settings don't let users of your organization sign in here "
            "(code %(code)s)."
        ),
        OUTBOUND_REFUSED: _(
            "Your home organization's cross-tenant access settings don't let you sign in to this organization "
            "(code %(code)s)."
        ),
    }
    default = _("A conditional access policy of this organization blocks your sign-in (code %(code)s).")
    message = messages.get(code, default) % {"code": f"AADSTS{code}"}
    return page.render("notice.html", 403, title=_("You can't continue"), message=message, link=None, link_text=None)


def terms_url(page: Page, agreements: tuple[str, ...] | list[str], next_url: str) -> str:
    """Where a signed-in user accepts ``agreements`` (``web/terms.py``), then goes on to ``next_url``."""
    return f"{page.base}/terms?{urlencode({'ids': ','.join(agreements), 'next': next_url})}"


def onward(page: Page, decision: Decision, target: str) -> str:
    """Where a completed sign-in goes: the terms of use the decision still wants accepted, then ``target``."""
    agreements = terms_required(decision)
    return terms_url(page, agreements, target) if agreements else target


def terms_pending(page: Page, user: User, amr: list[str], target: str) -> list[str]:
    """The agreements a signed-in user still has to accept to be at ``target`` (Hospes's own pages, the portal
    when ``target`` is in it); one small read when no policy of the tenant requires terms."""
    with page.web.sessions() as session:
        if not rules_of(session, page.tenant.id).terms:
            return []
    return terms_required(decide_sign_in(page, user, amr, target))


def is_portal(page: Page, target: str) -> bool:
    """Whether a sign-in leads to the admin portal (conditions name it as ``MicrosoftAdminPortals``)."""
    return target.startswith(f"/{page.tenant.key}/admin")


def decide_sign_in(page: Page, user: User, amr: list[str], target: str) -> Decision:
    """The decision for a sign-in to Hospes's own pages (the portal when ``target`` is in it)."""
    request = AccessRequest(
        page.tenant.id,
        user,
        page.now,
        amr,
        page.now,
        admin_portal=is_portal(page, target),
        ip_address=client_address(page.request),
    )
    return decide_now(page.web.sessions, request)


def record_sign_in(page: Page, user: User, decision: Decision, amr: list[str], target: str) -> None:
    """The sign-in log row of a sign-in to Hospes's own pages, with its conditional-access result."""
    name = "Hospes portal" if is_portal(page, target) else "Hospes"
    blocked = decision.blocked
    sign_in_log.record(
        page.web.sessions,
        SignInEvent(
            tenant_id=page.tenant.id,
            at=page.now,
            protocol="web",
            app_display_name=name,
            resource_display_name=name,
            user=user,
            home_tenant_id=home_tenant_of(user),
            ip_address=client_address(page.request),
            user_agent=page.request.headers.get("user-agent"),
            error_code=decision.error_code if blocked else 0,
            failure_reason=blocked_message(decision) if blocked else None,
            conditional_access_status=decision.status,
            details={"amr": amr, **log_details(decision)},
        ),
    )
