"""Entitlement management's emails (one template, ``access_package``, by event): access granted, access ended,
approval needed, request denied, access ending soon; in the recipient's language."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import lru_cache

from hospes.mail.compose import (
    ComposedMail,
    Mailbox,
    OutgoingMail,
    Rendered,
    compose,
    gettext_for,
    localized_date,
    one_line,
    render,
)

EVENTS = ("granted", "ended", "approval", "denied", "expiring")


@dataclass(frozen=True)
class AccessMailData:
    event: str
    message_key: str  # unique per message (the Message-ID's local part)
    language: str
    platform: str
    sender_address: str
    org_name: str
    recipient: str
    package: str
    link: str
    requestor: str = ""
    justification: str = ""
    end: dt.datetime | None = None


@lru_cache(maxsize=256)
def _rendered(context: tuple[tuple[str, object], ...]) -> Rendered:
    """The same mail to many people (a batch of expiries of one package) is rendered once: the recipient is not part
    of the text, only of the envelope."""
    values = dict(context)
    return render("access_package", str(values["html_lang"]), values)


def build_access_mail(data: AccessMailData, now: dt.datetime) -> ComposedMail:
    if data.event not in EVENTS:
        raise ValueError(data.event)
    org = one_line(data.org_name) or data.platform
    context = {
        "event": data.event,
        "org_name": org,
        "package": one_line(data.package),
        "requestor": one_line(data.requestor),
        "justification": one_line(data.justification, 1000),
        "date": localized_date(data.end, data.language) if data.end else "",
        "link": data.link,
        "platform": data.platform,
        "html_lang": data.language,
    }
    content = _rendered(tuple(sorted(context.items())))
    sender_name = gettext_for(data.language, "%(tenant)s via %(platform)s", tenant=org, platform=data.platform)
    domain = data.sender_address.rpartition("@")[2] or "hospes.invalid"
    mail = OutgoingMail(
        sender=Mailbox(data.sender_address, one_line(sender_name)),
        to=Mailbox(data.recipient),
        message_id=f"access.{data.event}.{data.message_key}@{domain}",
    )
    return compose(mail, content, data.language, now)
