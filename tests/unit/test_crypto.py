"""Secrets shown to people."""

from __future__ import annotations

import pytest

from hospes.auth import crypto


def test_shown_secrets_never_start_like_an_option(monkeypatch: pytest.MonkeyPatch) -> None:
    drawn = iter(["-looks-like-an-option", "-again", "plain-secret"])
    monkeypatch.setattr(crypto.secrets, "token_urlsafe", lambda nbytes: next(drawn))
    assert crypto.shown_secret(32) == "plain-secret"
