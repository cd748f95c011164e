"""Helpers to drive the redemption pages like a browser (TestClient without automatic redirects)."""

from __future__ import annotations

import email
import email.policy
import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from hospes.storage.tables import OutboxMessage
from tests.helpers.portal import csrf_of
from tests.helpers.tenants import TenantHandle

CODE = re.compile(r"\b(\d{8})\b")


def invite(tenant: TenantHandle, address: str, redirect: str = "https://apps.example.com/welcome", **extra: Any) -> Any:
    response = tenant.post(
        "/invitations",
        json={"invitedUserEmailAddress": address, "inviteRedirectUrl": redirect, **extra},
    )
    assert response.status_code == 201, response.text
    return response.json()


def path_of(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + ("?" + parts.query if parts.query else "")


def link_form(url: str) -> dict[str, str]:
    query = parse_qs(urlsplit(url).query)
    return {key: query[key][0] for key in ("tenant", "invitation", "ticket")}


def latest_code(sessions: sessionmaker[Session], address: str) -> str:
    with sessions() as session:
        rows = list(
            session.scalars(
                select(OutboxMessage).where(OutboxMessage.kind == "otp").order_by(OutboxMessage.created_at.desc())
            )
        )
    for row in rows:
        if address.lower() in [r.lower() for r in row.recipients]:
            message = email.message_from_string(row.mime, policy=email.policy.default)
            body = message.get_body(preferencelist=("plain",))
            assert body is not None
            found = CODE.search(body.get_content())
            assert found
            return found.group(1)
    raise AssertionError(f"no code mailed to {address}")


def otp_mail_count(sessions: sessionmaker[Session], address: str) -> int:
    with sessions() as session:
        rows = session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "otp"))
        return sum(1 for r in rows if address.lower() in [x.lower() for x in r.recipients])


def open_link(web: TestClient, url: str) -> Any:
    """GET the link, then POST its Continue form; returns the POST response (303 to the flow)."""
    page = web.get(path_of(url))
    assert page.status_code == 200, page.text
    return web.post(path_of(url).split("&")[0], data={"csrf": csrf_of(page.text), **link_form(url)})


def follow(web: TestClient, response: Any, limit: int = 6) -> Any:
    for _ in range(limit):
        if response.status_code not in (302, 303):
            return response
        location = response.headers["location"]
        if location.startswith("http") and not location.startswith("http://testserver"):
            return response
        response = web.get(path_of(location))
    return response


def send_code(web: TestClient, tenant_id: str) -> Any:
    page = web.get(f"/{tenant_id}/redeem/signin")
    assert page.status_code == 200, page.text
    return web.post(f"/{tenant_id}/redeem/code/send", data={"csrf": csrf_of(page.text)})


def submit_code(web: TestClient, tenant_id: str, code: str) -> Any:
    page = web.get(f"/{tenant_id}/redeem/code")
    assert page.status_code == 200, page.text
    return web.post(f"/{tenant_id}/redeem/code", data={"csrf": csrf_of(page.text), "code": code})


def accept(web: TestClient, tenant_id: str, decision: str = "accept") -> Any:
    page = web.get(f"/{tenant_id}/redeem/consent")
    assert page.status_code == 200, page.text
    return web.post(f"/{tenant_id}/redeem/consent", data={"csrf": csrf_of(page.text), "decision": decision})


def redeem_with_otp(web: TestClient, sessions: sessionmaker[Session], url: str, tenant_id: str, address: str) -> Any:
    started = open_link(web, url)
    assert started.status_code == 303, started.text
    sent = send_code(web, tenant_id)
    assert sent.status_code == 303, sent.text
    verified = submit_code(web, tenant_id, latest_code(sessions, address))
    assert verified.status_code == 303, verified.text
    return accept(web, tenant_id)
