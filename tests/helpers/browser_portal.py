"""Helpers of the portal's browser tests: a fresh tenant, users made through the service, sign-in, screenshots."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from hospes.domain.principals import system_principal
from hospes.services.tenants import TenantBootstrap, create_tenant
from hospes.services.users import UserService
from tests.helpers.tenants import ADMIN_PASSWORD, PASSWORD


def tenant(sessions: sessionmaker[Session]) -> TenantBootstrap:
    return create_tenant(sessions, "Contoso", f"contoso-{uuid.uuid4().hex[:8]}.example", admin_password=ADMIN_PASSWORD)


def user(sessions: sessionmaker[Session], boot: TenantBootstrap, nickname: str, name: str, **extra: Any) -> str:
    values = {
        "account_enabled": True,
        "display_name": name,
        "mail_nickname": nickname,
        "user_principal_name": f"{nickname}@{boot.domain}",
        **extra,
    }
    return UserService(sessions, system_principal(boot.tenant_id)).create(values, PASSWORD).id


def shot(page: Any, folder: Path, name: str) -> None:
    page.screenshot(path=str(folder / f"{name}.png"), full_page=True)


def sign_in(page: Any, base: str, upn: str, password: str = ADMIN_PASSWORD) -> None:
    page.goto(f"{base}/login?next=/{base.rsplit('/', 1)[1]}/admin")
    page.get_by_label("Sign-in name").fill(upn)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{base}/admin")
