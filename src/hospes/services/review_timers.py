"""The durable timers of access reviews and guest lifecycle (``services/timers.py``): the series' next instance,
the end of a stage (and of the instance), the half-time reminder, the deletion of a blocked guest, and the daily
run of the guest inactivity policy. Each runs in
the timer's transaction and does nothing when what it acts on has moved on (stopped, re-enabled, already done)."""

from __future__ import annotations

from sqlalchemy.orm import sessionmaker

from hospes.services import guest_lifecycle, timers
from hospes.services.access_reviews import AccessReviewService, ReviewHooks
from hospes.services.base import Write
from hospes.services.review_mail import ReviewMail
from hospes.services.timers import Due, handler
from hospes.settings import Settings

START, STAGE_END, REMINDER = "accessReview.start", "accessReview.stageEnd", "accessReview.reminder"
DELETE_GUEST, LIFECYCLE_RUN = guest_lifecycle.DELETE_GUEST, guest_lifecycle.RUN


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

    @handler(LIFECYCLE_RUN, "UserManagement", "Apply guest lifecycle policy")
    def lifecycle_run(op: Write, due: Due) -> None:
        """The daily run of an enabled inactivity policy; the next run is scheduled by this one."""
        policy = guest_lifecycle.GuestLifecycle(sessionmaker(bind=op.session.get_bind()), op.actor)
        settings = policy.settings(op.session)
        if not settings.enabled:
            return
        policy.run(op, settings)
        timers.schedule(op.session, due.tenant_id, LIFECYCLE_RUN, due.subject, op.now + guest_lifecycle.DAILY)
