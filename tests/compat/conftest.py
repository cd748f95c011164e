from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from hospes.services.tenants import TenantBootstrap, create_tenant
from tests.helpers.live import LiveServer, graph_client, run_server
from tests.helpers.tls import LocalCA, make_local_ca


@pytest.fixture(scope="session")
def live_server(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with run_server(database_url, str(tmp_path_factory.mktemp("live"))) as server:
        yield server


@pytest.fixture(scope="session")
def local_ca(tmp_path_factory: pytest.TempPathFactory) -> LocalCA:
    return make_local_ca(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="session")
def tls_server(database_url: str, local_ca: LocalCA, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """``hospes serve --tls-cert --tls-key`` with a certificate of the test CA (``tls_server.ca_file``)."""
    with run_server(database_url, str(tmp_path_factory.mktemp("live-tls")), tls=local_ca) as server:
        yield server


@pytest.fixture
def boot(sessions: sessionmaker[Session]) -> TenantBootstrap:
    return create_tenant(sessions, "Contoso", f"contoso-{uuid.uuid4().hex[:8]}.example")


@pytest.fixture
def sdk(live_server: LiveServer, boot: TenantBootstrap) -> Any:
    return graph_client(live_server, boot.domain, boot.client_id, boot.client_secret)
