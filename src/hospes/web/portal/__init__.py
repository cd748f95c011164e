"""The admin portal under ``/{tenant}/admin``: users, invitations, bulk invite, groups, enterprise applications,
external collaboration and organization settings, audit log and outbox. See docs/portal.md."""

from __future__ import annotations

from fastapi import APIRouter

from hospes.web.portal import (
    app_logo,
    app_registrations,
    app_sso,
    apps,
    bulk,
    ca_locations,
    ca_policies,
    ca_what_if,
    cross_tenant,
    dynamic_groups,
    groups,
    identity_providers,
    logs,
    pickers,
    provisioning_logs,
    provisioning_mappings,
    provisioning_settings,
    settings,
    sign_in_logs,
    terms_of_use,
    topology,
    user_edit,
    user_lists,
    user_roles,
    users,
)

router = APIRouter(include_in_schema=False)
router.include_router(bulk.router)  # before users: /users/bulk is not a user id
router.include_router(user_lists.router)  # before users: /users/download.csv and /users/selected are not ids
router.include_router(user_edit.router)  # before users: /users/{id}/edit is not a confirmation page
router.include_router(user_roles.router)
router.include_router(users.router)
router.include_router(pickers.router)
router.include_router(groups.router)
router.include_router(dynamic_groups.router)
router.include_router(provisioning_settings.router)  # before apps: /apps/{id}/provisioning
router.include_router(provisioning_mappings.router)
router.include_router(provisioning_logs.router)
router.include_router(app_sso.router)
router.include_router(app_registrations.router)
router.include_router(app_logo.router)
router.include_router(apps.router)
router.include_router(settings.router)
router.include_router(logs.router)
router.include_router(sign_in_logs.router)
router.include_router(terms_of_use.router)
router.include_router(ca_policies.router)
router.include_router(ca_locations.router)
router.include_router(ca_what_if.router)
router.include_router(cross_tenant.router)
router.include_router(identity_providers.router)
router.include_router(topology.router)
