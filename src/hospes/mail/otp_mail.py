"""The email one-time passcode message: the code, its lifetime, and who sends it, in the guest's language (chosen
like the invitation's: the invitation's messageLanguage, the guest's preferredLanguage, the inviting tenant's)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from hospes.mail.compose import ComposedMail, Mailbox, OutgoingMail, compose, gettext_for, one_line, render


@dataclass(frozen=True)
class OtpMailData:
    code_id: str
    language: str
    platform: str
    sender_address: str
    org_name: str  # the inviting organization, or the platform for the unsubscribe portal
    recipient: str
    code: str
    minutes: int


def build_otp_mail(data: OtpMailData, now: dt.datetime) -> ComposedMail:
    org = one_line(data.org_name) or data.platform
    context = {
        "org_name": org,
        "code": data.code,
        "minutes": data.minutes,
        "platform": data.platform,
        "html_lang": data.language,
    }
    content = render("otp", data.language, context)
    sender_name = (
        org
        if org == data.platform
        else gettext_for(data.language, "%(tenant)s via %(platform)s", tenant=org, platform=data.platform)
    )
    domain = data.sender_address.rpartition("@")[2] or "hospes.invalid"
    mail = OutgoingMail(
        sender=Mailbox(data.sender_address, one_line(sender_name)),
        to=Mailbox(data.recipient),
        message_id=f"otp.{data.code_id}@{domain}",
    )
    return compose(mail, content, data.language, now)
