"""What operators and load balancers rely on: /metrics (Prometheus, protected), /readyz, the client address and
request id taken from trusted proxies only, request ids in audit rows, JSON and access logs."""

from __future__ import annotations

import io
import json
import logging
import re
import uuid
from collections.abc import Iterator

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from hospes.asgi import create_app
from hospes.asgi.ops import _hops
from hospes.logs import configure_logging
from hospes.settings import Settings
from hospes.storage.tables import AuditLog
from tests.helpers.tenants import TenantHandle

LOOPBACK = ("127.0.0.1", 40000)  # the default trusted proxy (HOSPES_FORWARDED_ALLOW_IPS)


@pytest.fixture
def direct(app: FastAPI) -> Iterator[TestClient]:
    """A client on loopback: a trusted proxy by default, and allowed to read /metrics."""
    with TestClient(app, raise_server_exceptions=False, client=LOOPBACK) as client:
        yield client


def _sample(text: str, name: str, **labels: str) -> float:
    """The value of one series of an exposition text (0 when absent)."""
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', line[: line.rindex("}")])) if "{" in line else {}
        if all(found.get(k) == v for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_metrics_count_requests_by_route_template(direct: TestClient, tenant: TenantHandle) -> None:
    user = tenant.new_user()
    before = direct.get("/metrics")
    assert before.status_code == 200
    assert before.headers["content-type"].startswith("text/plain; version=0.0.4")
    series = {"method": "GET", "route": "/v1.0/users/{key}", "status": "200"}
    count = _sample(before.text, "hospes_http_requests_total", **series)
    for _ in range(3):
        assert direct.get(f"/v1.0/users/{user['id']}", headers=tenant.headers).status_code == 200
    assert direct.get("/v1.0/users/nobody-" + uuid.uuid4().hex, headers=tenant.headers).status_code == 404
    after = direct.get("/metrics").text
    assert _sample(after, "hospes_http_requests_total", **series) == count + 3
    assert _sample(after, "hospes_http_requests_total", method="GET", route="/v1.0/users/{key}", status="404") >= 1
    assert user["id"] not in after  # never the raw path
    assert _sample(after, "hospes_http_request_duration_seconds_count", method="GET", route="/v1.0/users/{key}") >= 3
    # the token was checked once and then found in the cache
    assert _sample(after, "hospes_token_cache_lookups_total", result="hit") >= 3
    assert "hospes_db_pool_checked_out" in after or direct.app.state.runtime.database.is_sqlite  # type: ignore[attr-defined]
    for name in ("hospes_outbox_messages", "hospes_outbox_oldest_age_seconds", "hospes_provisioning_jobs"):
        assert name in after


def test_metrics_refused_to_remote_and_proxied_callers(app: FastAPI, direct: TestClient) -> None:
    with TestClient(app, raise_server_exceptions=False, client=("10.1.2.3", 5000)) as remote:
        assert remote.get("/metrics").status_code == 403
    # through a proxy on the same host, anyone on the network could reach it
    assert direct.get("/metrics", headers={"X-Forwarded-For": "198.51.100.4"}).status_code == 403
    assert direct.get("/metrics", headers={"Forwarded": "for=198.51.100.4"}).status_code == 403


def test_metrics_token_required_when_set(settings: Settings) -> None:
    token = uuid.uuid4().hex
    app = create_app(settings.model_copy(update={"metrics_token": token}), housekeeping=False)
    with TestClient(app, raise_server_exceptions=False, client=("10.1.2.3", 5000)) as remote:
        refused = remote.get("/metrics")
        assert refused.status_code == 401 and refused.headers["www-authenticate"] == "Bearer"
        assert remote.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
        answered = remote.get("/metrics", headers={"Authorization": f"Bearer {token}"})
        assert answered.status_code == 200 and "hospes_http_requests_total" in answered.text


def test_readyz_ready_then_draining(settings: Settings) -> None:
    app = create_app(settings, housekeeping=False)
    with TestClient(app, raise_server_exceptions=False) as client:
        ready = client.get("/readyz")
        assert ready.status_code == 200
        assert ready.json() == {"draining": False, "database": "ok", "schema": "current", "status": "ready"}
        assert "connection" not in client.get("/healthz").headers
        app.state.readiness.draining = True
        draining = client.get("/readyz")
        assert draining.status_code == 503 and draining.json()["status"] == "unavailable"
        assert draining.json()["draining"] is True
        # still alive, and still answering, but asking clients to go elsewhere next time
        alive = client.get("/healthz")
        assert alive.status_code == 200 and alive.headers["connection"] == "close"


def test_readyz_unavailable_on_an_old_schema(settings: Settings) -> None:
    app = create_app(settings, housekeeping=False)
    app.state.readiness.head = "9999"  # the code expects a revision the database does not have yet
    with TestClient(app, raise_server_exceptions=False) as client:
        answer = client.get("/readyz")
    assert answer.status_code == 503
    assert answer.json()["schema"].endswith("this code needs 9999")


def _failed_grant(client: TestClient, tenant: TenantHandle, **headers: str) -> None:
    answer = client.post(
        f"/{tenant.domain}/oauth2/v2.0/token",
        data={
            "grant_type": "client_credentials",
            "client_id": tenant.boot.client_id,
            "client_secret": "wrong-" + uuid.uuid4().hex,
            "scope": "https://graph.microsoft.com/.default",
        },
        headers=headers,
    )
    assert answer.status_code == 401


def _addresses(sessions: sessionmaker[Session], tenant: TenantHandle) -> list[str]:
    with sessions() as session:
        rows = session.scalars(
            select(AuditLog).where(AuditLog.tenant_id == tenant.id, AuditLog.result == "failure").order_by(AuditLog.at)
        ).all()
    return [row.details["clientAddress"] for row in rows]


def test_client_address_from_trusted_proxy_only(
    app: FastAPI, direct: TestClient, tenant: TenantHandle, sessions: sessionmaker[Session]
) -> None:
    _failed_grant(direct, tenant, **{"X-Forwarded-For": "203.0.113.7"})
    # what a client wrote itself stays left of what the proxy appended
    _failed_grant(direct, tenant, **{"X-Forwarded-For": "192.0.2.1, 203.0.113.8"})
    _failed_grant(direct, tenant, Forwarded='for="[2001:db8::5]:4711";proto=https')
    with TestClient(app, raise_server_exceptions=False, client=("10.7.7.7", 5000)) as untrusted:
        _failed_grant(untrusted, tenant, **{"X-Forwarded-For": "203.0.113.9", "Forwarded": "for=203.0.113.9"})
    assert _addresses(sessions, tenant) == ["203.0.113.7", "203.0.113.8", "2001:db8::5", "10.7.7.7"]


def test_forwarded_headers_parsed() -> None:
    hops = _hops([(b"forwarded", b'for=192.0.2.60;proto=http;by=203.0.113.43, for="[2001:db8::1]:4711";proto=https')])
    assert hops == [
        {"for": "192.0.2.60", "proto": "http", "by": "203.0.113.43"},
        {"for": "2001:db8::1", "proto": "https"},
    ]
    hops = _hops([(b"x-forwarded-for", b"192.0.2.1, 198.51.100.2:8080"), (b"x-forwarded-proto", b"https")])
    assert hops == [{"for": "192.0.2.1", "proto": "https"}, {"for": "198.51.100.2", "proto": "https"}]
    assert _hops([(b"host", b"x")]) == []


def test_request_id_from_balancer_into_answer_and_audit(
    app: FastAPI, direct: TestClient, tenant: TenantHandle, sessions: sessionmaker[Session]
) -> None:
    request_id = "lb-" + uuid.uuid4().hex
    body = {"displayName": "Audit me", "mailEnabled": False, "mailNickname": "a" + uuid.uuid4().hex[:8]}
    body["securityEnabled"] = True
    created = direct.post("/v1.0/groups", json=body, headers={**tenant.headers, "X-Request-Id": request_id})
    assert created.status_code == 201
    assert created.headers["request-id"] == request_id
    trace = uuid.uuid4().hex
    invited = direct.post(
        "/v1.0/invitations",
        json={"invitedUserEmailAddress": f"g{uuid.uuid4().hex[:8]}@partner.example", "inviteRedirectUrl": "https://a"},
        headers={**tenant.headers, "traceparent": f"00-{trace}-00f067aa0ba902b7-01"},
    )
    assert invited.status_code == 201 and invited.headers["request-id"] == trace
    # an untrusted peer cannot choose the id the audit will carry
    with TestClient(app, raise_server_exceptions=False, client=("10.7.7.8", 5000)) as untrusted:
        other = untrusted.get("/v1.0/users", headers={**tenant.headers, "X-Request-Id": "forged"})
    assert other.headers["request-id"] != "forged"
    uuid.UUID(other.headers["request-id"])
    with sessions() as session:
        rows = session.scalars(select(AuditLog).where(AuditLog.tenant_id == tenant.id)).all()
    by_request = {row.request_id: row.activity for row in rows}
    assert by_request[request_id] == "Add group"
    assert by_request[trace] == "Invite external user"  # committed by the invitation writer thread
    audits = direct.get("/v1.0/auditLogs/directoryAudits", headers=tenant.headers).json()["value"]
    assert request_id in {entry["correlationId"] for entry in audits}


def test_json_logs_and_access_log(direct: TestClient, tenant: TenantHandle) -> None:
    stream = io.StringIO()
    configure_logging("json", "INFO", "api", stream)
    try:
        direct.get("/v1.0/users", headers={**tenant.headers, "X-Request-Id": "req-123"})
        direct.get("/readyz")  # probes are counted, not logged
        logging.getLogger("hospes.test").warning("outside any request")
    finally:
        for name in ("hospes", "uvicorn.error", "alembic"):
            logger = logging.getLogger(name)
            for handler in [h for h in logger.handlers if h.get_name() == "hospes"]:
                logger.removeHandler(handler)
            logger.propagate = True
            logger.setLevel(logging.NOTSET)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    (access,) = [line for line in lines if line["logger"] == "hospes.access"]
    assert access["request_id"] == "req-123" and access["tenant"] == tenant.id
    assert access["route"] == "/v1.0/users" and access["status"] == 200 and access["method"] == "GET"
    assert access["role"] == "api" and access["level"] == "INFO" and access["host"] and access["pid"]
    assert access["client"] == "127.0.0.1" and access["time"].endswith("+00:00")
    plain = next(line for line in lines if line["logger"] == "hospes.test")
    assert plain["message"] == "outside any request" and "request_id" not in plain


def test_text_logs(direct: TestClient, tenant: TenantHandle) -> None:
    stream = io.StringIO()
    configure_logging("text", "WARNING", "worker", stream)
    try:
        direct.get("/v1.0/users", headers={**tenant.headers, "X-Request-Id": "req-456"})  # INFO: below the level
        logging.getLogger("hospes.test").error("boom %d", 7)
    finally:
        for name in ("hospes", "uvicorn.error", "alembic"):
            logger = logging.getLogger(name)
            for handler in [h for h in logger.handlers if h.get_name() == "hospes"]:
                logger.removeHandler(handler)
            logger.propagate = True
            logger.setLevel(logging.NOTSET)
    (line,) = stream.getvalue().splitlines()
    assert re.fullmatch(r"\S+ \S+ ERROR hospes\.test \[worker \S+ \d+\] boom 7", line)


def test_pool_sizes_and_prepared_statements_from_settings(settings: Settings) -> None:
    from hospes.storage.engine import Database

    if settings.effective_database_url.startswith("sqlite"):
        pytest.skip("pool settings are for PostgreSQL")
    tuned = settings.model_copy(update={"db_pool_size": 3, "db_max_overflow": 2, "db_prepared_statements": False})
    database = Database.for_settings(tuned)
    try:
        assert database.engine.pool.size() == 3  # type: ignore[attr-defined]
        assert database.engine.pool._max_overflow == 2  # type: ignore[attr-defined]
        with database.engine.connect() as connection:
            raw = connection.connection.dbapi_connection
            assert raw is not None and raw.prepare_threshold is None  # type: ignore[attr-defined]
    finally:
        database.dispose()


def test_fleet_counters_on_the_worker_metrics_listener() -> None:
    """What workers count (periodic runs, lease takeovers) on ``hospes worker --metrics-address``."""
    from hospes import metrics
    from hospes.cli.worker import _serve_metrics
    from tests.helpers.live import free_port

    task = "t-" + uuid.uuid4().hex[:8]
    with metrics.scheduler_run(task):
        pass
    with pytest.raises(RuntimeError), metrics.scheduler_run(task):
        raise RuntimeError("boom")
    metrics.lease_takeover("outbox")
    port = free_port()
    _serve_metrics(f"127.0.0.1:{port}")
    text = httpx.get(f"http://127.0.0.1:{port}/", timeout=10).text
    assert _sample(text, "hospes_scheduler_runs_total", task=task, result="ok") == 1
    assert _sample(text, "hospes_scheduler_runs_total", task=task, result="error") == 1
    assert _sample(text, "hospes_scheduler_run_duration_seconds_count", task=task) == 2
    assert _sample(text, "hospes_lease_takeovers_total", kind="outbox") >= 1
