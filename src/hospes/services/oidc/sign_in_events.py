"""The sign-in log rows of the authorization request: who asked (``Caller``), and the event of each decision that
ends a request, a success (written in the code's own transaction by ``Authorizer``) or a failure."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker

from hospes.domain.ca_evaluation import Decision as AccessDecision
from hospes.services import sign_in_log
from hospes.services.access_decision import log_details
from hospes.services.oidc.authorize import AuthorizationRequest
from hospes.services.oidc.clients import RelyingParty
from hospes.storage.tables import User


@dataclass(frozen=True)
class Caller:
    """Where the request came from, for the sign-in log."""

    address: str | None
    user_agent: str | None


def oidc_event(
    rp: RelyingParty,
    request: AuthorizationRequest,
    user: User | None,
    now: datetime,
    caller: Caller,
    code: int = 0,
    reason: str | None = None,
    login_name: str | None = None,
    access: AccessDecision | None = None,
) -> sign_in_log.SignInEvent:
    home = None
    if user is not None:
        for identity in user.identities or []:
            if identity.get("issuer") == "ExternalAzureAD":
                home = str(identity.get("issuerAssignedId") or "").split("/", 1)[0] or None
    return sign_in_log.SignInEvent(
        tenant_id=request.tenant_id,
        at=now,
        protocol="oidc",
        app_id=rp.client_id,
        app_display_name=rp.display_name,
        user=user,
        login_name=login_name,
        home_tenant_id=home,
        ip_address=caller.address,
        user_agent=caller.user_agent,
        error_code=code,
        failure_reason=reason,
        conditional_access_status=access.status if access is not None else "notApplied",
        details={
            "scope": request.scope,
            "redirectUri": request.redirect_uri,
            **(log_details(access) if access is not None else {}),
        },
    )


def record_request_failure(
    sessions: sessionmaker[Session],
    rp: RelyingParty,
    params: dict[str, str],
    now: datetime,
    caller: Caller,
    code: int,
    reason: str,
) -> None:
    """A request refused before it was known to be well formed: only its raw parameters are logged."""
    event = sign_in_log.SignInEvent(
        tenant_id=rp.tenant_id,
        at=now,
        protocol="oidc",
        app_id=rp.client_id,
        app_display_name=rp.display_name,
        ip_address=caller.address,
        user_agent=caller.user_agent,
        error_code=code,
        failure_reason=reason,
        details={"redirectUri": params.get("redirect_uri", "")[:2048], "scope": params.get("scope", "")[:2048]},
    )
    sign_in_log.record(sessions, event)


def record_failure(
    sessions: sessionmaker[Session],
    rp: RelyingParty,
    request: AuthorizationRequest,
    user: User | None,
    now: datetime,
    caller: Caller,
    code: int,
    reason: str,
    access: AccessDecision | None = None,
) -> None:
    event = oidc_event(rp, request, user, now, caller, code, reason, access=access)
    sign_in_log.record(sessions, event)
