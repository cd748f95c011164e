"""Headless Chromium (Debian's, never a downloaded build) driven by Playwright against a real server process.

Without /usr/bin/chromium the browser tests are skipped with a visible reason — unless HOSPES_TEST_REQUIRE_ALL=1
(CI, which installs the package), where a missing browser fails the run instead. Screenshots go to
``artifacts/browser/`` (gitignored), or to ``$HOSPES_TEST_ARTIFACTS/browser/``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hospes.settings import Settings
from tests.helpers.env import CHROMIUM, REQUIRE_ALL, ROOT
from tests.helpers.live import LiveServer, run_server
from tests.helpers.mail import MailSink

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture
def browser() -> Iterator[Any]:
    """Per test, not per session: while Playwright's sync API is open it runs an asyncio loop in this thread,
    which would break any later test that calls ``asyncio.run``."""
    if not Path(CHROMIUM).exists():
        if REQUIRE_ALL:
            pytest.fail(f"{CHROMIUM} is required in CI (apt-get install chromium)")
        pytest.skip(f"{CHROMIUM} not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture(scope="session")
def web_server(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with run_server(database_url, str(tmp_path_factory.mktemp("live-web"))) as server:
        yield server


@pytest.fixture(scope="module")
def mail_sink() -> Iterator[MailSink]:
    """One SMTP sink for a module's server; each test waits for the mail of its own addresses."""
    sink = MailSink().start()
    yield sink
    sink.stop()


@pytest.fixture(scope="module")
def live(database_url: str, settings: Settings, mail_sink: MailSink) -> Iterator[LiveServer]:
    """One server for a module, delivering mail to ``mail_sink``: each test invites from tenants and to addresses
    of its own. Same data folder as the in-process app (run_server also hands every server the session's secret
    key)."""
    with run_server(database_url, str(settings.data_dir), mail_sink.smtp_env) as server:
        yield server


@pytest.fixture
def artifacts(request: pytest.FixtureRequest) -> Path:
    base = Path(os.environ.get("HOSPES_TEST_ARTIFACTS") or ROOT / "artifacts")
    folder = base / "browser" / request.node.name.replace("[", "-").replace("]", "")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1100, "height": 800}, locale="en-US")
    try:
        yield context.new_page()
    finally:
        context.close()
