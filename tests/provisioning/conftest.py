"""Fixtures for the provisioning engine: a live ``scim2-server`` target, settings with short retry delays, the
provisioning service, and an app with a job pointed at the target (``tests.helpers.provisioning``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from hospes.auth.crypto import secret_box
from hospes.provisioning.service import ProvisioningService
from hospes.settings import Settings
from tests.helpers.provisioning import App, make_app
from tests.helpers.scimtarget import Target, run_target
from tests.helpers.tenants import TenantHandle


@pytest.fixture
def scim_target(tmp_path: Path) -> Iterator[Target]:
    with run_target(tmp_path / "scim", dump=True) as target:
        yield target


@pytest.fixture
def prov_settings(settings: Settings) -> Settings:
    # Loopback targets are admitted explicitly, as an operator would for an intranet SCIM server.
    return settings.model_copy(
        update={
            "outbound_allow": "127.0.0.1",
            "provisioning_escrow_base_seconds": 0.2,
            "provisioning_quarantine_retry_seconds": 0.2,
            "provisioning_poll_seconds": 0.05,
            "provisioning_concurrency": 4,
        }
    )


@pytest.fixture
def service(sessions: sessionmaker[Session], prov_settings: Settings) -> ProvisioningService:
    box = secret_box(prov_settings.secret_key, prov_settings.data_dir)
    return ProvisioningService(sessions, prov_settings, box)


@pytest.fixture
def sync_app(tenant: TenantHandle, service: ProvisioningService, scim_target: Target) -> App:
    return make_app(tenant, service, scim_target)
