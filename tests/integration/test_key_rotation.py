"""Signing-key rotation with overlap: tokens name their key (``kid``), every node verifies the current, next and
recently retired keys, reloads on a key it has not seen, and the JWKS publishes them all; retired HMAC keys still
open the links they sealed, and pairwise subjects do not move."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest
from sqlalchemy import update

from hospes.auth.crypto import SecretBox
from hospes.auth.keys import RETIRED_JWT_VERIFIED_FOR, ServerKeys, load_or_create_keys, rotate_keys
from hospes.auth.tokens import TokenIssuer
from hospes.domain.errors import AuthenticationError
from hospes.services.tenants import create_tenant
from hospes.storage.engine import Database
from hospes.storage.migrate import upgrade
from hospes.storage.tables import SigningKey
from tests.helpers.live import TEST_SECRET_KEY, run_server

BOX = SecretBox(b"r" * 32)


def _issuer(keys: ServerKeys) -> TokenIssuer:
    return TokenIssuer(keys, "https://hospes.example", 600)


def _token(issuer: TokenIssuer) -> str:
    token, _ = issuer.issue_app_token("tid", "app", "sp", "App", ["User.Read.All"], "https://graph.microsoft.com")
    return token


def test_a_node_that_has_not_reloaded_verifies_the_new_key_and_the_old_one(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'keys.db'}"
    upgrade(url)
    sessions = Database.open(url).sessions
    rotated, stale = load_or_create_keys(sessions, BOX), load_or_create_keys(sessions, BOX)
    before = _issuer(stale)
    old_token = _token(before)
    published_next = stale.public_jwks()["keys"][1]["kid"]
    changed = rotate_keys(sessions, BOX)
    assert changed["jwt"] == published_next  # the key that starts signing was published one rotation ahead
    rotated.refresh()
    after = _issuer(rotated)
    new_token = _token(after)
    assert new_token.split(".")[0] != old_token.split(".")[0]  # another kid in the header
    assert before.verify(new_token).tenant_id == "tid"  # the stale node reloads on the unknown kid
    assert after.verify(old_token).tenant_id == "tid"  # the retired key still verifies
    kids = [key["kid"] for key in rotated.public_jwks()["keys"]]
    assert kids == [changed["jwt"], changed["jwt-next"], _kid(old_token)]


def test_retired_keys_expire_and_unknown_keys_are_refused(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'keys.db'}"
    upgrade(url)
    sessions = Database.open(url).sessions
    keys = load_or_create_keys(sessions, BOX)
    old_token = _token(_issuer(keys))
    rotate_keys(sessions, BOX)
    long_ago = dt.datetime.now(dt.UTC) - RETIRED_JWT_VERIFIED_FOR - dt.timedelta(minutes=1)
    with sessions.begin() as session:
        session.execute(update(SigningKey).where(SigningKey.kid == _kid(old_token)).values(retired_at=long_ago))
    keys.refresh()
    with pytest.raises(AuthenticationError, match="signing key is unknown"):
        _issuer(keys).verify(old_token)
    upgrade(f"sqlite:///{tmp_path / 'other.db'}")
    other = load_or_create_keys(Database.open(f"sqlite:///{tmp_path / 'other.db'}").sessions, BOX)
    with pytest.raises(AuthenticationError):
        _issuer(keys).verify(_token(_issuer(other)))


def test_hmac_rotation_keeps_links_and_pairwise_subjects(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'keys.db'}"
    upgrade(url)
    sessions = Database.open(url).sessions
    keys = load_or_create_keys(sessions, BOX)
    link = keys.seal("delta:users", {"w": 42})
    subject_key = keys.subject_key
    rotate_keys(sessions, BOX, hmac_key=True)
    keys.refresh()
    assert keys.unseal("delta:users", link) == {"w": 42}
    assert keys.seal("delta:users", {"w": 42}) != link  # new links use the new key
    assert keys.subject_key == subject_key
    with pytest.raises(ValueError):
        keys.unseal("delta:groups", link)


def _kid(token: str) -> str:
    import base64
    import json

    head = token.split(".")[0]
    return str(json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))["kid"])


def _graph_token(base: str, tenant: str, client_id: str, secret: str) -> str:
    answer = httpx.post(
        f"{base}/{tenant}/oauth2/v2.0/token",
        data={
            "grant_type": "client_credentials",
            "client_id": client_id,
            "client_secret": secret,
            "scope": "https://graph.microsoft.com/.default",
        },
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    return str(answer.json()["access_token"])


def test_rotation_during_a_rolling_restart_gives_no_401(tmp_path: Path) -> None:
    """Two nodes on one database; ``hospes keys rotate``; node 1 restarts (signing with the new key) while node 2
    still runs with the keys it loaded: each node accepts the other's tokens, and every JWKS lists both keys."""
    url = f"sqlite:///{tmp_path / 'fleet.db'}"
    upgrade(url)
    database = Database.open(url)
    domain = f"roll-{uuid.uuid4().hex[:8]}.example"
    boot = create_tenant(database.sessions, "Roll", domain)
    database.dispose()
    env = {
        "HOSPES_ACCESS_LOG": "false",
        "HOSPES_PUBLIC_URL": "http://fleet.example",
    }  # one issuer, as behind a balancer
    with run_server(url, str(tmp_path / "n2"), env) as node2:
        with run_server(url, str(tmp_path / "n1"), env) as node1:
            old_token = _graph_token(node1.base_url, domain, boot.client_id, boot.client_secret)
        rotate = subprocess.run(
            [sys.executable, "-m", "hospes", "keys", "rotate"],
            env={**os.environ, "HOSPES_DATABASE_URL": url, "HOSPES_SECRET_KEY": TEST_SECRET_KEY},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert rotate.returncode == 0, rotate.stderr
        assert "signing key now" in rotate.stdout
        with run_server(url, str(tmp_path / "n1"), env) as node1:
            new_token = _graph_token(node1.base_url, domain, boot.client_id, boot.client_secret)
            assert _kid(new_token) != _kid(old_token)
            started = time.monotonic()
            for base, token in ((node2.base_url, new_token), (node1.base_url, old_token), (node2.base_url, old_token)):
                answer = httpx.get(f"{base}/v1.0/users", headers={"Authorization": f"Bearer {token}"}, timeout=30)
                assert answer.status_code == 200, (base, answer.text)
            assert time.monotonic() - started < ServerKeys.RELOAD_SECONDS  # not by waiting for the periodic reload
            for base in (node1.base_url, node2.base_url):
                jwks = httpx.get(f"{base}/{domain}/discovery/v2.0/keys", timeout=30).json()
                assert {_kid(new_token), _kid(old_token)} <= {key["kid"] for key in jwks["keys"]}
