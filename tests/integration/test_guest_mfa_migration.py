"""The migration that turns the "require MFA for guests" setting into a conditional-access policy keeps what each
tenant configured: on becomes an enabled policy the setting then reads, off creates nothing."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import MetaData, Table, create_engine, insert, select
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


def row_then(then: Table, mapped: Any, **values: Any) -> dict[str, Any]:
    """``values`` plus today's scalar defaults of the columns the table had then."""
    now = mapped.__table__.c
    for column in then.c:
        default = now[column.name].default if column.name in now else None
        if column.name not in values and default is not None and default.is_scalar:
            values[column.name] = default.arg
    return values


def test_the_setting_becomes_a_policy(tmp_path: Path) -> None:
    url = f"sqlite+pysqlite:///{tmp_path / 'old.db'}"
    upgrade(url, "0015")
    engine = create_engine(url)
    now = datetime(2026, 12, 1, tzinfo=UTC)
    # The tables as they were at that revision (today's mapped classes carry columns later migrations add).
    old = MetaData()
    tenants = Table(Tenant.__tablename__, old, autoload_with=engine)
    policies_then = Table(GuestAccessPolicy.__tablename__, old, autoload_with=engine)
    with engine.begin() as connection:
        for tenant_id, required in (("t-on", True), ("t-off", False)):
            connection.execute(
                insert(tenants).values(
                    id=tenant_id, display_name=tenant_id, created_at=now, technical_notification_mails="[]"
                )
            )
            connection.execute(
                insert(policies_then).values(
                    row_then(
                        policies_then,
                        GuestAccessPolicy,
                        tenant_id=tenant_id,
                        require_guest_mfa=required,
                        trust_home_mfa=False,
                        updated_at=now,
                    )
                )
            )
        connection.execute(
            insert(tenants).values(
                id="t-never", display_name="never configured", created_at=now, technical_notification_mails="[]"
            )
        )
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
