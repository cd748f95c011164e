"""SAML single sign-on, the use case: read an SP's AuthnRequest and check it against the app (known SP, reply URL,
signature), keep it sealed across the user's sign-in, then answer it for the signed-in user (assignment, account
state, one answer per request id) with a signed Response, recording the sign-in and the session's participation.
IdP-initiated sign-in answers no request. Federation metadata per tenant and per app.

Errors the SP cannot be trusted with (unknown SP, reply URL not registered) are shown to the user; errors about an
accepted request go back to the ACS as a SAML error Response when the reply is safe to send."""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from hospes.auth.crypto import DecryptionError, SecretBox
from hospes.domain.ca_evaluation import Decision as AccessDecision
from hospes.saml.authn_request import check_authn_context, peek, read_authn_request
from hospes.saml.bindings import InboundMessage, post_fields
from hospes.saml.claims import default_claims
from hospes.saml.common import (
    AC_PASSWORD,
    STATUS_NO_PASSIVE,
    STATUS_REQUEST_DENIED,
    SamlError,
    invalid_message,
)
from hospes.saml.metadata import build_metadata
from hospes.saml.nameid import build_name_id, resolve_format
from hospes.saml.response import Addressing, Authentication, Signing, build_error_response, build_response
from hospes.services import sign_in_log
from hospes.services.access_decision import (
    AccessRefusedError,
    AccessRequest,
    authorize_access,
    log_details,
    terms_required,
)
from hospes.services.saml_apps import (
    SamlApp,
    SigningKeys,
    app_by_app_id,
    app_by_entity_id,
    home_tenant_of,
    published_certificates,
    request_certificates,
    saml_user,
    standing,
)
from hospes.storage.tables import User
from hospes.storage.tables_redemption import UsedAssertion
from hospes.storage.tables_sso import SsoParticipant

_SEALED = "saml-request"
# How long a request may wait for the user to sign in (and so how long its id is remembered once answered).
PENDING_LIFETIME = timedelta(hours=1)
_AC_PROTECTED = "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport"
_AC_BY_METHOD = {"pwd": [AC_PASSWORD, _AC_PROTECTED], "email": [AC_PASSWORD, _AC_PROTECTED]}


@dataclass(frozen=True)
class PostMessage:
    """An HTTP-POST message for the browser to carry: the ACS and the form fields."""

    acs: str
    fields: dict[str, str]


class SsoRefusedError(Exception):
    """Sign-in cannot go on. ``reply`` is the SAML error Response to POST to the SP's ACS, when one may be sent;
    otherwise the user sees the AADSTS text."""

    def __init__(self, error: SamlError, reply: PostMessage | None = None, app_name: str | None = None) -> None:
        super().__init__(error.text)
        self.error, self.reply, self.app_name = error, reply, app_name


@dataclass(frozen=True)
class MfaRequiredError(Exception):
    """Conditional access wants a second factor this session lacks: ask for it, then answer the request."""


class TermsRequiredError(Exception):
    """Conditional access wants agreements accepted: show them, then answer the request."""

    def __init__(self, agreements: tuple[str, ...]) -> None:
        super().__init__("terms of use required")
        self.agreements = agreements


@dataclass(frozen=True)
class Pending:
    """An accepted AuthnRequest waiting for the user (sealed into the continue URL)."""

    tenant_id: str
    app_id: str
    request_id: str | None  # None: IdP-initiated
    acs: str
    entity_id: str
    relay_state: str | None
    name_id_format: str | None
    sp_name_qualifier: str | None
    force_authn: bool
    is_passive: bool
    authn_contexts: tuple[str, ...]
    at: datetime


@dataclass(frozen=True)
class Client:
    """The browser, as the sign-in log records it."""

    address: str | None = None
    user_agent: str | None = None


@dataclass(frozen=True)
class Visitor:
    """Who is signing in: their browser session (its public id), when and how they signed in."""

    sid: str
    auth_time: datetime
    amr: tuple[str, ...]
    client: Client = Client()


def _not_found(entity_id: str | None, tenant_id: str) -> SamlError:
    return SamlError(
        "700016",
        f"UnauthorizedClient_DoesNotMatchRequest - Application with identifier '{(entity_id or '')[:256]}' was not "
        f"found in the directory '{tenant_id}'. This can happen if the application has not been installed by the "
        "administrator of the tenant or consented to by any user in the tenant.",
    )


class SamlSignIn:
    def __init__(
        self, sessions: sessionmaker[Session], reads: sessionmaker[Session], box: SecretBox, public_url: str
    ) -> None:
        """``reads``: sessions that only read (on SQLite they take no write lock)."""
        self.sessions, self.reads, self.box, self.public_url = sessions, reads, box, public_url.rstrip("/")
        self.keys = SigningKeys(box)

    def issuer(self, tenant_id: str) -> str:
        return f"{self.public_url}/{tenant_id}/"

    def endpoint(self, tenant_id: str) -> str:
        return f"{self.public_url}/{tenant_id}/saml2"

    # --- the request ------------------------------------------------------------------------------------------

    def accept(self, tenant_id: str, message: InboundMessage, now: datetime, client: Client = Client()) -> Pending:
        """Check an AuthnRequest against the app it names. Raises ``SsoRefusedError``."""
        claimed = peek(message.xml)
        with self.reads() as session:
            app = app_by_entity_id(session, tenant_id, claimed.issuer) if claimed.issuer else None
            certificates = request_certificates(session, app, now) if app else []
        if app is None:
            raise self._fail(tenant_id, None, _not_found(claimed.issuer, tenant_id), now, client=client)
        try:
            request = read_authn_request(message, certificates, require_signed=app.require_signed_requests)
        except SamlError as exc:
            raise self._fail(tenant_id, app, exc, now, client=client) from None
        acs = request.acs_url or (app.reply_urls[0] if app.reply_urls else None)
        if acs is None:
            raise self._fail(tenant_id, app, SamlError("900971", "No reply address provided."), now, client=client)
        if acs not in app.reply_urls:
            error = SamlError(
                "50011",
                f"The redirect URI '{acs[:512]}' specified in the request does not match the redirect URIs configured "
                f"for the application '{app.app_id}'. Make sure the redirect URI sent in the request matches one added "
                "to your application in the Azure portal.",
            )
            raise self._fail(tenant_id, app, error, now, client=client)
        if not app.enabled:
            error = SamlError("7000112", f"Application '{app.app_id}'({app.display_name}) is disabled.")
            raise self._fail(tenant_id, app, error, now, client=client)
        return Pending(
            tenant_id=tenant_id,
            app_id=app.app_id,
            request_id=request.id,
            acs=acs,
            entity_id=request.issuer,
            relay_state=request.relay_state,
            name_id_format=request.name_id_format,
            sp_name_qualifier=request.sp_name_qualifier,
            force_authn=request.force_authn,
            is_passive=request.is_passive,
            authn_contexts=request.authn_contexts,
            at=now,
        )

    def unsolicited(self, tenant_id: str, app_id: str, now: datetime) -> Pending:
        """IdP-initiated sign-in (My Apps): to the app's default reply URL with its configured RelayState."""
        with self.reads() as session:
            app = app_by_app_id(session, tenant_id, app_id)
        if app is None or not app.reply_urls:
            raise self._fail(tenant_id, app, _not_found(app_id, tenant_id), now)
        return Pending(
            tenant_id=tenant_id,
            app_id=app.app_id,
            request_id=None,
            acs=app.reply_urls[0],
            entity_id=app.entity_id_for(None),
            relay_state=app.relay_state,
            name_id_format=None,
            sp_name_qualifier=None,
            force_authn=False,
            is_passive=False,
            authn_contexts=(),
            at=now,
        )

    def seal(self, pending: Pending) -> str:
        data = {k: v for k, v in pending.__dict__.items() if k != "at"} | {"at": pending.at.isoformat()}
        return self.box.encrypt(
            _SEALED, json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode(), pending.tenant_id
        )

    def open(self, tenant_id: str, sealed: str | None, now: datetime) -> Pending | None:
        if not sealed or len(sealed) > 8192:
            return None
        try:
            data: dict[str, Any] = json.loads(self.box.decrypt(_SEALED, sealed, tenant_id))
            pending = Pending(
                **(data | {"at": datetime.fromisoformat(data["at"]), "authn_contexts": tuple(data["authn_contexts"])})
            )
        except (DecryptionError, ValueError, TypeError, KeyError):
            return None
        return pending if pending.tenant_id == tenant_id and now - pending.at < PENDING_LIFETIME else None

    def passive_failure(self, pending: Pending, now: datetime) -> SsoRefusedError:
        error = SamlError(
            "50058", "A silent sign-in request was sent but no user is signed in.", status=STATUS_NO_PASSIVE
        )
        return self._fail(pending.tenant_id, self.app_of(pending), error, now, pending=pending)

    # --- the answer -------------------------------------------------------------------------------------------

    def app_of(self, pending: Pending) -> SamlApp:
        with self.reads() as session:
            app = app_by_app_id(session, pending.tenant_id, pending.app_id)
        if app is None:
            raise SsoRefusedError(_not_found(pending.entity_id, pending.tenant_id))
        return app

    def answer(self, pending: Pending, user: User, visitor: Visitor, now: datetime) -> PostMessage:
        """The signed Response for ``user``; records the sign-in and the session's participation, and the
        request's id so that it is answered only once. Raises ``SsoRefusedError``."""
        app = self.app_of(pending)
        if not app.enabled:  # IdP-initiated sign-in comes here directly; an SP's request may wait an hour
            error = SamlError("7000112", f"Application '{app.app_id}'({app.display_name}) is disabled.")
            raise self._fail(pending.tenant_id, app, error, now, user=user, visitor=visitor)
        if not user.account_enabled or user.deleted_at is not None:
            error = SamlError("50057", "The user account is disabled.", status=STATUS_REQUEST_DENIED)
            raise self._fail(pending.tenant_id, app, error, now, user=user, visitor=visitor)
        achieved = sorted({c for m in visitor.amr for c in _AC_BY_METHOD.get(m, [])}) or [AC_PASSWORD]
        achieved.sort(key=lambda c: c != AC_PASSWORD)
        try:
            context = check_authn_context(pending.authn_contexts, achieved)
        except SamlError as exc:
            raise self._fail(pending.tenant_id, app, exc, now, user=user, visitor=visitor, pending=pending) from None
        with self.reads() as session:
            found = standing(session, app, user.id)
            key = self.keys.active(session, app, now)
        if app.assignment_required and not found.assigned:
            error = SamlError(
                "50105",
                f"Your administrator has configured the application {app.display_name} ('{app.app_id}') to block "
                "users unless they are specifically granted ('assigned') access to the application. The signed in "
                f"user '{user.user_principal_name}' is blocked because they are not a direct member of a group with "
                "access, nor had access directly assigned by an administrator.",
                status=STATUS_REQUEST_DENIED,
            )
            raise self._fail(pending.tenant_id, app, error, now, user=user, visitor=visitor)
        access = self._access(pending, app, user, visitor, now)
        if key is None:
            error = SamlError("50000", f"The application '{app.app_id}' has no active token-signing certificate.")
            raise self._fail(pending.tenant_id, app, error, now, user=user, visitor=visitor)
        issuer = self.issuer(pending.tenant_id)
        claims = default_claims(
            saml_user(user, found, self.public_url, issuer),
            include_groups=app.include_groups,
            name_id_source=app.name_id_source,
        )
        name_format = resolve_format(pending.name_id_format, app.name_id_format, claims.name_id_format)
        name_id = build_name_id(
            name_format,
            source_value=claims.name_id_source,
            tenant_key=self.pairwise_key(pending.tenant_id),
            sp_entity_id=pending.entity_id,
            object_id=user.id,
            sp_name_qualifier=pending.sp_name_qualifier,
            configured=pending.name_id_format is None,
        )
        session_index = "_" + hashlib.sha256(f"{visitor.sid}\x00{app.app_id}".encode()).hexdigest()[:32]
        xml = build_response(
            Addressing(issuer, pending.acs, pending.entity_id, pending.request_id, now),
            Authentication(name_id, claims.attributes, visitor.auth_time, session_index, context),
            Signing(key, app.signing, app.algorithm),
        )
        event = self._event(pending.tenant_id, app, now, user=user, visitor=visitor, access=access)
        try:
            with self.sessions.begin() as session:
                if pending.request_id is not None:
                    # Expired ids go as new ones come: the table stays as small as the last hour's requests.
                    session.execute(delete(UsedAssertion).where(UsedAssertion.expires_at <= now))
                    session.add(
                        UsedAssertion(
                            jti=self._replay_key(app, pending.request_id), expires_at=pending.at + PENDING_LIFETIME
                        )
                    )
                session.merge(
                    SsoParticipant(
                        sid=visitor.sid,
                        app_id=app.app_id,
                        protocol="saml",
                        tenant_id=pending.tenant_id,
                        user_id=user.id,
                        name_id=name_id.value[:512],
                        name_id_format=name_id.format,
                        session_index=session_index,
                        created_at=now,
                    )
                )
                sign_in_log.add(session, event)
        except IntegrityError:
            error = invalid_message(
                f"The request '{pending.request_id}' was already answered; start the sign-in again."
            )
            raise self._fail(pending.tenant_id, app, error, now, user=user, visitor=visitor) from None
        return PostMessage(pending.acs, post_fields("SAMLResponse", xml, pending.relay_state))

    def _access(self, pending: Pending, app: SamlApp, user: User, visitor: Visitor, now: datetime) -> AccessDecision:
        """Conditional access for this user and app: refused (AADSTS53003, an error Response to the app), a
        second factor to ask for first (``MfaRequiredError``), or the decision the log records."""
        request = AccessRequest(
            pending.tenant_id,
            user,
            now,
            visitor.amr,
            visitor.auth_time,
            app_id=app.app_id,
            ip_address=visitor.client.address,
        )
        try:
            with self.reads() as session:
                access = authorize_access(session, request, silent=pending.is_passive)
        except AccessRefusedError as refused:
            error = SamlError(str(refused.code), refused.message, status=STATUS_REQUEST_DENIED)
            raise self._fail(
                pending.tenant_id, app, error, now, user=user, visitor=visitor, pending=pending, access=refused.access
            ) from None
        if "mfa" in access.required or access.reauthenticate:
            raise MfaRequiredError()
        if access.required:
            raise TermsRequiredError(tuple(terms_required(access)))
        return access

    def pairwise_key(self, tenant_id: str) -> bytes:
        return bytes.fromhex(self.box.mac("saml-pairwise", tenant_id))

    @staticmethod
    def _replay_key(app: SamlApp, request_id: str) -> str:
        return hashlib.sha256(f"saml-authn\x00{app.sp_id}\x00{request_id}".encode()).hexdigest()

    # --- failures and the log ---------------------------------------------------------------------------------

    def _event(
        self,
        tenant_id: str,
        app: SamlApp | None,
        now: datetime,
        *,
        user: User | None = None,
        visitor: Visitor | None = None,
        error: SamlError | None = None,
        client: Client | None = None,
        access: AccessDecision | None = None,
    ) -> sign_in_log.SignInEvent:
        client = client or (visitor.client if visitor else Client())
        details: dict[str, Any] = {"amr": list(visitor.amr)} if visitor else {}
        if access is not None:
            details.update(log_details(access))
        return sign_in_log.SignInEvent(
            tenant_id=tenant_id,
            at=now,
            protocol="saml",
            app_id=app.app_id if app else None,
            app_display_name=app.display_name if app else None,
            resource_display_name=app.display_name if app else None,
            user=user,
            home_tenant_id=home_tenant_of(user) if user is not None else None,
            ip_address=client.address,
            user_agent=client.user_agent,
            correlation_id=secrets.token_hex(16),
            error_code=int(error.code) if error else 0,
            failure_reason=error.text if error else None,
            conditional_access_status=access.status if access is not None else "notApplied",
            details=details,
        )

    def _fail(
        self,
        tenant_id: str,
        app: SamlApp | None,
        error: SamlError,
        now: datetime,
        *,
        user: User | None = None,
        visitor: Visitor | None = None,
        pending: Pending | None = None,
        client: Client | None = None,
        access: AccessDecision | None = None,
    ) -> SsoRefusedError:
        """Record the failure and build what to send: an error Response to a trusted ACS, when ``pending`` says
        which one (the request was accepted), else nothing (a page)."""
        event = self._event(tenant_id, app, now, user=user, visitor=visitor, error=error, client=client, access=access)
        sign_in_log.record(self.sessions, event)
        reply = None
        if pending is not None and app is not None:
            with self.reads() as session:
                key = self.keys.active(session, app, now)
            if key is not None:
                xml = build_error_response(
                    Addressing(self.issuer(tenant_id), pending.acs, pending.entity_id, pending.request_id, now),
                    error,
                    Signing(key, "response", app.algorithm),
                    trace_id=str(event.correlation_id),
                )
                reply = PostMessage(pending.acs, post_fields("SAMLResponse", xml, pending.relay_state))
        return SsoRefusedError(error, reply, app.display_name if app else None)

    # --- metadata ---------------------------------------------------------------------------------------------

    def metadata(self, tenant_id: str, app_id: str | None, now: datetime) -> bytes:
        """The IdP's metadata: with ``app_id``, that app's certificates, signed with its active key; without, the
        tenant's endpoints and formats (each SAML app publishes its own certificates)."""
        certificates: list[str] = []
        key = None
        if app_id:
            with self.reads() as session:
                app = app_by_app_id(session, tenant_id, app_id)
                if app is None:
                    raise SsoRefusedError(_not_found(app_id, tenant_id))
                certificates = published_certificates(session, app, now)
                key = self.keys.active(session, app, now)
        return build_metadata(
            entity_id=self.issuer(tenant_id),
            endpoint=self.endpoint(tenant_id),
            certificates_b64=certificates,
            signing_key=key,
        )
