"""Review pages for reviewers: ``/{tenant}/reviews`` lists the running access reviews with items waiting for the
signed-in user, ``/{tenant}/reviews/{instance}`` shows that reviewer's own items (never anyone else's) with each
user's recommendation and last sign-in, and records their decisions with a justification, or accepts the
recommendations in one click. ``/{tenant}/reviews/sponsored`` lists the guests the user sponsors and removes one
(sign-in blocked now, deletion scheduled). A sponsor or group owner needs no administrator role for this."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import Response

from hospes.domain.errors import DomainError, NotFoundError
from hospes.services.access_reviews import ReviewHooks
from hospes.services.review_decisions import CHOICES, ReviewerPages
from hospes.services.sponsored_guests import SponsoredGuests
from hospes.services.web_sessions import LiveSession, user_principal
from hospes.web.context import Page, gettext_for
from hospes.web.deps import PageDep
from hospes.web.exits import PageExit
from hospes.web.login import checked_form

router = APIRouter(include_in_schema=False)
PAGE_SIZE = 40  # decisions per form: within the form reader's field limit with the CSRF token and the reason


def _signed_in(page: Page, path: str) -> LiveSession:
    if page.live is None or not page.live.is_full:
        raise PageExit(page.redirect(f"{page.base}/login?next=/{page.tenant.key}{path}"))
    return page.live


def _reviews(page: Page, live: LiveSession) -> ReviewerPages:
    hooks = ReviewHooks(base_url=page.web.settings.public_url)
    return ReviewerPages(page.web.sessions, user_principal(live.user), hooks, clock=lambda: page.now)


def _not_found(page: Page) -> Response:
    _ = gettext_for(page)
    return page.error(404, _("Review not found"), _("This review does not exist, or you are not one of its reviewers."))


@router.get("/{tenant}/reviews")
def my_reviews(page: PageDep) -> Response:
    live = _signed_in(page, "/reviews")
    return page.render("reviews.html", reviews=_reviews(page, live).open_reviews())


@router.get("/{tenant}/reviews/sponsored")
def sponsored(page: PageDep) -> Response:
    live = _signed_in(page, "/reviews/sponsored")
    guests = SponsoredGuests(page.web.sessions, user_principal(live.user), clock=lambda: page.now).guests()
    return page.render("sponsored.html", guests=guests, message=None)


@router.post("/{tenant}/reviews/sponsored/{guest_id}/remove")
async def remove_guest(page: PageDep, guest_id: str) -> Response:
    live = _signed_in(page, "/reviews/sponsored")
    form = await checked_form(page)
    _ = gettext_for(page)
    mine = SponsoredGuests(page.web.sessions, user_principal(live.user), clock=lambda: page.now)
    try:
        deletion = mine.remove(guest_id[:64], form.get("reason", "").strip()[:500] or None)
    except NotFoundError:
        return page.error(404, _("Guest not found"), _("This guest does not exist, or you are not their sponsor."))
    message = _("Sign-in is blocked. The guest will be deleted on %(date)s unless an administrator lets them back in.")
    return page.render(
        "sponsored.html", guests=mine.guests(), message=message % {"date": deletion.strftime("%Y-%m-%d")}
    )


def _review_page(page: Page, live: LiveSession, instance_id: str, message: str | None, error: str | None) -> Response:
    reviews = _reviews(page, live)
    try:
        definition_id, name, needs_reason = reviews.definition_of(instance_id)
        instance, items = reviews.rows(definition_id, instance_id)
    except NotFoundError:
        return _not_found(page)
    return page.render(
        "review.html",
        400 if error else 200,
        name=name,
        instance=instance,
        items=items[:PAGE_SIZE],
        more=max(0, len(items) - PAGE_SIZE),
        open=sum(1 for i in items if i.decision in ("NotReviewed", "DontKnow")),
        needs_reason=needs_reason,
        message=message,
        error=error,
    )


@router.get("/{tenant}/reviews/{instance_id}")
def review(page: PageDep, instance_id: str) -> Response:
    live = _signed_in(page, f"/reviews/{instance_id[:64]}")
    return _review_page(page, live, instance_id[:64], None, None)


@router.post("/{tenant}/reviews/{instance_id}")
async def decide(page: PageDep, instance_id: str) -> Response:
    instance_id = instance_id[:64]
    live = _signed_in(page, f"/reviews/{instance_id}")
    form = await checked_form(page)
    _ = gettext_for(page)
    reviews = _reviews(page, live)
    reason = form.get("reason", "").strip()[:1000] or None
    try:
        definition_id, _name, _needs = reviews.definition_of(instance_id)
        if form.get("action") == "accept":
            done = reviews.accept_recommendations(definition_id, instance_id)
        else:
            chosen: dict[str, list[str]] = {}
            for key, value in form.items():
                if key.startswith("d.") and value in CHOICES and value != "NotReviewed":
                    chosen.setdefault(value, []).append(key[2:])
            done = 0
            for decision, ids in chosen.items():
                done += reviews.record_many(definition_id, instance_id, ids, decision, reason)
    except NotFoundError:
        return _not_found(page)
    except DomainError as exc:
        return _review_page(page, live, instance_id, None, exc.message)
    message = _("%(count)s decisions recorded.") % {"count": done}
    return _review_page(page, live, instance_id, message, None)
