"""The provisioning quarantine notice ("Send an email notification when a failure occurs"): which application of
which organization is in quarantine, why, when the next attempt is, and what to do, in the tenant's language."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from hospes.domain.provisioning import StopReason
from hospes.mail.compose import ComposedMail, Mailbox, OutgoingMail, compose, one_line, render


@dataclass(frozen=True)
class QuarantineMailData:
    job_id: str
    language: str
    platform: str
    sender_address: str
    recipient: str
    app_name: str
    tenant_name: str
    reason: str
    detail: str
    next_attempt: dt.datetime | None


def build_quarantine_mail(data: QuarantineMailData, now: dt.datetime) -> ComposedMail:
    context = {
        "app": one_line(data.app_name),
        "tenant": one_line(data.tenant_name),
        "reason": data.reason,
        "detail": one_line(data.detail, 1000),
        "next_attempt": None if data.next_attempt is None else data.next_attempt.strftime("%Y-%m-%d %H:%M UTC"),
        "too_many_deletes": data.reason == StopReason.TOO_MANY_DELETES,
        "html_lang": data.language,
    }
    content = render("provisioning_quarantine", data.language, context)
    domain = data.sender_address.rpartition("@")[2] or "hospes.invalid"
    stamp = int(now.timestamp())
    mail = OutgoingMail(
        sender=Mailbox(data.sender_address, data.platform),
        to=Mailbox(data.recipient),
        message_id=f"provisioning.{data.job_id}.{data.reason}.{stamp}.{abs(hash(data.recipient)) % 10**8}@{domain}",
    )
    return compose(mail, content, data.language, now)
