"""The change feed of another deployment (its ``/users/delta``), against a scripted target: rounds paged through
``$skiptoken``, only tokens kept (never the target's links), removals told apart, and every refusal of a saved
token (410 ``syncStateNotFound``, 400 for one it cannot read) turned into ``PositionExpiredError``; and the
comparison that decides what drifted."""

from __future__ import annotations

import base64
from collections.abc import Callable

import httpx
import pytest

from hospes.provisioning.connector import LATEST, Change, DriftFeed, PermanentError, PositionExpiredError
from hospes.provisioning.drift import drifted
from hospes.provisioning.graph_target import GraphConnector, GraphTargetConfig
from hospes.provisioning.ssrf import OutboundPolicy

BASE = "http://127.0.0.1:9"
ELSEWHERE = "https://target.example/v1.0/users/delta"  # the target's public address, not the one we reach it at
Handler = Callable[[httpx.Request], httpx.Response]


def _connector(handler: Handler, secret: str) -> GraphConnector:
    config = GraphTargetConfig(base_url=BASE, tenant="t-1", client_id="app", client_secret=secret, source_tenant="s-1")
    return GraphConnector(config, None, OutboundPolicy.parse("127.0.0.1"), httpx.MockTransport(handler))  # type: ignore[arg-type]


def _token(request: httpx.Request) -> httpx.Response | None:
    if request.url.path.endswith("/oauth2/v2.0/token"):
        return httpx.Response(200, json={"access_token": "tok", "expires_in": 3600})
    return None


def _user(uid: str, **props: object) -> dict[str, object]:
    key = base64.b64encode(f"src-{uid}".encode()).decode()
    return {"id": uid, "alternativeSecurityIds": [{"type": 5, "key": key}], "jobTitle": "Engineer", **props}


def test_a_full_round_pages_and_keeps_only_the_token() -> None:
    seen: list[dict[str, str]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if (token := _token(request)) is not None:
            return token
        assert request.url.path == "/v1.0/users/delta"
        params = dict(request.url.params)
        seen.append(params)
        if "$skiptoken" not in params:
            assert "alternativeSecurityIds" in params["$select"]
            body = {"value": [_user("u1"), {"id": "local", "alternativeSecurityIds": []}]}
            return httpx.Response(200, json={**body, "@odata.nextLink": f"{ELSEWHERE}?$skiptoken=page2"})
        assert params == {"$skiptoken": "page2"}
        return httpx.Response(200, json={"value": [_user("u2")], "@odata.deltaLink": f"{ELSEWHERE}?$deltatoken=D1"})

    connector = _connector(handler, "full")
    assert isinstance(connector, DriftFeed)
    window = connector.drift("user", None)
    assert window.full and window.position == "graph:D1" and window.gone == []
    assert [o.id for o in window.objects] == ["u1", "u2"]  # a user no synchronization owns is not drift
    assert window.objects[0].data["alternativeSecurityIds"] == "5::src-u1"
    assert len(seen) == 2


def test_a_later_round_tells_soft_deleted_from_gone() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if (token := _token(request)) is not None:
            return token
        assert dict(request.url.params) == {"$deltatoken": "D1"}
        items = [
            _user("u1", jobTitle="Intern"),
            {"id": "u2", "@removed": {"reason": "changed"}},
            {"id": "u3", "@removed": {"reason": "deleted"}},
        ]
        return httpx.Response(200, json={"value": items, "@odata.deltaLink": f"{ELSEWHERE}?$deltatoken=D2"})

    window = _connector(handler, "later").drift("user", "graph:D1")
    assert not window.full and window.position == "graph:D2" and window.gone == ["u3"]
    assert [(o.id, o.data.get("IsSoftDeleted")) for o in window.objects] == [("u1", False), ("u2", True)]
    assert window.objects[0].data["jobTitle"] == "Intern"


def test_latest_starts_from_now_on() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if (token := _token(request)) is not None:
            return token
        params = dict(request.url.params)
        assert params["$deltatoken"] == "latest" and "alternativeSecurityIds" in params["$select"]
        return httpx.Response(200, json={"value": [], "@odata.deltaLink": f"{ELSEWHERE}?$deltatoken=NOW"})

    window = _connector(handler, "latest").drift("user", LATEST)
    assert not window.full and window.objects == [] and window.position == "graph:NOW"


@pytest.mark.parametrize("status,code", [(410, "syncStateNotFound"), (400, "Request_BadRequest")])
def test_a_refused_token_is_an_expired_position(status: int, code: str) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if (token := _token(request)) is not None:
            return token
        return httpx.Response(status, json={"error": {"code": code, "message": "start over"}})

    connector = _connector(handler, f"refused-{status}")
    with pytest.raises(PositionExpiredError):
        connector.drift("user", "graph:OLD")
    with pytest.raises(PositionExpiredError):
        connector.drift("user", "log:another-kind:1:2")  # a position of another connector: never sent
    # Without a position there is nothing to fall back to: the refusal is the target's answer.
    with pytest.raises(PermanentError) as caught:
        connector.drift("user", None)
    assert not isinstance(caught.value, PositionExpiredError)


def test_drift_compares_what_both_sides_can_hold() -> None:
    desired = {
        "jobTitle": "Engineer",
        "accountEnabled": True,
        "businessPhones": "+1 555",
        "officeLocation": None,
        "alternativeSecurityIds": "5::x",
        "manager": "m-1",
        "userType": "Member",
    }
    current = {
        "jobTitle": "Intern",
        "accountEnabled": False,
        "businessPhones": ["+1 555"],
        "officeLocation": "",
        "alternativeSecurityIds": None,
        "manager": None,
    }
    assert drifted(desired, current) == [
        Change("jobTitle", "Intern", "Engineer"),
        Change("accountEnabled", False, True),
    ]
    assert drifted(desired, {**current, "jobTitle": "Engineer", "accountEnabled": "True"}) == []
