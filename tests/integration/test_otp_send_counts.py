"""The hourly cap on email passcodes holds under concurrent requests on PostgreSQL (READ COMMITTED: each request
would otherwise count only the codes committed before it, and all would send)."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime

from sqlalchemy.orm import Session, sessionmaker

from hospes.auth.crypto import SecretBox
from hospes.services.email_otp import EmailOtpService
from hospes.services.throttle import Throttle
from hospes.settings import Settings


def test_concurrent_sends_never_pass_the_hourly_cap(sessions: sessionmaker[Session], settings: Settings) -> None:
    cap = 3
    service = EmailOtpService(
        sessions,
        SecretBox(b"k" * 32),
        Throttle(sessions, settings),
        settings.model_copy(update={"email_otp_sends_per_hour": cap}),
    )
    email, address = f"{uuid.uuid4().hex[:8]}@partner.example", f"198.51.100.{uuid.uuid4().int % 250}"
    outcomes: list[str] = []
    start = threading.Barrier(8)

    def send() -> None:
        start.wait()
        with sessions.begin() as session:
            issued = service.issue(
                session,
                flow_hash=uuid.uuid4().hex,
                tenant_id=None,
                email=email,
                deliverable=True,
                address=address,
                now=datetime.now(UTC),
            )
        outcomes.append(issued.outcome)

    threads = [threading.Thread(target=send) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(outcomes) == ["limited"] * 5 + ["sent"] * cap
