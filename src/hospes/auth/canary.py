"""The deployment's secret key, checked before anything sealed is read: every host must use the same one.

Without ``HOSPES_SECRET_KEY`` a process makes its own key file in its data folder; that is right for the
single-host SQLite default and silently wrong for several hosts (each would seal with a key of its own), so a
server database (PostgreSQL) requires the setting. A canary row sealed with the key when the database is first
used tells a process started with another key in plain words, before it trips over the first sealed value.
"""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from hospes.auth.crypto import DecryptionError, SecretBox, secret_box
from hospes.settings import Settings
from hospes.storage.tables_fleet import SecretCanary

_PURPOSE = "canary"
_PLAINTEXT = b"hospes secret key canary"


class SecretKeyError(RuntimeError):
    """The secret key is missing where it must be shared, or is not the one the database was sealed with."""


def require_shared_key(settings: Settings) -> None:
    if settings.secret_key or settings.effective_database_url.startswith("sqlite"):
        return
    raise SecretKeyError(
        "HOSPES_SECRET_KEY is not set. With a server database (PostgreSQL) every Hospes host and worker must seal "
        "and open secrets with the same key: set HOSPES_SECRET_KEY to the same value on each of them (at least 32 "
        "characters, e.g. `openssl rand -hex 32`); a key file made per host would differ."
    )


def check_secret_key(sessions: sessionmaker[Session], box: SecretBox) -> None:
    """Seal the canary on first use; afterwards, refuse a key that cannot open it."""
    with sessions() as session:
        row = session.get(SecretCanary, 1)
        sealed = row.sealed if row is not None else None
    if sealed is None:
        try:
            with sessions.begin() as session:
                session.add(SecretCanary(id=1, sealed=box.encrypt(_PURPOSE, _PLAINTEXT)))
            return
        except IntegrityError:  # another process sealed it first: check against theirs
            check_secret_key(sessions, box)
            return
    try:
        opened = box.decrypt(_PURPOSE, sealed)
    except DecryptionError:
        opened = b""
    if opened != _PLAINTEXT:
        raise SecretKeyError(
            "HOSPES_SECRET_KEY is not the key this database was sealed with (its secret-key check does not open). "
            "Use the same HOSPES_SECRET_KEY on every host (or, without it, the data folder's secret.key of the host "
            "that created the database)."
        )


def deployment_box(settings: Settings, sessions: sessionmaker[Session]) -> SecretBox:
    """The deployment's ``SecretBox``, once the key is known to be the shared one."""
    require_shared_key(settings)
    box = secret_box(settings.secret_key, settings.data_dir)
    check_secret_key(sessions, box)
    return box
