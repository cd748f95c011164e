"""The migration that turns the "require MFA for guests" setting into a conditional-access policy keeps what each
tenant configured: on becomes an enabled policy the setting then reads, off creates nothing."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from hospes.services.guest_mfa_policy import (
    GUEST_MFA_POLICY_NAME,
    guest_mfa_enabled,
    guest_mfa_policy_form,
    guest_mfa_policy_id,
)
from hospes.services.guest_policy import load_guest_policy
from hospes.storage.migrate import upgrade
from hospes.storage.tables import Tenant
from hospes.storage.tables_access import ConditionalAccessPolicy
from hospes.storage.tables_redemption import GuestAccessPolicy


def test_the_setting_becomes_a_policy(tmp_path: Path) -> None:
    url = f"sqlite+pysqlite:///{tmp_path / 'old.db'}"
    upgrade(url, "0015")
    engine = create_engine(url)
    now = datetime(2026, 12, 1, tzinfo=UTC)
    with Session(engine) as session, session.begin():
        for tenant_id, required in (("t-on", True), ("t-off", False)):
            session.add(Tenant(id=tenant_id, display_name=tenant_id, created_at=now))
            session.flush()
            session.add(GuestAccessPolicy(tenant_id=tenant_id, require_guest_mfa=required, trust_home_mfa=False))
        session.add(Tenant(id="t-never", display_name="never configured", created_at=now))
    upgrade(url)
    with Session(engine) as session:
        policies = list(session.scalars(select(ConditionalAccessPolicy)))
        assert [(p.tenant_id, p.id, p.state, p.display_name) for p in policies] == [
            ("t-on", guest_mfa_policy_id("t-on"), "enabled", GUEST_MFA_POLICY_NAME)
        ]
        # The same policy as turning the setting on creates now.
        assert policies[0].conditions == guest_mfa_policy_form()["conditions"]
        assert policies[0].grant_controls == {
            "operator": "OR",
            "builtInControls": ["mfa"],
            "customAuthenticationFactors": [],
            "termsOfUse": [],
        }
        assert guest_mfa_enabled(session, "t-on") and load_guest_policy(session, "t-on").require_guest_mfa
        assert not load_guest_policy(session, "t-off").require_guest_mfa
        assert not guest_mfa_enabled(session, "t-never")
    engine.dispose()
