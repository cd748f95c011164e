"""My Apps: the applications a signed-in user or guest may launch (assigned directly or through groups, nested
groups included; only those that can be opened and are not hidden), and an assigned app's launch URL (its sign-on
URL, or IdP-initiated sign-in for a SAML app without one)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from hospes.domain.app_registration import HIDE_APP
from hospes.services.admin_access import Access, load_access
from hospes.services.app_logos import logo_paths
from hospes.services.guest_flows import safe_redirect
from hospes.services.memberships import transitive_groups
from hospes.storage.tables import AppRoleAssignment, ServicePrincipal


@dataclass(frozen=True)
class AppTile:
    id: str
    name: str
    launch: bool
    logo: str | None = None  # the app's logo address, relative to the public URL


class MyApps:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions

    def apps(self, tenant_id: str, user_id: str) -> list[AppTile]:
        """Applications assigned to the user directly or through groups (nested groups included)."""
        with self.sessions() as session:
            principals = {user_id, *transitive_groups(session, tenant_id, user_id)}
            rows = session.scalars(
                select(ServicePrincipal)
                .join(AppRoleAssignment, AppRoleAssignment.resource_id == ServicePrincipal.id)
                .where(
                    AppRoleAssignment.tenant_id == tenant_id,
                    AppRoleAssignment.principal_id.in_(principals),
                    ServicePrincipal.tenant_id == tenant_id,
                    ServicePrincipal.account_enabled.is_(True),
                )
                .order_by(ServicePrincipal.display_name, ServicePrincipal.id)
            )
            sps = list(rows)
            logos = logo_paths(session, tenant_id, {sp.application_id for sp in sps if sp.application_id})
            seen: dict[str, AppTile] = {}
            for sp in sps:
                # No tile that cannot be opened, and none for an app the administrator hid ("Visible to users: No",
                # Entra's HideApp tag); the assignment still lets the user sign in from the app itself.
                launches = safe_redirect(sp.login_url) is not None or sp.preferred_single_sign_on_mode == "saml"
                if launches and HIDE_APP not in (sp.tags or []):
                    logo = logos.get(sp.application_id or "")
                    seen.setdefault(sp.id, AppTile(sp.id, sp.display_name, launches, logo))
            return list(seen.values())

    def launch_url(self, tenant_id: str, user_id: str, sp_id: str) -> str | None:
        """The app's sign-on URL (the app starts sign-in); for a SAML app without one, ``saml:{appId}``: the
        caller starts IdP-initiated sign-in."""
        if sp_id not in {tile.id for tile in self.apps(tenant_id, user_id)}:
            return None
        with self.sessions() as session:
            sp = session.get(ServicePrincipal, sp_id)
            if sp is None:
                return None
            url = safe_redirect(sp.login_url)
            if url is None and sp.preferred_single_sign_on_mode == "saml":
                return f"saml:{sp.app_id}"
            return url

    def portal_access(self, tenant_id: str, user_id: str) -> Access:
        """What the user may manage in the admin portal: the page links to it (group owners manage their own
        groups' guests from there, without an admin role)."""
        return load_access(self.sessions, tenant_id, user_id)

    def owned_apps(self, tenant_id: str, access: Access) -> list[tuple[str, str]]:
        """The apps the user owns (id, name): My Apps links each to its page, where the owner assigns users and
        from where they invite guests into it."""
        if not access.owned_apps:
            return []
        with self.sessions() as session:
            rows = session.execute(
                select(ServicePrincipal.id, ServicePrincipal.display_name)
                .where(ServicePrincipal.tenant_id == tenant_id, ServicePrincipal.id.in_(list(access.owned_apps)))
                .order_by(ServicePrincipal.display_name)
            )
            return [(sp_id, name) for sp_id, name in rows]
