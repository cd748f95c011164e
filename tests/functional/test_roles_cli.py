"""Process roles and the deployment's one migration step: ``hospes db upgrade`` migrates, ``hospes serve --role api``
and ``hospes worker`` refuse a schema that is not current, ``--role all`` migrates as before; a server database
needs the shared secret key, and a wrong key is one plain error."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import sessionmaker
from typer.testing import CliRunner

from hospes.auth.canary import SecretKeyError, check_secret_key, require_shared_key
from hospes.auth.crypto import SecretBox
from hospes.cli import server
from hospes.cli.main import app
from hospes.settings import Settings
from hospes.storage.engine import Database
from hospes.storage.migrate import schema_state


@pytest.fixture(autouse=True)
def logging_restored() -> Iterator[None]:
    """``hospes worker`` configures the process's logging to the stderr of the moment, here the CLI runner's buffer,
    which is closed once the command returns: later records of this process (another test's migrations) would fail
    on it and write 'Logging error' into that test's output. Leave logging as it was found."""
    yield
    for name in ("hospes", "uvicorn.error", "alembic"):
        logger = logging.getLogger(name)
        for handler in [h for h in logger.handlers if h.get_name() == "hospes"]:
            logger.removeHandler(handler)
        logger.propagate = True
        logger.setLevel(logging.NOTSET)
    logging.getLogger("uvicorn.access").disabled = False


@pytest.fixture
def fresh(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """An empty SQLite database in a fresh data folder; uvicorn replaced by a recorder."""
    url = f"sqlite:///{tmp_path / 'hospes.db'}"
    monkeypatch.setenv("HOSPES_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("HOSPES_DATABASE_URL", url)
    monkeypatch.delenv("HOSPES_PUBLIC_URL", raising=False)
    for name in ("HOSPES_SERVE_CONFIG", "HOSPES_SERVE_ROLE"):
        monkeypatch.setenv(name, "")
    calls: dict[str, Any] = {"url": url}
    monkeypatch.setattr(server.uvicorn, "run", lambda target, **options: calls.update(options, target=target))
    return calls


def run(*args: str) -> Any:
    return CliRunner().invoke(app, list(args))


def test_api_nodes_and_workers_refuse_a_schema_that_is_not_current(fresh: dict[str, Any]) -> None:
    for args in (["serve", "--role", "api"], ["worker"], ["db", "check"]):
        result = run(*args)
        assert result.exit_code == 1, (args, result.output)
        assert "hospes db upgrade" in " ".join(result.output.split()), result.output
    assert "target" not in fresh  # uvicorn never started
    assert schema_state(fresh["url"]).current is None  # and nothing migrated


def test_db_upgrade_then_an_api_node_starts_without_background_work(fresh: dict[str, Any]) -> None:
    assert run("db", "upgrade").exit_code == 0
    assert schema_state(fresh["url"]).ok
    assert run("db", "check").exit_code == 0
    result = run("serve", "--role", "api")
    assert result.exit_code == 0, result.output
    assert os.environ["HOSPES_SERVE_ROLE"] == "api"


def test_the_all_in_one_default_migrates_at_start(fresh: dict[str, Any]) -> None:
    result = run("serve")
    assert result.exit_code == 0, result.output
    assert schema_state(fresh["url"]).ok
    assert os.environ["HOSPES_SERVE_ROLE"] == "all"


def test_a_server_database_needs_the_shared_secret_key(tmp_path: Path) -> None:
    url = "postgresql+psycopg://hospes@db.invalid/hospes"
    with pytest.raises(SecretKeyError, match="HOSPES_SECRET_KEY is not set"):
        require_shared_key(Settings(database_url=url, data_dir=tmp_path, secret_key=""))
    require_shared_key(Settings(database_url=url, data_dir=tmp_path, secret_key="k" * 32))
    require_shared_key(Settings(database_url=f"sqlite:///{tmp_path / 'x.db'}", data_dir=tmp_path, secret_key=""))


def test_a_wrong_secret_key_is_named_at_start(fresh: dict[str, Any]) -> None:
    assert run("db", "upgrade").exit_code == 0
    database = Database.open(fresh["url"])
    try:
        sessions: sessionmaker[Any] = database.sessions
        check_secret_key(sessions, SecretBox(b"a" * 32))  # seals the canary
        check_secret_key(sessions, SecretBox(b"a" * 32))  # the same key opens it
        with pytest.raises(SecretKeyError, match="not the key this database was sealed with"):
            check_secret_key(sessions, SecretBox(b"b" * 32))
    finally:
        database.dispose()
