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
    from hospes.storage.engine import Database
    from hospes.storage.migrate import upgrade

    url = f"sqlite:///{tmp_path / 'legacy.db'}"
    upgrade(url)
    sessions = Database.open(url).sessions
    key = RSAKey.generate_key(2048, auto_kid=True)
    with sessions.begin() as session:
        session.add(SigningKey(kid=str(key.kid), purpose="jwt", material=key.as_dict(private=True)))
        session.add(SigningKey(kid="hmac-legacy", purpose="hmac", material={"k": "legacy-hmac-key"}))
    keys = load_or_create_keys(sessions, SecretBox(b"s" * 32))
    assert keys.hmac_key == b"legacy-hmac-key"
    assert keys.jwt_key.as_dict(private=True) == key.as_dict(private=True)
    rows = stored(sessions)
    assert set(rows["jwt"].material) == {"sealed"} and set(rows["hmac"].material) == {"sealed"}


def test_processes_starting_together_on_a_new_database_share_one_key_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both find no keys and both create some (the barrier holds each between its read and its insert): the
    one-live-key-per-purpose index fails the second insert, which then loads the first's keys."""
    import threading

    from hospes.auth import keys as keys_module
    from hospes.auth.keys import ServerKeys
    from hospes.storage.engine import Database
    from hospes.storage.migrate import upgrade

    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    upgrade(url)
    barrier = threading.Barrier(2, timeout=10)
    generate = RSAKey.generate_key

    def generate_together(*args: object, **kwargs: object) -> RSAKey:
        barrier.wait()
        return generate(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(keys_module.RSAKey, "generate_key", generate_together)
    results: list[ServerKeys] = []

    def start() -> None:  # a server process: its own engine
        results.append(load_or_create_keys(Database.open(url).sessions, SecretBox(b"s" * 32)))

    threads = [threading.Thread(target=start) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(results) == 2
    assert results[0].jwt_key.kid == results[1].jwt_key.kid and results[0].hmac_key == results[1].hmac_key
    assert results[1].unseal("t", results[0].seal("t", {"n": 1})) == {"n": 1}
    sessions = Database.open(url).sessions
    with sessions() as session:
        live = list(session.scalars(select(SigningKey.purpose).where(SigningKey.retired_at.is_(None))))
    assert sorted(live) == ["hmac", "jwt", "jwt-next"]  # one live key per purpose, the next signing key too


def test_migration_keeps_the_oldest_live_key_of_each_purpose(tmp_path: Path) -> None:
    """Databases where the race already happened: the duplicates are retired, so the index can be built."""
    import datetime as dt

    from hospes.storage.engine import Database
    from hospes.storage.migrate import upgrade

    url = f"sqlite:///{tmp_path / 'raced.db'}"
    upgrade(url, "0007")
    sessions = Database.open(url).sessions
    t0 = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
    with sessions.begin() as session:
        for i, purpose in enumerate(["jwt", "jwt", "hmac", "hmac", "jwt"]):
            session.add(
                SigningKey(kid=f"{purpose}-{i}", purpose=purpose, material={}, created_at=t0 + dt.timedelta(seconds=i))
            )
    upgrade(url)
    with sessions() as session:
        live = set(session.scalars(select(SigningKey.kid).where(SigningKey.retired_at.is_(None))))
    assert live == {"jwt-0", "hmac-2"}
