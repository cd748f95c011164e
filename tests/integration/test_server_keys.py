"""Server keys are encrypted at rest: a database dump alone yields neither the JWT private key nor the HMAC key."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from joserfc.jwk import RSAKey
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from hospes.auth.crypto import DecryptionError, SecretBox, secret_box
from hospes.auth.keys import load_or_create_keys
from hospes.settings import Settings
from hospes.storage.tables import SigningKey


def stored(sessions: sessionmaker[Session]) -> dict[str, SigningKey]:
    with sessions() as session:
        return {row.purpose: row for row in session.scalars(select(SigningKey).where(SigningKey.retired_at.is_(None)))}


def test_key_material_is_sealed_and_reloads_the_same_keys(sessions: sessionmaker[Session], settings: Settings) -> None:
    box = secret_box(settings.secret_key, settings.data_dir)
    keys = load_or_create_keys(sessions, box)
    rows = stored(sessions)
    dump = json.dumps({purpose: row.material for purpose, row in rows.items()})
    assert set(rows["jwt"].material) == {"sealed"} and set(rows["hmac"].material) == {"sealed"}
    assert keys.hmac_key.decode() not in dump
    assert str(keys.jwt_key.as_dict(private=True)["d"]) not in dump
    again = load_or_create_keys(sessions, box)
    assert again.hmac_key == keys.hmac_key
    assert again.jwt_key.as_dict(private=True) == keys.jwt_key.as_dict(private=True)
    token = keys.seal("test", {"n": 1})
    assert again.unseal("test", token) == {"n": 1}


def test_another_deployment_key_cannot_open_them(sessions: sessionmaker[Session], settings: Settings) -> None:
    load_or_create_keys(sessions, secret_box(settings.secret_key, settings.data_dir))
    with pytest.raises(DecryptionError):
        load_or_create_keys(sessions, SecretBox(b"k" * 32))


def test_plaintext_rows_from_before_encryption_are_sealed_on_load(tmp_path: Path) -> None:
    from hospes.storage.engine import make_engine, make_sessionmaker
    from hospes.storage.migrate import upgrade

    url = f"sqlite:///{tmp_path / 'legacy.db'}"
    upgrade(url)
    sessions = make_sessionmaker(make_engine(url))
    key = RSAKey.generate_key(2048, auto_kid=True)
    with sessions.begin() as session:
        session.add(SigningKey(kid=str(key.kid), purpose="jwt", material=key.as_dict(private=True)))
        session.add(SigningKey(kid="hmac-legacy", purpose="hmac", material={"k": "legacy-hmac-key"}))
    keys = load_or_create_keys(sessions, SecretBox(b"s" * 32))
    assert keys.hmac_key == b"legacy-hmac-key"
    assert keys.jwt_key.as_dict(private=True) == key.as_dict(private=True)
    rows = stored(sessions)
    assert set(rows["jwt"].material) == {"sealed"} and set(rows["hmac"].material) == {"sealed"}
