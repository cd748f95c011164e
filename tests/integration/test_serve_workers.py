"""``hospes serve --workers N``: every process serves the API, exactly one runs the background jobs."""

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
    monkeypatch.setenv("HOSPES_SMTP_HOST", "127.0.0.1")  # so the primary would deliver mail
    monkeypatch.delenv("HOSPES_SERVE_CONFIG", raising=False)
    monkeypatch.setattr("hospes.asgi.tune_gc", lambda: None)  # a server process's GC settings, not the test run's


def test_only_the_lock_holder_runs_background_jobs(server_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOSPES_SERVE_WORKERS", "2")
    # flock locks belong to an open file description: a second open in this process contends like another process.
    first, second = worker_app(), worker_app()
    first_runtime, second_runtime = first.state.runtime, second.state.runtime
    try:
        assert first_runtime.background_lock is not None and first_runtime.workers.outbox is not None
        assert second_runtime.background_lock is None and second_runtime.workers.outbox is None
        assert second_runtime.workers.provisioning is None
        first_runtime.background_lock.close()  # the primary dies: the next process started takes the jobs over
        third = worker_app()
        try:
            assert third.state.runtime.background_lock is not None and third.state.runtime.workers.outbox is not None
            third.state.runtime.background_lock.close()
        finally:
            third.state.runtime.database.dispose()  # no lifespan ran, which would have
    finally:
        first_runtime.database.dispose()
        second_runtime.database.dispose()


def test_a_lone_server_process_runs_the_background_jobs_even_if_the_lock_is_held(
    server_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOSPES_SERVE_WORKERS", "2")
    holder = worker_app()  # e.g. an instance still shutting down, or another deployment on the same data folder
    monkeypatch.setenv("HOSPES_SERVE_WORKERS", "1")
    lone = worker_app()
    try:
        assert holder.state.runtime.background_lock is not None
        workers = lone.state.runtime.workers
        assert workers.outbox is not None and workers.provisioning is not None and workers.housekeeping is not None
        assert workers.bulk_running
    finally:
        holder.state.runtime.background_lock.close()
        holder.state.runtime.database.dispose()
        lone.state.runtime.database.dispose()
