"""Bulk invite across real server processes on one database (both backends): the upload goes to server A, which
is stopped right after; server B, which never saw the upload, shows the progress page, finishes the job with its
own worker and serves the results. No sticky sessions, nothing lost by the restart."""

from __future__ import annotations

import csv
import io
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, closing

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from hospes.services.tenants import create_tenant
from hospes.storage.tables import Invitation
from tests.helpers.live import LiveServer, run_server
from tests.helpers.portal import csrf_of
from tests.helpers.tenants import ADMIN_PASSWORD


def _signed_in(server: LiveServer, domain: str, upn: str) -> httpx.Client:
    client = httpx.Client(base_url=server.base_url, timeout=30)
    form = client.get(f"/{domain}/login?prompt=login")
    done = client.post(
        f"/{domain}/login", data={"csrf": csrf_of(form.text), "username": upn, "password": ADMIN_PASSWORD}
    )
    assert done.status_code == 303, done.text
    return client


@pytest.fixture
def servers(
    database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[ExitStack, LiveServer, LiveServer]]:
    with ExitStack() as stack_b:
        on = {"HOSPES_BULK_WORKER": "true"}
        b = stack_b.enter_context(run_server(database_url, str(tmp_path_factory.mktemp("server-b")), on))
        with ExitStack() as stack_a:
            a = stack_a.enter_context(run_server(database_url, str(tmp_path_factory.mktemp("server-a")), on))
            yield stack_a, a, b


def test_another_process_shows_and_finishes_a_job_after_a_restart(
    servers: tuple[ExitStack, LiveServer, LiveServer], sessions: sessionmaker[Session]
) -> None:
    stop_a, a, b = servers
    domain = f"bulklive-{uuid.uuid4().hex[:8]}.example"
    boot = create_tenant(sessions, "Bulk Live", domain, admin_password=ADMIN_PASSWORD)
    total = 300
    rows = "email,display name\n" + "".join(f"live{i}@partner.example,Live {i}\n" for i in range(total))
    with closing(_signed_in(a, domain, boot.admin_user_principal_name)) as on_a:
        token = csrf_of(on_a.get(f"/{domain}/admin/users/bulk").text)
        upload = on_a.post(
            f"/{domain}/admin/users/bulk",
            data={"csrf": token, "redirect_url": "https://a.example"},
            files={"file": ("live.csv", rows, "text/csv")},
            headers={"Origin": a.base_url},
        )
        assert upload.status_code == 303, upload.text
        job_path = upload.headers["location"].removeprefix(a.base_url).split("?", 1)[0]
    stop_a.close()  # server A stops (its worker hands the job back) right after taking the upload
    with closing(_signed_in(b, domain, boot.admin_user_principal_name)) as on_b:
        deadline = time.monotonic() + 120
        while 'data-finished="true"' not in (page := on_b.get(job_path)).text:
            assert page.status_code == 200, page.text
            assert time.monotonic() < deadline, page.text
            time.sleep(0.3)
        assert f"Finished: {total} invited, 0 failed, of {total} rows." in page.text
        results = list(csv.DictReader(io.StringIO(on_b.get(f"{job_path}/results.csv").text)))
    assert len(results) == total and all(r["result"] == "ok" and "/redeem?" in r["inviteRedeemUrl"] for r in results)
    with sessions() as s:
        per_email = dict(
            s.execute(
                select(Invitation.email, func.count())
                .where(Invitation.tenant_id == boot.tenant_id)
                .group_by(Invitation.email)
            ).all()
        )
    assert per_email == {f"live{i}@partner.example": 1 for i in range(total)}
