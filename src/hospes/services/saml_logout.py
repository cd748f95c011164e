"""SAML single logout: an SP's LogoutRequest ends the browser session it names (by SessionIndex, else NameID, else
the browser's own session), Hospes then sends a LogoutRequest to every other SAML participant of that session, one
after the other by HTTP-Redirect (the state of the chain travels sealed in RelayState), and finally answers the
initiator with a signed LogoutResponse. Signing out of Hospes itself tells every SAML app of the session the same
way, then lands on Hospes' signed-out page. Every message is signed over its query string with the app's key."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from hospes.auth.crypto import DecryptionError
from hospes.saml.authn_request import peek
from hospes.saml.bindings import InboundMessage, redirect_url
from hospes.saml.common import STATUS_SUCCESS, SamlError
from hospes.saml.logout import build_logout_request, build_logout_response, read_logout_request, read_logout_response
from hospes.saml.nameid import NameId
from hospes.services.saml_apps import SamlApp, app_by_app_id, app_by_entity_id, request_certificates
from hospes.services.saml_signin import SamlSignIn, SsoRefusedError
from hospes.storage.tables_signin import WebSession
from hospes.storage.tables_sso import SsoParticipant

_SEALED = "saml-logout"


@dataclass(frozen=True)
class LogoutStep:
    """Where the browser goes next (None: nowhere to send it; show a signed-out page) and the session ended."""

    redirect: str | None
    ended_sid: str | None


class SamlLogout:
    def __init__(self, signin: SamlSignIn) -> None:
        self.signin = signin
        self.sessions, self.reads, self.box = signin.sessions, signin.reads, signin.box

    def start(self, tenant_id: str, message: InboundMessage, browser_sid: str | None, now: datetime) -> LogoutStep:
        claimed = peek(message.xml)
        with self.reads() as session:
            app = app_by_entity_id(session, tenant_id, claimed.issuer) if claimed.issuer else None
            if app is None:
                raise SsoRefusedError(
                    SamlError(
                        "700016",
                        f"Application with identifier '{claimed.issuer}' was not found in the directory '{tenant_id}'.",
                    )
                )
            certificates = request_certificates(session, app, now)
        request = read_logout_request(message, certificates, now=now, require_signed=app.require_signed_requests)
        with self.sessions.begin() as session:
            sid = self._session_of(
                session, tenant_id, app, request.session_indexes, request.name_id, browser_sid, signed=request.signed
            )
            others = self._others(session, tenant_id, sid, app.app_id) if sid else []
            if sid:
                session.execute(delete(WebSession).where(WebSession.tenant_id == tenant_id, WebSession.sid == sid))
                self._forget(session, tenant_id, sid)
        state = {
            "initiator": app.app_id,
            "entity": request.issuer,
            "in_response_to": request.id,
            "relay_state": request.relay_state,
            "queue": others,
        }
        return LogoutStep(self._next(tenant_id, state, now), sid)

    def sign_out(self, tenant_id: str, sid: str, final: str, now: datetime) -> str | None:
        """The person signed out here (the session is already ended): the first SAML app of that session to tell,
        then the others, then ``final`` (a path of ours). None: no SAML app to tell."""
        with self.sessions.begin() as session:
            others = self._others(session, tenant_id, sid, None)
            self._forget(session, tenant_id, sid)
        if not others:
            return None
        return self._next(tenant_id, {"initiator": None, "final": final, "queue": others}, now)

    def resume(self, tenant_id: str, message: InboundMessage, now: datetime) -> LogoutStep:
        """A participant's LogoutResponse came back: on to the next participant, or the initiator."""
        state = self._open(tenant_id, message.relay_state)
        if state is None:
            return LogoutStep(None, None)
        with self.reads() as session:
            app = app_by_app_id(session, tenant_id, str(state.get("pending_app", "")))
            certificates = request_certificates(session, app, now) if app else []
        try:
            answer = read_logout_response(message, certificates)
        except SamlError:
            answer = None
        if answer is None or answer.in_response_to != state.get("pending_id"):
            return LogoutStep(None, None)  # not the answer this chain waits for
        return LogoutStep(self._next(tenant_id, state, now), None)

    # --- the chain --------------------------------------------------------------------------------------------

    def _next(self, tenant_id: str, state: dict[str, Any], now: datetime) -> str | None:
        issuer = self.signin.issuer(tenant_id)
        queue = list(state.get("queue", []))
        with self.reads() as session:
            while queue:
                entry = queue.pop(0)
                app = app_by_app_id(session, tenant_id, entry["app"])
                key = self.signin.keys.active(session, app, now) if app else None
                if app is None or not app.logout_url or key is None:
                    continue  # a participant Hospes cannot reach is skipped, not a dead end for the others
                name_id = NameId(entry["name_id"], entry["format"])
                request_id, xml = build_logout_request(
                    issuer=issuer, destination=app.logout_url, name_id=name_id, session_index=entry["index"], now=now
                )
                sealed = self._seal(
                    tenant_id, state | {"queue": queue, "pending_app": app.app_id, "pending_id": request_id}
                )
                return redirect_url(
                    app.logout_url, "SAMLRequest", xml, relay_state=sealed, key=key, algorithm=app.algorithm
                )
            if state.get("initiator") is None:
                return str(state["final"])  # signed out here: back to our own page
            initiator = app_by_app_id(session, tenant_id, str(state["initiator"]))
            key = self.signin.keys.active(session, initiator, now) if initiator else None
        if initiator is None or not initiator.logout_url:
            return None
        xml = build_logout_response(
            issuer=issuer,
            destination=initiator.logout_url,
            in_response_to=str(state["in_response_to"]),
            now=now,
            status=STATUS_SUCCESS,
        )
        return redirect_url(
            initiator.logout_url,
            "SAMLResponse",
            xml,
            relay_state=state.get("relay_state"),
            key=key,
            algorithm=initiator.algorithm,
        )

    @staticmethod
    def _session_of(
        session: Session,
        tenant_id: str,
        app: SamlApp,
        indexes: tuple[str, ...],
        name_id: str | None,
        browser_sid: str | None,
        *,
        signed: bool,
    ) -> str | None:
        """The session the request names: its SessionIndex, else its NameID, preferring the browser's own. An
        unsigned request may end only the browser's own session: anyone can write one, and a NameID in email
        format is easy to guess, so without the app's signature it must not reach another browser's session."""
        query = select(SsoParticipant.sid).where(
            SsoParticipant.tenant_id == tenant_id,
            SsoParticipant.app_id == app.app_id,
            SsoParticipant.protocol == "saml",
        )
        if not signed:
            if browser_sid is None:
                return None
            query = query.where(SsoParticipant.sid == browser_sid)
        if indexes:
            query = query.where(SsoParticipant.session_index.in_(indexes))
        elif name_id:
            query = query.where(SsoParticipant.name_id == name_id)
        elif browser_sid:
            query = query.where(SsoParticipant.sid == browser_sid)
        else:
            return None
        found = list(session.scalars(query))
        if browser_sid in found:
            return browser_sid
        return found[0] if len(found) == 1 else None

    @staticmethod
    def _others(session: Session, tenant_id: str, sid: str, initiator: str | None) -> list[dict[str, Any]]:
        query = select(SsoParticipant).where(
            SsoParticipant.sid == sid, SsoParticipant.tenant_id == tenant_id, SsoParticipant.protocol == "saml"
        )
        if initiator is not None:
            query = query.where(SsoParticipant.app_id != initiator)
        rows = session.scalars(query.order_by(SsoParticipant.created_at, SsoParticipant.app_id))
        return [
            {"app": r.app_id, "name_id": r.name_id, "format": r.name_id_format, "index": r.session_index} for r in rows
        ]

    @staticmethod
    def _forget(session: Session, tenant_id: str, sid: str) -> None:
        """The session's SAML participations (its OpenID Connect ones are that side's to end)."""
        session.execute(
            delete(SsoParticipant).where(
                SsoParticipant.sid == sid, SsoParticipant.tenant_id == tenant_id, SsoParticipant.protocol == "saml"
            )
        )

    def _seal(self, tenant_id: str, state: dict[str, Any]) -> str:
        return self.box.encrypt(_SEALED, json.dumps(state, separators=(",", ":")).encode(), tenant_id)

    def _open(self, tenant_id: str, sealed: str | None) -> dict[str, Any] | None:
        if not sealed or len(sealed) > 8192:
            return None
        try:
            state: dict[str, Any] = json.loads(self.box.decrypt(_SEALED, sealed, tenant_id))
        except (DecryptionError, ValueError):
            return None
        return state
