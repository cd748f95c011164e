"""The connector to another deployment's Graph API, against a scripted target (httpx MockTransport behind the SSRF
guard): what each kind of refusal becomes for the engine, and what is retried."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from hospes.provisioning.connector import Change, CredentialsError, TargetNotFoundError, TransientError
from hospes.provisioning.graph_target import GraphConnector, GraphTargetConfig
from hospes.provisioning.ssrf import OutboundPolicy

BASE = "http://127.0.0.1:9"
CHECK_FAILURE = "AzureDirectoryB2BManagementPolicyCheckFailure"
Handler = Callable[[httpx.Request], httpx.Response]


def _connector(handler: Handler, secret: str) -> GraphConnector:
    config = GraphTargetConfig(
        base_url=BASE, tenant="t-1", client_id="app", client_secret=secret, source_tenant="s-1", max_wait=1.0
    )
    policy = OutboundPolicy.parse("127.0.0.1")
    return GraphConnector(config, None, policy, httpx.MockTransport(handler))  # type: ignore[arg-type]


def _token(request: httpx.Request) -> httpx.Response | None:
    if request.url.path.endswith("/oauth2/v2.0/token"):
        return httpx.Response(200, json={"access_token": "tok", "expires_in": 3600})
    return None


def _error(status: int, code: str, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(status, json={"error": {"code": code, "message": f"{code} said"}}, headers=headers)


def test_a_long_retry_after_is_a_quota_that_quarantines() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return _token(request) or _error(429, "TooManyRequests", {"Retry-After": "3600"})

    with pytest.raises(CredentialsError) as caught:
        _connector(handler, "quota").update("user", "u1", [Change("jobTitle", "a", "b")], None)
    assert caught.value.code == "QuotaLimitExceeded" and "3600" in caught.value.message


def test_a_short_retry_after_is_waited_for_and_retried() -> None:
    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if (token := _token(request)) is not None:
            return token
        calls.append(request.method)
        if len(calls) == 1:
            return _error(429, "TooManyRequests", {"Retry-After": "0"})
        assert json.loads(request.content) == {"jobTitle": "b"}
        return httpx.Response(204)

    _connector(handler, "short").update("user", "u1", [Change("jobTitle", "a", "b")], None)
    assert calls == ["PATCH", "PATCH"]


def test_server_errors_are_transient() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return _token(request) or _error(503, "ServiceUnavailable")

    with pytest.raises(TransientError):
        _connector(handler, "busy").delete("user", "u1", None)


def test_a_refused_secret_and_a_refused_policy_are_credentials_errors() -> None:
    def refused(request: httpx.Request) -> httpx.Response:
        return httpx.Response(401, json={"error": "invalid_client", "error_description": "AADSTS7000215: bad"})

    with pytest.raises(CredentialsError) as caught:
        _connector(refused, "wrong").delete("user", "u1", None)
    assert "refused the app's client credentials" in caught.value.message and "AADSTS7000215" in caught.value.message

    def policy(request: httpx.Request) -> httpx.Response:
        return _token(request) or _error(403, CHECK_FAILURE)

    body: dict[str, Any] = {"alternativeSecurityIds": "5::src", "mail": "a@src.example", "displayName": "A"}
    with pytest.raises(CredentialsError) as caught:
        _connector(policy, "policy").create("user", body)
    assert caught.value.error_code == CHECK_FAILURE


def test_a_token_the_target_no_longer_takes_is_fetched_again_once() -> None:
    tokens: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/oauth2/v2.0/token"):
            tokens.append("new")
            return httpx.Response(200, json={"access_token": f"tok{len(tokens)}", "expires_in": 3600})
        if request.headers["Authorization"] == "Bearer tok1":
            return _error(401, "InvalidAuthenticationToken")
        return httpx.Response(204)

    _connector(handler, "rotate").delete("user", "u1", None)
    assert tokens == ["new", "new"]


def test_a_user_gone_from_the_target_is_not_an_error_to_delete_but_is_to_update() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return _token(request) or _error(404, "Request_ResourceNotFound")

    connector = _connector(handler, "gone")
    connector.delete("user", "u1", None)
    with pytest.raises(TargetNotFoundError):
        connector.update("user", "u1", [Change("jobTitle", "a", "b")], None)
