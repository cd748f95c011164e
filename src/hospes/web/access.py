"""What the pages show when conditional access refuses a sign-in (every sign-in page says it the same way)."""

from __future__ import annotations

from starlette.responses import Response

from hospes.domain.ca_evaluation import BLOCKED
from hospes.web.context import Page, gettext_for


def blocked_page(page: Page, code: int = BLOCKED) -> Response:
    """A readable refusal with the AADSTS code an administrator finds in the sign-in log."""
    _ = gettext_for(page)
    message = _("A conditional access policy of this organization blocks your sign-in (code %(code)s).") % {
        "code": f"AADSTS{code}"
    }
    return page.render("notice.html", 403, title=_("You can't continue"), message=message, link=None, link_text=None)


def is_portal(page: Page, target: str) -> bool:
    """Whether a sign-in leads to the admin portal (conditions name it as ``MicrosoftAdminPortals``)."""
    return target.startswith(f"/{page.tenant.key}/admin")
