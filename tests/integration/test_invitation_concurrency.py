"""Concurrent invitations of one address create one guest user; every call succeeds (the losers re-invite)."""

from __future__ import annotations

import threading
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from hospes.domain.invitation import InvitationRequest
from hospes.domain.principals import Principal
from hospes.services.invitations.service import InvitationService, InviteConfig
from hospes.settings import Settings
from hospes.storage.engine import Database
from hospes.storage.tables import Invitation, RedemptionTicket, User
from tests.helpers.tenants import TenantHandle

THREADS = 8


def test_concurrent_invitations_make_one_user(
    tenant: TenantHandle, database: Database, sessions: sessionmaker[Session], settings: Settings
) -> None:
    actor = Principal(tenant.id, "app", "", "Concurrency", frozenset({"User.Invite.All"}))
    service = InvitationService(database, actor, InviteConfig.from_settings(settings, lambda p, v: "sealed"))
    barrier = threading.Barrier(THREADS)
    results: list[Any] = []
    errors: list[BaseException] = []

    def worker() -> None:
        barrier.wait()
        try:
            request = InvitationRequest(
                email="race@partner.example", redirect_url="https://a.example", send_message=True
            )
            results.append(service.invite(request))
        except BaseException as exc:  # collected and asserted on below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == []
    assert len({r.user.id for r in results}) == 1
    with sessions() as session:
        users = session.scalar(
            select(func.count())
            .select_from(User)
            .where(User.tenant_id == tenant.id, User.mail_key == "race@partner.example")
        )
        assert users == 1
        assert (
            session.scalar(select(func.count()).select_from(Invitation).where(Invitation.tenant_id == tenant.id))
            == THREADS
        )
        live = session.scalar(
            select(func.count())
            .select_from(RedemptionTicket)
            .where(RedemptionTicket.tenant_id == tenant.id, RedemptionTicket.revoked_at.is_(None))
        )
        assert live == 1  # exactly one working link: the newest
