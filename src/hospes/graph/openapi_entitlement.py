"""The OpenAPI description of ``/identityGovernance/entitlementManagement`` (``openapi.py`` merges it): which routes
read which body. The bodies are Graph's entitlement-management objects, checked by
``hospes.domain.entitlements``; the document describes them as objects with their main properties."""

from __future__ import annotations

from hospes.graph.openapi_schemas import Schema

EM = "/identityGovernance/entitlementManagement"
_APPROVAL_BASES = ("/assignmentApprovals", "/accessPackageAssignmentApprovals")
_STR: Schema = {"type": "string"}
_OBJ: Schema = {"type": "object"}


def _open(properties: dict[str, Schema], required: tuple[str, ...] = ()) -> Schema:
    schema: Schema = {"type": "object", "properties": properties}
    if required:
        schema["required"] = list(required)
    return schema


BODIES: dict[tuple[str, str], str] = {
    ("post", EM + "/catalogs"): "accessPackageCatalog.create",
    ("patch", EM + "/catalogs/{catalog_id}"): "accessPackageCatalog.update",
    ("post", EM + "/resourceRequests"): "accessPackageResourceRequest.create",
    ("post", EM + "/accessPackages"): "accessPackage.create",
    ("patch", EM + "/accessPackages/{package_id}"): "accessPackage.update",
    ("post", EM + "/accessPackages/{package_id}/resourceRoleScopes"): "accessPackageResourceRoleScope.create",
    ("post", EM + "/accessPackages/{package_id}/getApplicablePolicyRequirements"): "emptyAction",
    ("post", EM + "/assignmentPolicies"): "accessPackageAssignmentPolicy.write",
    ("put", EM + "/assignmentPolicies/{policy_id}"): "accessPackageAssignmentPolicy.write",
    ("post", EM + "/connectedOrganizations"): "connectedOrganization.create",
    ("patch", EM + "/connectedOrganizations/{org_id}"): "connectedOrganization.update",
    ("post", EM + "/connectedOrganizations/{org_id}/internalSponsors/$ref"): "reference",
    ("post", EM + "/connectedOrganizations/{org_id}/externalSponsors/$ref"): "reference",
    ("patch", EM + "/settings"): "entitlementManagementSettings.update",
    ("post", EM + "/assignmentRequests"): "accessPackageAssignmentRequest.create",
    ("post", EM + "/assignmentRequests/{request_id}/cancel"): "emptyAction",
    **{("patch", EM + b + "/{request_id}/stages/{stage_id}"): "approvalStage.update" for b in _APPROVAL_BASES},
}
OPTIONAL_BODIES = frozenset(
    {
        ("post", EM + "/accessPackages/{package_id}/getApplicablePolicyRequirements"),
        ("post", EM + "/assignmentRequests/{request_id}/cancel"),
    }
)
CONFLICTS = frozenset({("patch", EM + b + "/{request_id}/stages/{stage_id}") for b in _APPROVAL_BASES})
BODY_SCHEMAS: dict[str, Schema] = {
    "accessPackageCatalog.create": _open(
        {"displayName": _STR, "description": _STR, "isExternallyVisible": {"type": "boolean"}}, ("displayName",)
    ),
    "accessPackageCatalog.update": _open({"displayName": _STR, "description": _STR}),
    "accessPackageResourceRequest.create": _open(
        {"requestType": {"enum": ["adminAdd", "adminRemove"]}, "resource": _OBJ, "catalog": _OBJ},
        ("requestType", "resource", "catalog"),
    ),
    "accessPackage.create": _open(
        {"displayName": _STR, "description": _STR, "catalog": _OBJ}, ("displayName", "catalog")
    ),
    "accessPackage.update": _open({"displayName": _STR, "description": _STR, "isHidden": {"type": "boolean"}}),
    "accessPackageResourceRoleScope.create": _open({"role": _OBJ, "scope": _OBJ}, ("role",)),
    "accessPackageAssignmentPolicy.write": _open(
        {
            "displayName": _STR,
            "allowedTargetScope": _STR,
            "specificAllowedTargets": {"type": "array", "items": _OBJ},
            "expiration": _OBJ,
            "requestorSettings": _OBJ,
            "requestApprovalSettings": _OBJ,
            "questions": {"type": "array", "items": _OBJ},
            "accessPackage": _OBJ,
        },
        ("displayName",),
    ),
    "connectedOrganization.create": _open(
        {"displayName": _STR, "description": _STR, "identitySources": {"type": "array", "items": _OBJ}},
        ("displayName",),
    ),
    "connectedOrganization.update": _open({"displayName": _STR, "description": _STR, "state": _STR}),
    "entitlementManagementSettings.update": _open(
        {"externalUserLifecycleAction": _STR, "durationUntilExternalUserDeletedAfterBlocked": _STR}
    ),
    "accessPackageAssignmentRequest.create": _open(
        {
            "requestType": _STR,
            "assignment": _OBJ,
            "justification": _STR,
            "answers": {"type": "array"},
            "schedule": _OBJ,
        },
        ("requestType",),
    ),
    "approvalStage.update": _open(
        {"reviewResult": {"enum": ["Approve", "Deny"]}, "justification": _STR}, ("reviewResult",)
    ),
    "emptyAction": _open({}),
}
