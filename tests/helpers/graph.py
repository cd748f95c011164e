"""Checks on Graph API responses."""

from __future__ import annotations

from typing import Any


def assert_graph_error(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    error: dict[str, Any] = response.json()["error"]
    assert error["code"] == code
    assert error["message"]
    assert set(error["innerError"]) >= {"date", "request-id", "client-request-id"}
    return error
