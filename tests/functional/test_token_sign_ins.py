"""The token endpoint's grants in the sign-in log: code and refresh-token redemptions as non-interactive sign-ins of
the user (a success in the transaction that issues the tokens), client credentials as sign-ins of the service
principal (batched by ``SignInBuffer``), failures with their AADSTS number; and the refresh grant that runs on the
event loop only when it need not wait."""

from __future__ import annotations

import base64
import hashlib
import secrets
import sqlite3
import threading
import time
import uuid
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session, sessionmaker

from hospes.runtime import Runtime
from hospes.services import sign_in_log
from hospes.services.oidc.client_auth import ClientProof
from hospes.services.oidc.grant_rules import UserGrantRequest
from hospes.storage.engine import raw_write
from hospes.storage.tables_sso import RefreshToken, SignIn
from tests.helpers.oidc import RelyingParty, admin_consent, answer_of, register_rp
from tests.helpers.portal import sign_in
from tests.helpers.tenants import TenantHandle

SCOPE = "openid profile offline_access"


@pytest.fixture
def rp(tenant: TenantHandle) -> RelyingParty:
    party = register_rp(tenant)
    admin_consent(party)
    return party


def _member(tenant: TenantHandle, web: TestClient) -> dict[str, Any]:
    user = tenant.new_user(mail=None)
    assert sign_in(web, tenant.domain, user["userPrincipalName"]).status_code == 303
    return user


def _code(web: TestClient, rp: RelyingParty) -> tuple[str, str]:
    """A code from the browser's session (PKCE S256), and its verifier."""
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    query = {
        "client_id": rp.client_id,
        "redirect_uri": rp.redirect_uri,
        "response_type": "code",
        "scope": SCOPE,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    response = web.get(f"/{rp.tenant.id}/oauth2/v2.0/authorize?{urlencode(query)}")
    assert response.status_code == 302, response.text[:500]
    return answer_of(response.headers["location"])["code"], verifier


def _redeem(rp: RelyingParty, code: str, verifier: str, **extra: str) -> Any:
    data = {
        "grant_type": "authorization_code",
        "client_id": rp.client_id,
        "client_secret": rp.secret,
        "code": code,
        "redirect_uri": rp.redirect_uri,
        "code_verifier": verifier,
        **extra,
    }
    return rp.tenant.client.post(f"/{rp.tenant.id}/oauth2/v2.0/token", data=data)


def _refresh(rp: RelyingParty, token: str, secret: str | None = None) -> Any:
    data = {
        "grant_type": "refresh_token",
        "client_id": rp.client_id,
        "client_secret": secret or rp.secret,
        "refresh_token": token,
    }
    return rp.tenant.client.post(f"/{rp.tenant.id}/oauth2/v2.0/token", data=data)


def _rows(sessions: sessionmaker[Session], tenant_id: str, protocol: str) -> list[SignIn]:
    with sessions() as session:
        query = select(SignIn).where(SignIn.tenant_id == tenant_id, SignIn.protocol == protocol)
        return list(session.scalars(query.order_by(SignIn.created_at, SignIn.error_code)))


def test_a_code_redemption_is_a_non_interactive_sign_in(
    tenant: TenantHandle, web: TestClient, rp: RelyingParty, sessions: sessionmaker[Session]
) -> None:
    user = _member(tenant, web)
    code, verifier = _code(web, rp)
    assert _redeem(rp, code, verifier).status_code == 200
    [row] = _rows(sessions, tenant.id, "authorizationCode")
    assert (row.user_id, row.user_principal_name, row.app_id) == (user["id"], user["userPrincipalName"], rp.client_id)
    assert row.error_code == 0 and row.is_interactive is False and row.ip_address == "testclient"
    assert row.details["signInEventType"] == "nonInteractiveUser"
    assert row.app_display_name and row.failure_reason is None


def test_a_reused_code_and_a_pkce_mismatch_are_recorded_failures(
    tenant: TenantHandle, web: TestClient, rp: RelyingParty, sessions: sessionmaker[Session]
) -> None:
    user = _member(tenant, web)
    code, verifier = _code(web, rp)
    assert _redeem(rp, code, secrets.token_urlsafe(48)).json()["error_codes"] == [501481]
    assert _redeem(rp, code, verifier).status_code == 200
    assert _redeem(rp, code, verifier).json()["error_codes"] == [54005]
    rows = _rows(sessions, tenant.id, "authorizationCode")
    assert sorted(r.error_code for r in rows) == [0, 54005, 501481]
    for row in rows:
        assert row.user_id == user["id"] and row.app_id == rp.client_id and not row.is_interactive
    assert all(r.failure_reason for r in rows if r.error_code)


def test_a_refresh_is_a_non_interactive_sign_in_and_a_reuse_a_failure(
    tenant: TenantHandle, web: TestClient, rp: RelyingParty, sessions: sessionmaker[Session]
) -> None:
    user = _member(tenant, web)
    code, verifier = _code(web, rp)
    first = _redeem(rp, code, verifier).json()["refresh_token"]
    second = _refresh(rp, first)
    assert second.status_code == 200
    [ok] = _rows(sessions, tenant.id, "refreshToken")
    assert (ok.user_id, ok.app_id, ok.error_code, ok.is_interactive) == (user["id"], rp.client_id, 0, False)
    assert ok.details == {"signInEventType": "nonInteractiveUser", **_refresh_details()}
    replay = _refresh(rp, first)  # the thief's copy: the family is revoked
    assert replay.json()["error_codes"] == [50173]
    assert _refresh(rp, second.json()["refresh_token"]).json()["error_codes"] == [50173]
    codes = [r.error_code for r in _rows(sessions, tenant.id, "refreshToken")]
    assert sorted(codes) == [0, 50173, 50173]
    failures = [r for r in _rows(sessions, tenant.id, "refreshToken") if r.error_code]
    assert all(r.user_id == user["id"] and r.failure_reason for r in failures)


def _refresh_details() -> dict[str, str]:
    return {"grantType": "refresh_token", "incomingTokenType": "refreshToken"}


def test_a_refresh_with_a_wrong_secret_is_a_recorded_failure(
    tenant: TenantHandle, web: TestClient, rp: RelyingParty, sessions: sessionmaker[Session]
) -> None:
    _member(tenant, web)
    code, verifier = _code(web, rp)
    token = _redeem(rp, code, verifier).json()["refresh_token"]
    wrong = _refresh(rp, token, secret="not-the-secret")
    assert wrong.status_code == 401 and wrong.json()["error_codes"] == [7000215]
    [row] = _rows(sessions, tenant.id, "refreshToken")
    assert row.error_code == 7000215 and row.app_id == rp.client_id
    assert _refresh(rp, token).status_code == 200  # the token was not spent by the failure


def test_an_unknown_tenant_records_nothing(tenant: TenantHandle, sessions: sessionmaker[Session]) -> None:
    response = tenant.client.post(
        f"/{uuid.uuid4()}/oauth2/v2.0/token",
        data={"grant_type": "refresh_token", "client_id": "x", "client_secret": "y", "refresh_token": "z"},
    )
    assert response.json()["error_codes"] == [90002]  # no tenant to record it in, and no crash either


def test_client_credentials_are_service_principal_sign_ins_written_in_batches(
    app: FastAPI, tenant: TenantHandle, sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    runtime: Runtime = app.state.runtime
    runtime.sign_ins.stop()  # its thread's write in flight ends too (the next grant starts another thread)
    before = {r.id for r in _rows(sessions, tenant.id, "clientCredentials")}  # the fixture's own token
    # A buffer whose thread never runs: the grants below can only queue their rows, never write them one by one.
    held = sign_in_log.SignInBuffer(runtime.database.engine, runtime.database.writer_turn, interval=3600)
    monkeypatch.setitem(runtime.__dict__, "sign_ins", held)  # a cached property of a frozen Runtime
    boot = tenant.boot
    form = {
        "grant_type": "client_credentials",
        "client_id": boot.client_id,
        "client_secret": boot.client_secret,
        "scope": "https://graph.microsoft.com/.default",
    }
    path = f"/{tenant.id}/oauth2/v2.0/token"
    assert tenant.client.post(path, data=form).status_code == 200
    wrong = tenant.client.post(path, data={**form, "client_secret": "wrong"})
    assert wrong.json()["error_codes"] == [7000215]
    unknown = tenant.client.post(path, data={**form, "client_id": str(uuid.uuid4())})
    assert unknown.json()["error_codes"] == [700016]
    assert {r.id for r in _rows(sessions, tenant.id, "clientCredentials")} == before  # no write per grant
    held.stop()  # writes what waits, in one batch
    rows = [r for r in _rows(sessions, tenant.id, "clientCredentials") if r.id not in before]
    assert sorted(r.error_code for r in rows) == [0, 700016, 7000215]
    for row in rows:
        assert row.user_id is None and not row.is_interactive and row.ip_address == "testclient"
        assert row.details["signInEventType"] == "servicePrincipal"
    ok = next(r for r in rows if r.error_code == 0)
    assert ok.app_id == boot.client_id and ok.details["servicePrincipalId"] and ok.app_display_name


def _ours(sessions: sessionmaker[Session], tenant_id: str) -> list[Any]:
    """This test's own rows: the tenant fixture's token grant leaves a row of its own, written whenever the app's
    buffer next flushes."""
    return [row for row in _rows(sessions, tenant_id, "clientCredentials") if row.app_id == "a"]


def test_the_buffer_writes_nothing_per_grant_and_everything_in_one_batch(
    tenant: TenantHandle, database: Any, sessions: sessionmaker[Session]
) -> None:
    buffer = sign_in_log.SignInBuffer(database.engine, database.writer_turn, interval=0.05, limit=1000)

    def event(n: int) -> sign_in_log.SignInEvent:
        return sign_in_log.token_event(
            tenant.id, datetime.now(UTC), "clientCredentials", f"10.0.0.{n}", app_id="a", app_display_name="A"
        )

    buffer.stop()  # never started: nothing to do
    for n in range(3):
        buffer.add(event(n))
    deadline = time.monotonic() + 5
    while len(_ours(sessions, tenant.id)) < 3 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert sorted(r.ip_address for r in _ours(sessions, tenant.id)) == [
        "10.0.0.0",
        "10.0.0.1",
        "10.0.0.2",
    ]
    slow = sign_in_log.SignInBuffer(database.engine, interval=3600)
    slow.add(event(9))
    assert len(_ours(sessions, tenant.id)) == 3  # queued, not written
    slow.stop()  # shutdown writes what waits
    assert len(_ours(sessions, tenant.id)) == 4
    buffer.stop()


def _grant_request(rp: RelyingParty, token: str) -> UserGrantRequest:
    proof = ClientProof(rp.client_id, rp.secret, "", "", "10.9.8.7", datetime.now(UTC))
    return UserGrantRequest(rp.tenant.id, proof, refresh_token=token)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # the event-loop refresh is SQLite's alone
def test_the_event_loop_refresh_never_waits_for_a_writer(
    app: FastAPI, tenant: TenantHandle, web: TestClient, rp: RelyingParty, database: Any
) -> None:
    """``refresh_now`` answers None, having written nothing, when the writer's turn or SQLite's write lock is
    taken; the thread's ``refresh`` then does the work."""
    assert database.is_sqlite
    grants = app.state.runtime.user_grants
    _member(tenant, web)
    code, verifier = _code(web, rp)
    token = _redeem(rp, code, verifier).json()["refresh_token"]
    holding, done = threading.Event(), threading.Event()

    def other_writer() -> None:  # another thread's turn (another process's would be the lock file)
        with database.writer_turn():
            holding.set()
            done.wait(10)

    thread = threading.Thread(target=other_writer)
    thread.start()
    try:
        assert holding.wait(10)
        assert grants.refresh_now(_grant_request(rp, token)) is None
    finally:
        done.set()
        thread.join(10)
    locker = sqlite3.connect(database.engine.url.database, timeout=1)
    try:
        locker.execute("BEGIN IMMEDIATE")  # SQLite's write lock held by another connection
        started = time.monotonic()
        assert grants.refresh_now(_grant_request(rp, token)) is None
        assert time.monotonic() - started < 1  # no busy wait on the event loop
    finally:
        locker.rollback()
        locker.close()
    issued = grants.refresh_now(_grant_request(rp, token))  # the token was not spent by the attempts
    assert issued is not None and issued.refresh_token
    assert grants.refresh_now(_grant_request(rp, token)) is None  # a reuse to record goes to the thread
    with pytest.raises(Exception, match="already used"):
        grants.refresh(_grant_request(rp, token))


# Module-level, as raw writes want their statements (compiled once, kept by id).
_SPEND = update(RefreshToken).where(RefreshToken.token_hash == bindparam("hash")).values(used_at=bindparam("now"))


def test_a_raw_write_refuses_a_missing_required_value(database: Any) -> None:
    """The precomputed write plan checks what ``construct_params`` checked: a ``bindparam`` without a value."""
    statement = _SPEND
    with pytest.raises(KeyError, match="now"), raw_write(database.engine) as write:
        write.execute(statement, {"hash": "nothing"})
    with raw_write(database.engine) as write:
        assert write.execute(statement, {"hash": "nothing", "now": datetime.now(UTC)}) == 0
