"""Outbound provisioning (issue 7): keep SaaS apps in sync over SCIM 2.0.

``service.ProvisioningService`` is the facade for the Graph synchronization API and the CLI; ``runner`` runs
jobs in the background; ``engine`` plans and applies changes through a ``connector`` (``scim`` for SCIM 2.0),
behind the SSRF guard of ``ssrf``. See docs/provisioning.md.
"""

from hospes.provisioning.runner import ProvisioningRunner
from hospes.provisioning.service import LogPage, LogQuery, Progress, ProvisioningService, parse_reset_scope

__all__ = ["LogPage", "LogQuery", "Progress", "ProvisioningRunner", "ProvisioningService", "parse_reset_scope"]
