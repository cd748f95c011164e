"""Terms of use in the portal: each agreement with its languages, version and how many users accepted (or
declined) the current version, and one agreement's acceptances. Global Administrators; agreements are written
through Graph (``/identityGovernance/termsOfUse/agreements``)."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import Response

from hospes.domain.errors import NotFoundError
from hospes.services.terms_of_use import TermsOfUseService
from hospes.web.portal.deps import TermsDep

router = APIRouter(include_in_schema=False)


@router.get("/{tenant}/admin/terms-of-use")
def agreements(admin: TermsDep) -> Response:
    rows = TermsOfUseService(admin.sessions, admin.principal).overview()
    return admin.render("portal/terms_of_use.html", rows=rows)


@router.get("/{tenant}/admin/terms-of-use/{agreement_id}")
def acceptances(admin: TermsDep, agreement_id: str) -> Response:
    service = TermsOfUseService(admin.sessions, admin.principal)
    try:
        agreement = service.agreement_row(agreement_id)
        answers = service.answers(agreement_id)
    except NotFoundError:
        return admin.not_found()
    return admin.render("portal/terms_acceptances.html", agreement=agreement, answers=answers)
