"""The durable timers of access reviews and guest lifecycle (``services/timers.py``): the series' next instance,
the end of a stage (and of the instance), the half-time reminder, and the deletion of a blocked guest. Each runs in
the timer's transaction and does nothing when what it acts on has moved on (stopped, re-enabled, already done)."""

from __future__ import annotations

from sqlalchemy.orm import sessionmaker

from hospes.services.access_reviews import AccessReviewService, ReviewHooks
from hospes.services.base import Write
from hospes.services.review_mail import ReviewMail
from hospes.services.timers import Due, handler
from hospes.settings import Settings

START, STAGE_END, REMINDER, DELETE_GUEST = (
    "accessReview.start",
    "accessReview.stageEnd",
    "accessReview.reminder",
    "governance.deleteGuest",
)


def install(settings: Settings) -> None:
    """Register the handlers, with the emails and links of this deployment's settings (idempotent)."""
    hooks = ReviewHooks(notify=ReviewMail(settings).notify, base_url=settings.public_url)

    def service(op: Write) -> AccessReviewService:
        return AccessReviewService(sessionmaker(bind=op.session.get_bind()), op.actor, hooks)

    @handler(START, "AccessReviews", "Start access review instance")
    def start(op: Write, due: Due) -> None:
        service(op).start_due(op, due.subject)

    @handler(STAGE_END, "AccessReviews", "End access review stage")
    def stage_end(op: Write, due: Due) -> None:
        service(op).stage_due(op, due.subject)

    @handler(REMINDER, "AccessReviews", "Remind access reviewers")
    def remind(op: Write, due: Due) -> None:
        service(op).remind_due(op, due.subject)

    @handler(DELETE_GUEST, "UserManagement", "Delete user")
    def delete_guest(op: Write, due: Due) -> None:
        service(op).delete_due(op, due.subject)
