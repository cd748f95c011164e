"""The reviewer's pages: a sponsor signs in, sees only the reviews and items that are theirs, decides with a
reason, and accepts recommendations; someone else's review is a 404; every language translates the pages."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from fastapi.testclient import TestClient

from hospes.web import i18n
from tests.helpers.portal import csrf_of, sign_in
from tests.helpers.reviews import DEFINITIONS, by_principal, decisions, guest_team, guests_review, instances
from tests.helpers.tenants import TenantHandle


def test_a_sponsor_decides_their_guests_on_the_review_page(tenant: TenantHandle, web: TestClient) -> None:
    team = guest_team(tenant)
    g0, g1, g2, _ = (g["id"] for g in team.guests)
    definition = tenant.post(DEFINITIONS, json=guests_review(team)).json()
    [instance] = instances(tenant, definition["id"])
    assert sign_in(web, tenant.domain, team.sponsor1["userPrincipalName"]).status_code == 303
    listing = web.get(f"/{tenant.domain}/reviews")
    assert listing.status_code == 200 and "Guests of Project X" in listing.text and "2 of 2" in listing.text
    page = web.get(f"/{tenant.domain}/reviews/{instance['id']}")
    assert page.status_code == 200
    shown = set(re.findall(r'data-principal="([^"]+)"', page.text))
    assert shown == {g0, g1}  # never sponsor2's guest
    items = {pid: item for pid, item in by_principal(decisions(tenant, definition["id"], instance["id"])).items()}
    form = {
        "csrf": csrf_of(page.text),
        "action": "save",
        f"d.{items[g0]['id']}": "Approve",
        f"d.{items[g1]['id']}": "Deny",
        f"d.{items[g2]['id']}": "Deny",  # not theirs: ignored
    }
    refused = web.post(f"/{tenant.domain}/reviews/{instance['id']}", data=form)
    assert refused.status_code == 400 and 'id="error"' in refused.text  # approving needs a reason here
    saved = web.post(f"/{tenant.domain}/reviews/{instance['id']}", data={**form, "reason": "Still on the project"})
    assert saved.status_code == 200 and 'id="message"' in saved.text, saved.text
    after = by_principal(decisions(tenant, definition["id"], instance["id"]))
    assert after[g0]["decision"] == "Approve" and after[g0]["justification"] == "Still on the project"
    assert after[g1]["decision"] == "Deny"
    assert after[g2]["decision"] == "NotReviewed"
    # Someone else's review is not there at all.
    web.cookies.clear()
    assert sign_in(web, tenant.domain, team.member["userPrincipalName"]).status_code == 303
    assert web.get(f"/{tenant.domain}/reviews/{instance['id']}").status_code == 404
    assert "no-reviews" in web.get(f"/{tenant.domain}/reviews").text


def test_the_review_pages_need_a_session(tenant: TenantHandle, web: TestClient) -> None:
    response = web.get(f"/{tenant.domain}/reviews", follow_redirects=False)
    assert response.status_code == 303 and "/login?next=" in response.headers["location"]


PAGES = ("review.html", "reviews.html", "sponsored.html")


def _review_messages() -> set[str]:
    web = Path(i18n.__file__).parent
    found: set[str] = set()
    for file, _line, message, _c, _x in extract_from_dir(
        str(web),
        [("reviews.py", "python"), *((f"templates/{name}", "jinja2") for name in PAGES)],
        {f"templates/{name}": {"extensions": "jinja2.ext.i18n"} for name in PAGES},
    ):
        if "review" in file or "sponsored" in file:
            found.add(message if isinstance(message, str) else message[0])
    return found


@pytest.mark.parametrize("language", i18n.SUPPORTED[1:])
def test_every_language_translates_the_review_pages(language: str) -> None:
    wanted = _review_messages()
    assert "Accept recommendations" in wanted and len(wanted) > 20
    catalog = i18n.translations(language)
    missing = [m for m in wanted if catalog.gettext(m) == m]
    assert not missing, missing


def test_a_sponsor_removes_one_of_their_guests(tenant: TenantHandle, web: TestClient) -> None:
    team = guest_team(tenant)
    g0, g2 = team.guests[0]["id"], team.guests[2]["id"]
    assert sign_in(web, tenant.domain, team.sponsor1["userPrincipalName"]).status_code == 303
    page = web.get(f"/{tenant.domain}/reviews/sponsored")
    assert page.status_code == 200
    assert set(re.findall(r'data-principal="([^"]+)"', page.text)) == {g0, team.guests[1]["id"]}
    token = csrf_of(page.text)
    not_mine = web.post(f"/{tenant.domain}/reviews/sponsored/{g2}/remove", data={"csrf": token})
    assert not_mine.status_code == 404
    removed = web.post(
        f"/{tenant.domain}/reviews/sponsored/{g0}/remove", data={"csrf": token, "reason": "Contract over"}
    )
    assert removed.status_code == 200 and 'id="message"' in removed.text
    assert tenant.get(f"/users/{g0}?$select=accountEnabled").json()["accountEnabled"] is False
    assert tenant.get(f"/users/{g2}?$select=accountEnabled").json()["accountEnabled"] is True
    why = tenant.get(f"/users/{g0}/hospesGovernance").json()
    assert why["block"]["origin"] == "sponsor" and "Contract over" in why["block"]["reason"]
    assert why["scheduledDeletionDateTime"] is not None
