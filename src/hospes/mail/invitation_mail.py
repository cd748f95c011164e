"""The invitation email, element by element as Entra sends it: subject, From "<tenant> via <platform>", Reply-To the
inviter, phishing warning, inviter and organization, the customized message as plain text, the Accept button and
the redirect URL, and a footer with "block future invitations" and the privacy statement (or a note)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from hospes.mail.compose import (
    ComposedMail,
    Mailbox,
    OutgoingMail,
    compose,
    gettext_for,
    localized_date,
    one_line,
    render,
)


@dataclass(frozen=True)
class InvitationMailData:
    invitation_id: str
    language: str
    platform: str
    sender_address: str
    tenant_name: str
    tenant_domain: str
    inviter_name: str
    inviter_email: str | None
    recipient: Mailbox
    cc: list[Mailbox]
    message: str | None
    redirect_url: str
    redeem_url: str
    block_url: str
    privacy_url: str | None
    expires_at: dt.datetime


def build_invitation_mail(data: InvitationMailData, now: dt.datetime) -> ComposedMail:
    tenant_name = one_line(data.tenant_name) or data.tenant_domain
    inviter_name = one_line(data.inviter_name) or tenant_name
    context = {
        "inviter_name": inviter_name,
        "inviter_initial": inviter_name[:1].upper(),
        "inviter_email": data.inviter_email,
        "tenant_name": tenant_name,
        "tenant_domain": data.tenant_domain,
        "message": data.message,
        "redirect_url": data.redirect_url,
        "redeem_url": data.redeem_url,
        "block_url": data.block_url,
        "privacy_url": data.privacy_url,
        "platform": data.platform,
        "expires": localized_date(data.expires_at, data.language),
        "html_lang": data.language,
    }
    content = render("invitation", data.language, context)
    from_name = gettext_for(data.language, "%(tenant)s via %(platform)s", tenant=tenant_name, platform=data.platform)
    domain = data.sender_address.rpartition("@")[2] or "hospes.invalid"
    mail = OutgoingMail(
        sender=Mailbox(data.sender_address, one_line(from_name)),
        to=data.recipient,
        cc=data.cc,
        reply_to=Mailbox(data.inviter_email, inviter_name) if data.inviter_email else None,
        message_id=f"invitation.{data.invitation_id}@{domain}",
        unsubscribe_url=data.block_url,
    )
    return compose(mail, content, data.language, now)
