"""``hospes serve``'s roles: with ``--role all`` (the default) every process serves the API and runs the
background workers, which share the work through the database (no per-host lock); ``--role api`` runs none."""

from __future__ import annotations

from pathlib import Path

import pytest

from hospes.asgi import worker_app
from hospes.storage.migrate import upgrade


@pytest.fixture
def server_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:///{tmp_path / 'hospes.db'}"
    upgrade(url)
    monkeypatch.setenv("HOSPES_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("HOSPES_DATABASE_URL", url)
    monkeypatch.setenv("HOSPES_SMTP_HOST", "127.0.0.1")  # so a background process would deliver mail
    monkeypatch.delenv("HOSPES_SERVE_CONFIG", raising=False)
    monkeypatch.setattr("hospes.asgi.tune_gc", lambda: None)  # a server process's GC settings, not the test run's


def test_every_all_in_one_process_runs_the_background_workers(
    server_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOSPES_SERVE_ROLE", "all")
    apps = [worker_app(), worker_app()]
    try:
        for app in apps:
            workers = app.state.runtime.workers
            assert workers.outbox is not None and workers.provisioning is not None and workers.scheduler is not None
            assert workers.bulk_running and workers.dynamic_groups is not None
        assert not (Path(str(apps[0].state.runtime.settings.data_dir)) / "background.lock").exists()
    finally:
        for app in apps:
            app.state.runtime.database.dispose()  # no lifespan ran, which would have


def test_an_api_node_runs_no_background_work(server_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOSPES_SERVE_ROLE", "api")
    app = worker_app()
    try:
        workers = app.state.runtime.workers
        assert workers.outbox is None and workers.provisioning is None and workers.scheduler is None
        assert not workers.bulk_running and workers.dynamic_groups is None and workers.listener is None
    finally:
        app.state.runtime.database.dispose()
