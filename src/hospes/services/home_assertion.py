"""The home-tenant round trip of a guest flow: when the guest's address belongs to a verified domain of another tenant
of this deployment, the guest signs in there (with that tenant's password and MFA) and comes back with a *return
assertion*: sealed for the resource tenant only, naming the browser's flow, valid two minutes, usable once."""

from __future__ import annotations

import json
import secrets
from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from hospes.auth.crypto import DecryptionError, SecretBox
from hospes.services.guest_flows import FlowView, GuestFlows, OrgView, home_tenant_of
from hospes.storage.tables import User
from hospes.storage.tables_redemption import UsedAssertion

ASSERTION_LIFETIME = timedelta(seconds=120)
_ASSERTION = "home-assertion"


class HomeAssertions:
    def __init__(self, sessions: sessionmaker[Session], box: SecretBox, flows: GuestFlows) -> None:
        self.sessions, self.box, self.flows = sessions, box, flows

    def home_tenant(self, email: str, resource_tenant_id: str | None) -> OrgView | None:
        with self.sessions() as session:
            return home_tenant_of(session, email, resource_tenant_id)

    def issue_assertion(self, flow: FlowView, home_user: User, amr: list[str], now: datetime) -> str | None:
        """Called on the home tenant's side for its signed-in user: a sealed statement "this flow's address signed
        in here, with these methods", for the resource tenant only, valid two minutes, usable once. None when the
        signed-in user is not the invited address."""
        email = flow.email.lower()
        if email not in {home_user.upn_key, (home_user.mail_key or "")} or flow.tenant_id is None:
            return None
        payload = {
            "flow": flow.flow_id,
            "home": home_user.tenant_id,
            "sub": home_user.id,
            "email": email,
            "amr": amr,
            "jti": secrets.token_hex(16),
            "exp": int((now + ASSERTION_LIFETIME).timestamp()),
        }
        return self.box.encrypt(_ASSERTION, json.dumps(payload).encode(), flow.tenant_id)

    def accept_assertion(self, flow: FlowView, assertion: str, now: datetime) -> bool:
        """Back at the resource tenant: the assertion must open with this tenant as context, name this browser's
        flow, be fresh and unused. Then the flow's address counts as proven, by the home tenant."""
        if flow.tenant_id is None or len(assertion) > 4096:
            return False
        try:
            payload = json.loads(self.box.decrypt(_ASSERTION, assertion, flow.tenant_id))
        except (DecryptionError, ValueError):
            return False
        if payload.get("flow") != flow.flow_id or payload.get("email") != flow.email.lower():
            return False
        expires = datetime.fromtimestamp(int(payload.get("exp", 0)), tz=now.tzinfo)
        if expires <= now:
            return False
        home = self.home_tenant(flow.email, flow.tenant_id)
        if home is None or home.id != payload.get("home"):
            return False
        try:
            with self.sessions.begin() as session:
                session.execute(delete(UsedAssertion).where(UsedAssertion.expires_at <= now))
                session.add(UsedAssertion(jti=str(payload["jti"])[:64], expires_at=expires))
        except IntegrityError:
            return False  # replayed
        amr = [str(m) for m in payload.get("amr", [])][:8]
        self.flows.update(
            flow,
            verified_method="home",
            verified_at=now,
            data={**flow.data, "amr": amr, "home": {"tenant": payload["home"], "user": payload["sub"]}},
        )
        return True
