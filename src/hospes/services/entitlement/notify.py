"""Entitlement management's emails through the outbox, in the transaction of the step they report (a rolled-back
step sends nothing)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from hospes.domain.ids import new_id
from hospes.mail.access_mail import AccessMailData, build_access_mail
from hospes.mail.i18n import choose_language
from hospes.mail.outbox import enqueue
from hospes.services.base import Write
from hospes.settings import Settings
from hospes.storage.tables import Tenant, User
from hospes.storage.tables_entitlement import EmPackage, EmSubject


@dataclass(frozen=True)
class EmConfig:
    """What entitlement management takes from the process: where My Access is, and who sends its mail."""

    public_url: str
    mail_from: str
    platform: str

    @classmethod
    def from_settings(cls, settings: Settings) -> EmConfig:
        return cls(settings.public_url.rstrip("/"), settings.mail_from, settings.mail_platform_name)

    def my_access(self, tenant_id: str, path: str = "") -> str:
        return f"{self.public_url}/{tenant_id}/myaccess{path}"


def recipient_of(op: Write, subject: EmSubject) -> tuple[str | None, str | None]:
    """The address and preferred language of a subject: their user's, or what an external requestor gave."""
    if subject.object_id:
        user = op.session.get(User, subject.object_id)
        if user is not None:
            return (user.mail or subject.email), user.preferred_language
    return subject.email, None


def send(
    op: Write,
    config: EmConfig | None,
    event: str,
    to: tuple[str | None, str | None],
    package: EmPackage,
    *,
    requestor: str = "",
    justification: str = "",
    end: datetime | None = None,
    link_path: str = "",
) -> None:
    address, language = to
    if config is None or not address:
        return
    tenant = op.session.get(Tenant, op.actor.tenant_id)
    lang = choose_language(language, tenant.preferred_language if tenant else None)
    data = AccessMailData(
        event=event,
        message_key=new_id(),
        language=lang,
        platform=config.platform,
        sender_address=config.mail_from,
        org_name=tenant.display_name if tenant else "",
        recipient=address,
        package=package.display_name,
        link=config.my_access(op.actor.tenant_id, link_path),
        requestor=requestor,
        justification=justification,
        end=end,
    )
    mail = build_access_mail(data, op.now)
    enqueue(
        op.session,
        mail,
        envelope_from=config.mail_from,
        recipients=[address],
        kind=f"access_{event}",
        tenant_id=op.actor.tenant_id,
        related_id=package.id,
        now=op.now,
    )
