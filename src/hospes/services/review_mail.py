"""Access review emails through the outbox, in the reviewer's language: the review started (each reviewer, with
the number of items waiting), the reminder at half-time (reviewers with items still open), and the result at the
end (reviewers, with what could not be applied). Written in the transaction of the step that sends them."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hospes.mail.compose import Mailbox, OutgoingMail, compose, one_line, render
from hospes.mail.i18n import choose_language
from hospes.mail.outbox import enqueue
from hospes.services.memberships import member_users
from hospes.settings import Settings
from hospes.storage.tables import Tenant, User
from hospes.storage.tables_reviews import (
    AccessReviewDefinition,
    AccessReviewInstance,
    AccessReviewItem,
    AccessReviewItemReviewer,
)


class ReviewMail:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def notify(self, session: Session, event: str, instance_id: str, now: datetime) -> None:
        instance = session.get(AccessReviewInstance, instance_id)
        definition = session.get(AccessReviewDefinition, instance.definition_id) if instance else None
        if instance is None or definition is None:
            return
        settings = definition.body.get("settings") or {}
        asked = event.endswith("!")  # an administrator's sendReminder: sent whatever the settings say
        event = event.rstrip("!")
        if not asked and not settings.get(
            "reminderNotificationsEnabled" if event == "reminder" else "mailNotificationsEnabled"
        ):
            return
        counts = self._open_counts(session, instance, only_open=event != "completed")
        if event == "completed":
            for uid in additional_recipients(session, instance.tenant_id, definition.body):
                counts.setdefault(uid, 0)
        if not counts:
            return
        tenant = session.get(Tenant, instance.tenant_id)
        totals = self._totals(session, instance) if event == "completed" else {}
        reviewers = session.scalars(select(User).where(User.id.in_(list(counts)), User.deleted_at.is_(None)))
        for reviewer in reviewers:
            address = reviewer.mail or reviewer.user_principal_name
            if not address or "@" not in address:
                continue
            language = choose_language(reviewer.preferred_language, tenant.preferred_language if tenant else None)
            context: dict[str, Any] = {
                "event": event,
                "tenant": one_line(tenant.display_name if tenant else ""),
                "resource": one_line(instance.resource_name or ""),
                "review": one_line(definition.display_name),
                "count": counts[reviewer.id],
                "end": instance.end_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC"),
                "description": one_line(definition.body.get("descriptionForReviewers") or "", 256),
                "link": f"{self.settings.public_url}/{instance.tenant_id}/reviews/{instance.id}",
                "html_lang": language,
                "approved": totals.get("Approve", 0),
                "denied": totals.get("Deny", 0),
                "open": totals.get("NotReviewed", 0) + totals.get("DontKnow", 0),
                "not_supported": int((instance.apply_state or {}).get("applyNotSupported", 0)),
            }
            content = render("access_review", language, context)
            domain = self.settings.mail_from.rpartition("@")[2] or "hospes.invalid"
            mail = OutgoingMail(
                sender=Mailbox(self.settings.mail_from, f"{context['tenant']} via {self.settings.mail_platform_name}"),
                to=Mailbox(address, reviewer.display_name or ""),
                message_id=f"review.{instance.id}.{event}.{reviewer.id}@{domain}",
            )
            enqueue(
                session,
                compose(mail, content, language, now),
                envelope_from=self.settings.mail_from,
                recipients=[address],
                kind="access_review",
                tenant_id=instance.tenant_id,
                related_id=instance.id,
                now=now,
            )

    @staticmethod
    def _open_counts(session: Session, instance: AccessReviewInstance, only_open: bool) -> dict[str, int]:
        """Reviewers of the running stage and how many of their items are open (or all of theirs)."""
        stmt = (
            select(AccessReviewItemReviewer.reviewer_id, func.count())
            .join(AccessReviewItem, AccessReviewItem.id == AccessReviewItemReviewer.item_id)
            .where(
                AccessReviewItemReviewer.instance_id == instance.id,
                AccessReviewItem.current.is_(True),
                AccessReviewItem.stage == instance.stage,
            )
            .group_by(AccessReviewItemReviewer.reviewer_id)
        )
        if only_open:
            stmt = stmt.where(AccessReviewItem.decision.in_(("NotReviewed", "DontKnow")))
        return {reviewer: int(count) for reviewer, count in session.execute(stmt)}

    @staticmethod
    def _totals(session: Session, instance: AccessReviewInstance) -> dict[str, int]:
        rows = session.execute(
            select(AccessReviewItem.decision, func.count())
            .where(AccessReviewItem.instance_id == instance.id, AccessReviewItem.current.is_(True))
            .group_by(AccessReviewItem.decision)
        )
        return {decision: int(count) for decision, count in rows}


def additional_recipients(session: Session, tenant_id: str, body: dict[str, Any]) -> set[str]:
    """The users ``additionalNotificationRecipients`` names for the result email: ``/users/{id}``, or a group's
    members (``/groups/{id}/members`` or ``transitiveMembers``)."""
    found: set[str] = set()
    for entry in body.get("additionalNotificationRecipients") or []:
        scope = entry.get("notificationRecipientScope") if isinstance(entry, dict) else None
        query = str((scope or {}).get("query") or "")
        user = _USER.match(query)
        group = _GROUP.match(query)
        if user:
            found.add(user.group(1).lower())
        elif group:
            found |= member_users(session, tenant_id, group.group(1).lower(), group.group(2) != "members")
    return found


_USER = re.compile(r"^/users/([0-9a-fA-F-]{36})/?$")
_GROUP = re.compile(r"^/groups/([0-9a-fA-F-]{36})/(members|transitiveMembers)/?$")
