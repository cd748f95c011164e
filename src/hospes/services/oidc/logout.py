"""Sign-out (OpenID Connect RP-Initiated Logout and Front-Channel Logout): which apps a browser session signed in
to, and where the browser may go afterwards.

Every app the session signed in to is a participant (``sso_participants``, with its protocol). An OpenID Connect
participant with a front-channel logout URL is told in a hidden frame (``{logoutUrl}?iss=…&sid=…``); SAML
participants are reached by SAML single logout, which the caller may start from the same list. The browser goes
on to ``post_logout_redirect_uri`` only when that URI is registered for the client the request names (by
``client_id`` or by the ``aud`` of its ``id_token_hint``).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from hospes.services.guest_flows import safe_redirect
from hospes.services.oidc.claims import OidcTokens
from hospes.services.oidc.clients import load_relying_party
from hospes.services.oidc.hints import audience_of_hint
from hospes.storage.tables import Application, ServicePrincipal
from hospes.storage.tables_sso import SsoParticipant


@dataclass(frozen=True)
class Participant:
    app_id: str
    name: str
    protocol: str  # oidc | saml
    frame_url: str | None  # OpenID front-channel logout: the URL to load in a hidden frame


@dataclass(frozen=True)
class LogoutRequest:
    """A checked end-session request."""

    client_id: str | None
    redirect: str | None  # the registered post_logout_redirect_uri (with ``state``), or None
    hinted_sid: str | None  # the ``sid`` of a valid id_token_hint: the client knows this session
    refused_redirect: bool  # a post_logout_redirect_uri was given but is not registered for the client


class EndSession:
    def __init__(self, sessions: sessionmaker[Session], tokens: OidcTokens) -> None:
        self.sessions, self.tokens = sessions, tokens

    def check(self, tenant_id: str, params: dict[str, str]) -> LogoutRequest:
        client_id = params.get("client_id") or None
        hinted_sid = None
        hint = params.get("id_token_hint")
        if hint:
            found = audience_of_hint(self.tokens.issuer, hint[:8192], tenant_id)
            if found is not None:
                client_id = client_id or found[0]
                if client_id == found[0]:
                    hinted_sid = found[1] or None
        asked = params.get("post_logout_redirect_uri")
        redirect = None
        if asked and client_id:
            with self.sessions() as session:
                rp = load_relying_party(session, tenant_id, client_id[:64])
            if rp is not None and asked in rp.redirect_uris and safe_redirect(asked) is not None:
                redirect = asked
                state = params.get("state")
                if state:
                    redirect += ("&" if "?" in asked else "?") + urlencode({"state": state[:2048]})
        return LogoutRequest(client_id, redirect, hinted_sid, refused_redirect=bool(asked) and redirect is None)

    def participants(self, sid: str) -> list[Participant]:
        """The apps this session signed in to, in sign-in order, in any tenant (a guest signed in at home reaches
        apps of other tenants with the same session); OpenID ones with their front-channel URL."""
        out: list[Participant] = []
        with self.sessions() as session:
            rows = session.execute(
                select(SsoParticipant, ServicePrincipal, Application)
                .join(
                    ServicePrincipal,
                    (ServicePrincipal.app_id == SsoParticipant.app_id)
                    & (ServicePrincipal.tenant_id == SsoParticipant.tenant_id),
                )
                .outerjoin(Application, Application.id == ServicePrincipal.application_id)
                .where(SsoParticipant.sid == sid)
                .order_by(SsoParticipant.created_at, SsoParticipant.app_id)
            )
            for participant, sp, app in rows:
                frame = None
                if participant.protocol == "oidc":
                    url = safe_redirect(sp.logout_url or (app.logout_url if app is not None else None))
                    if url is not None:
                        issuer = self.tokens.issuer.issuer(participant.tenant_id)
                        frame = f"{url}{'&' if '?' in url else '?'}{urlencode({'iss': issuer, 'sid': sid})}"
                out.append(Participant(participant.app_id, sp.display_name, participant.protocol, frame))
        return out

    def forget(self, sid: str) -> None:
        """The session ended: its participants go with it."""
        with self.sessions.begin() as session:
            session.execute(delete(SsoParticipant).where(SsoParticipant.sid == sid))
