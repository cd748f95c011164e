"""The provisioning notification email ("Send an email notification when a failure occurs"): one message when a
job enters quarantine and one more whenever the reason changes, written to the mail outbox in the same transaction
as the state change, so it is neither lost nor sent for a state that was rolled back."""

from __future__ import annotations

import datetime as dt
import html

from sqlalchemy.orm import Session

from hospes.mail.compose import Mailbox, OutgoingMail, Rendered, compose, one_line
from hospes.mail.i18n import choose_language
from hospes.mail.outbox import enqueue
from hospes.settings import Settings

# Small and fixed, so kept beside the code rather than in the invitation catalogs.
_TEXT: dict[str, dict[str, str]] = {
    "en-US": {
        "subject": "Provisioning of {app} is in quarantine",
        "intro": "The provisioning job of the application {app} in {tenant} was put in quarantine.",
        "reason": "Reason",
        "detail": "Details",
        "next": "Next attempt",
        "advice": "Fix the cause (for example the secret token or the tenant URL), then restart the job. "
        "Provisioning leaves quarantine by itself after a successful attempt.",
        "deletes": "Too many deletions were planned in one cycle. Review them and allow them with a restart "
        "using ForceDeletes, or correct the source.",
    },
    "fr-FR": {
        "subject": "L’approvisionnement de {app} est en quarantaine",
        "intro": "La tâche d’approvisionnement de l’application {app} dans {tenant} a été mise en quarantaine.",
        "reason": "Motif",
        "detail": "Détails",
        "next": "Prochaine tentative",
        "advice": "Corrigez la cause (par exemple le jeton secret ou l’URL du locataire), puis redémarrez la tâche. "
        "L’approvisionnement sort de quarantaine de lui-même après une tentative réussie.",
        "deletes": "Trop de suppressions étaient prévues dans un cycle. Vérifiez-les et autorisez-les par un "
        "redémarrage avec ForceDeletes, ou corrigez la source.",
    },
}


def render_notice(
    language: str, app: str, tenant: str, reason: str, detail: str, next_attempt: dt.datetime | None
) -> Rendered:
    words = _TEXT.get(language, _TEXT["en-US"])
    app, tenant = one_line(app), one_line(tenant)
    subject = words["subject"].format(app=app)
    lines = [words["intro"].format(app=app, tenant=tenant), "", f"{words['reason']}: {reason}"]
    if detail:
        lines.append(f"{words['detail']}: {one_line(detail, 1000)}")
    if next_attempt is not None:
        lines.append(f"{words['next']}: {next_attempt.strftime('%Y-%m-%d %H:%M UTC')}")
    lines += ["", words["deletes"] if reason == "TooManyDeletes" else words["advice"]]
    text = "\n".join(lines) + "\n"
    body = "".join(f"<p>{html.escape(line)}</p>" if line else "" for line in lines)
    page = (
        f'<!doctype html><html lang="{html.escape(language)}"><head><meta charset="utf-8">'
        f"<title>{html.escape(subject)}</title></head><body>{body}</body></html>"
    )
    return Rendered(subject, text, page)


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
    if not recipients:
        return
    language = choose_language(tenant_language)
    content = render_notice(language, app_name, tenant_name, reason, detail, next_attempt)
    domain = settings.mail_from.rpartition("@")[2] or "hospes.invalid"
    stamp = int(now.timestamp())
    for recipient in recipients:
        message = compose(
            OutgoingMail(
                sender=Mailbox(settings.mail_from, settings.mail_platform_name),
                to=Mailbox(recipient),
                message_id=f"provisioning.{job_id}.{reason}.{stamp}.{abs(hash(recipient)) % 10**8}@{domain}",
            ),
            content,
            language,
            now,
        )
        enqueue(
            session,
            message,
            envelope_from=settings.mail_from,
            recipients=[recipient],
            kind="provisioning",
            tenant_id=tenant_id,
            related_id=None,
            now=now,
        )
