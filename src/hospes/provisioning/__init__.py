"""Outbound provisioning: keep SaaS apps in sync over SCIM 2.0.

``service.ProvisioningService`` is the facade for the Graph synchronization API, the portal and the CLI
(``jobs``, ``schema_edits``, ``runs``, ``logs``); ``runner`` runs jobs in the background; ``engine`` runs a cycle:
``planner`` decides, ``applier`` sends through a ``connector`` (``scim`` for SCIM 2.0, behind the SSRF guard of
``ssrf``), ``journal`` records and ``lifecycle`` keeps the job's state. See docs/provisioning.md.
"""

from hospes.provisioning.jobs import Progress
from hospes.provisioning.logs import LogPage, LogQuery
from hospes.provisioning.runner import ProvisioningRunner
from hospes.provisioning.runs import parse_reset_scope
from hospes.provisioning.service import ProvisioningService

__all__ = ["LogPage", "LogQuery", "Progress", "ProvisioningRunner", "ProvisioningService", "parse_reset_scope"]
