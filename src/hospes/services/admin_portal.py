"""The saved provisioning secrets the portal's Provisioning screen merges with. The portal's other pieces live by
capability: ``services.admin_access`` (who may do what), ``services.directory_views`` (lists and detail pages),
``services.collaboration`` (external collaboration settings), ``services.invitations.onboarding`` (a guest invited
straight into groups and apps), and the user and app services.
"""

from __future__ import annotations

from typing import Any


def saved_provisioning_secrets(sessions: Any, box: Any, tenant_id: str, sp_id: str) -> dict[str, str]:
    """The current synchronization secrets of an app of this tenant, for the Provisioning screen's merge: the
    facade's ``put_secrets`` replaces the whole set, and the screen lets an admin change the notification email
    without typing the secret token again. Never rendered into a page."""
    from hospes.provisioning.credentials import unseal
    from hospes.storage.tables_provisioning import ProvisioningSecrets

    with sessions() as session:
        row = session.get(ProvisioningSecrets, sp_id)
        if row is None or row.tenant_id != tenant_id:
            return {}
        return unseal(box, sp_id, row.sealed)
