"""The provisioning notification email ("Send an email notification when a failure occurs"): one message when a
job enters quarantine and one more whenever the reason changes, written to the mail outbox in the same transaction
as the state change, so it is neither lost nor sent for a state that was rolled back. The message itself is the
``provisioning_quarantine`` mail template (``hospes.mail.provisioning_mail``)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session

from hospes.mail.i18n import choose_language
from hospes.mail.outbox import enqueue
from hospes.mail.provisioning_mail import QuarantineMailData, build_quarantine_mail
from hospes.settings import Settings


def enqueue_notice(
    session: Session,
    settings: Settings,
    *,
    tenant_id: str,
    tenant_name: str,
    tenant_language: str | None,
    job_id: str,
    app_name: str,
    recipients: list[str],
    reason: str,
    detail: str,
    next_attempt: dt.datetime | None,
    now: dt.datetime,
) -> None:
    language = choose_language(tenant_language)
    for recipient in recipients:
        data = QuarantineMailData(
            job_id=job_id,
            language=language,
            platform=settings.mail_platform_name,
            sender_address=settings.mail_from,
            recipient=recipient,
            app_name=app_name,
            tenant_name=tenant_name,
            reason=reason,
            detail=detail,
            next_attempt=next_attempt,
        )
        enqueue(
            session,
            build_quarantine_mail(data, now),
            envelope_from=settings.mail_from,
            recipients=[recipient],
            kind="provisioning",
            tenant_id=tenant_id,
            related_id=None,
            now=now,
        )
