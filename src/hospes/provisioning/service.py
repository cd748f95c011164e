"""The provisioning facade for the Graph synchronization API, the admin portal and the ``hospes sync`` CLI (no
HTTP here): one class, ``ProvisioningService(sessions, settings, box)``, composed of its parts by concern.

Every method takes the tenant id and checks that the service principal and the job belong to it. Return values
are plain dicts shaped like the Graph resources (``synchronizationJob``, ``synchronizationStatus``,
``synchronizationSchema``, ``provisioningObjectSummary``), so a router only serializes them. Errors are
``hospes.domain.errors`` exceptions (NotFound, InvalidInput, Conflict). Mutations are audited through
``Services.write`` (actor: the caller's principal, or the system).

Methods (``jobs.py``):
    create_job(tenant_id, sp_id, template_id="scim") -> job          list_jobs(tenant_id, sp_id) -> [job]
    get_job(tenant_id, sp_id, job_id) -> job                           delete_job(tenant_id, sp_id, job_id)
    delete_synchronization(tenant_id, sp_id)
    update_job_settings(tenant_id, sp_id, job_id, [{name, value}]) -> job
    put_secrets(tenant_id, sp_id, secrets)      (write-only; ``secret_keys`` lists which keys are set)
    saved_secrets(tenant_id, sp_id) -> {key: value}                    (the portal's merge; never rendered)
    template(template_id) -> synchronizationSchema
    get_schema / replace_schema(tenant_id, sp_id, job_id, schema) / reset_schema
    status(tenant_id, sp_id, job_id) -> synchronizationStatus          progress(...) -> Progress
The mapping editor (``schema_edits.py``):
    mapping_view(tenant_id, sp_id, job_id, kind) -> MappingView
    set_attribute_mapping(..., kind, MappingInput) / remove_attribute_mapping(..., kind, target)
    set_scope(..., kind, scope_text) / set_flows(..., kind, enabled=, actions=)
The target's attributes (``target_schema.py``):
    target_attributes(tenant_id, sp_id, job_id, kind) -> TargetAttributes (discovered, or Hospes's list)
    discover_target_schema(tenant_id, sp_id, job_id) -> bool (False: the target has no /Schemas)
Runs (``runs.py``):
    start / pause(tenant_id, sp_id, job_id)     restart(tenant_id, sp_id, job_id, reset_scope)
    validate_credentials(tenant_id, sp_id, job_id=None, credentials=None, use_saved=True)
    provision_on_demand(tenant_id, sp_id, job_id, subjects=[(object_id, "User"|"Group")]) -> [result]
    dry_run(tenant_id, sp_id, job_id) -> {summary, actions}
Logs (``logs.py``):
    logs(tenant_id, LogQuery) -> LogPage          get_log(tenant_id, log_id) -> provisioningObjectSummary
"""

from __future__ import annotations

from hospes.provisioning.jobs import Jobs
from hospes.provisioning.logs import Logs
from hospes.provisioning.runs import Runs
from hospes.provisioning.schema_edits import SchemaEdits
from hospes.provisioning.target_schema import TargetSchemas


class ProvisioningService(Jobs, SchemaEdits, TargetSchemas, Runs, Logs):
    """The facade routers, pages and the CLI use (one instance per process, on the runtime)."""
