"""A request that PostgreSQL aborted for a deadlock or a serialization failure runs once more instead of answering
500, unless it had committed something already (running it again would repeat that)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy.exc import OperationalError

from hospes.services.users import UserService
from tests.helpers.tenants import TenantHandle


class _DeadlockError(Exception):
    sqlstate = "40P01"


def _user(tenant: TenantHandle) -> dict[str, Any]:
    name = f"u{uuid.uuid4().hex[:8]}"
    return {
        "accountEnabled": True,
        "displayName": name,
        "mailNickname": name,
        "userPrincipalName": f"{name}@{tenant.domain}",
        "passwordProfile": {"password": "Passw0rd!Passw0rd!"},
    }


def test_a_deadlocked_write_runs_once_more(tenant: TenantHandle, monkeypatch: pytest.MonkeyPatch) -> None:
    create, calls = UserService.create, []

    def deadlock_once(self: UserService, *args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) == 1:
            raise OperationalError("INSERT ...", {}, _DeadlockError("deadlock detected"))
        return create(self, *args, **kwargs)

    monkeypatch.setattr(UserService, "create", deadlock_once)
    body = _user(tenant)
    answer = tenant.post("/users", json=body)
    assert answer.status_code == 201, answer.text
    assert len(calls) == 2
    found = tenant.get(f"/users?$filter=userPrincipalName eq '{body['userPrincipalName']}'").json()["value"]
    assert len(found) == 1


def test_a_request_that_committed_before_the_deadlock_is_not_run_again(
    tenant: TenantHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    create, calls = UserService.create, []

    def commit_then_deadlock(self: UserService, *args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        create(self, *args, **kwargs)  # committed
        raise OperationalError("UPDATE ...", {}, _DeadlockError("deadlock detected"))

    monkeypatch.setattr(UserService, "create", commit_then_deadlock)
    answer = tenant.post("/users", json=_user(tenant))
    assert answer.status_code == 500
    assert len(calls) == 1


def test_other_database_errors_are_not_retried(tenant: TenantHandle, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []

    def broken(self: UserService, *args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        raise OperationalError("INSERT ...", {}, Exception("server closed the connection"))

    monkeypatch.setattr(UserService, "create", broken)
    assert tenant.post("/users", json=_user(tenant)).status_code == 500
    assert len(calls) == 1
