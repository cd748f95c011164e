"""Counts and sizes read from requests: ASCII digits only."""

from __future__ import annotations

import pytest

from hospes.digits import ascii_int


@pytest.mark.parametrize(("text", "value"), [("0", 0), ("7", 7), ("0042", 42), ("999999999999999999", 10**18 - 1)])
def test_ascii_digits_are_read(text: str, value: int) -> None:
    assert ascii_int(text) == value


@pytest.mark.parametrize(
    "text",
    [None, "", " 1", "1 ", "+1", "-1", "1.0", "²", "1²", "٣", "１", "9" * 19, "9" * 5000, "0x1", "1_000"],
)
def test_anything_else_is_none(text: str | None) -> None:
    assert ascii_int(text) is None
