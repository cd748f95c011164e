"""One redeem link accepted from several browsers at once: exactly one acceptance wins, the others are refused as
"used", and the user gets one identity and one change-log entry for the state change."""

from __future__ import annotations

import threading
from typing import Any
from urllib.parse import parse_qs, urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from hospes.auth.crypto import secret_box
from hospes.domain.clock import utcnow
from hospes.domain.invitation import InvitationRequest
from hospes.domain.principals import Principal
from hospes.services.email_otp import EmailOtpService
from hospes.services.invitations.service import InvitationService, InviteConfig
from hospes.services.mfa import MfaService
from hospes.services.redemption import RedemptionRefusedError, RedemptionService
from hospes.services.throttle import Throttle
from hospes.settings import Settings
from hospes.storage.engine import Database
from hospes.storage.tables import ChangeLog, User
from tests.helpers.tenants import TenantHandle

BROWSERS = 6


def test_one_link_accepted_concurrently_wins_once(
    tenant: TenantHandle, database: Database, sessions: sessionmaker[Session], settings: Settings
) -> None:
    actor = Principal(tenant.id, "app", "", "Concurrency", frozenset({"User.Invite.All"}))
    invitations = InvitationService(database, actor, InviteConfig.from_settings(settings, lambda p, v: "sealed"))
    result = invitations.invite(InvitationRequest(email="twice@partner.example", redirect_url="https://a.example"))
    query = parse_qs(urlsplit(result.redeem_url).query)
    box = secret_box(settings.secret_key, settings.data_dir)
    otp = EmailOtpService(sessions, box, Throttle(sessions, settings), settings)
    service = RedemptionService(sessions, box, otp, settings, MfaService(sessions, box))
    flows = []
    for _ in range(BROWSERS):  # every browser opened the link and proved the address
        token = service.start_from_link(tenant.id, query["invitation"][0], query["ticket"][0], utcnow())
        assert isinstance(token, str)
        flow = service.load(token, utcnow())
        assert flow is not None
        flow.verified_method, flow.data = "mail", {"amr": ["email"]}
        flows.append(flow)
    barrier = threading.Barrier(BROWSERS)
    won: list[Any] = []
    refused: list[str] = []
    errors: list[BaseException] = []

    def accept(flow: Any) -> None:
        barrier.wait()
        try:
            won.append(service.accept(flow, utcnow()))
        except RedemptionRefusedError as exc:
            refused.append(exc.reason)
        except BaseException as exc:  # collected and asserted on below
            errors.append(exc)

    threads = [threading.Thread(target=accept, args=(flow,)) for flow in flows]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == []
    assert len(won) == 1 and refused == ["used"] * (BROWSERS - 1)
    with sessions() as session:
        user = session.get(User, result.user.id)
        assert user is not None and user.external_user_state == "Accepted"
        assert [i["issuer"] for i in user.identities if i["signInType"] == "federated"] == ["mail"]
        changes = list(
            session.scalars(
                select(ChangeLog).where(ChangeLog.tenant_id == tenant.id, ChangeLog.object_id == result.user.id)
            )
        )
        assert sum(c.change_type == "updated" and "externalUserState" in c.properties for c in changes) == 1
