"""The OpenAPI description of ``/identityGovernance/accessReviews/definitions`` and of the sponsors' and app
owners' ``$ref`` routes (``openapi.py`` merges it): request bodies and the routes without a body."""

from __future__ import annotations

from hospes.graph.openapi_schemas import Schema

DEFS = "/identityGovernance/accessReviews/definitions"
ONE = DEFS + "/{definition_id}"
INSTANCE = ONE + "/instances/{instance_id}"
_OBJ: Schema = {"type": "object"}
_LIST: Schema = {"type": "array", "items": _OBJ}
_DEFINITION: Schema = {
    "type": "object",
    "description": "An accessReviewScheduleDefinition. Hospes adds to settings (and to each stage setting) "
    "hospesOutcomeStrategy (latestDecides, oneDenyDenies, allMustApprove, approvedIfNotDenied), and to settings "
    "hospesMaxDenialPercentPerApply (0-100: the share of the items one apply run may remove) and "
    "hospesDeleteAfterDays (how long a guest denied with disableAndDeleteUserApplyAction stays blocked).",
    "properties": {
        "displayName": {"type": "string", "minLength": 1, "maxLength": 256},
        "descriptionForAdmins": {"type": ["string", "null"]},
        "descriptionForReviewers": {"type": ["string", "null"], "maxLength": 256},
        "scope": _OBJ,
        "instanceEnumerationScope": {"type": ["object", "null"]},
        "reviewers": _LIST,
        "fallbackReviewers": {"type": ["array", "null"], "items": _OBJ},
        "additionalNotificationRecipients": {"type": ["array", "null"], "items": _OBJ},
        "settings": _OBJ,
        "stageSettings": {"type": ["array", "null"], "items": _OBJ, "maxItems": 3},
    },
}
_DECISION: Schema = {
    "type": "object",
    "properties": {
        "decision": {"enum": ["Approve", "Deny", "DontKnow", "NotReviewed"]},
        "justification": {"type": ["string", "null"], "maxLength": 1000},
    },
    "required": ["decision"],
}
_BATCH: Schema = {
    "type": "object",
    "properties": {
        **_DECISION["properties"],
        "principalId": {"type": ["string", "null"]},
        "resourceId": {"type": ["string", "null"]},
    },
    "required": ["decision"],
}
BODIES: dict[tuple[str, str], str] = {
    ("post", DEFS): "accessReviewScheduleDefinition.write",
    ("put", ONE): "accessReviewScheduleDefinition.write",
    ("patch", INSTANCE + "/decisions/{decision_id}"): "accessReviewInstanceDecisionItem.update",
    ("post", INSTANCE + "/batchRecordDecisions"): "batchRecordDecisions",
    ("post", "/users/{key}/sponsors/$ref"): "reference",
    ("post", "/servicePrincipals/{key}/owners/$ref"): "reference",
    ("patch", "/policies/hospesGuestLifecyclePolicy"): "hospesGuestLifecyclePolicy",
    ("post", "/policies/hospesGuestLifecyclePolicy/preview"): "hospesGuestLifecyclePolicy",
}
BODY_SCHEMAS: dict[str, Schema] = {
    "accessReviewScheduleDefinition.write": {**_DEFINITION, "required": ["displayName", "scope", "settings"]},
    "accessReviewInstanceDecisionItem.update": _DECISION,
    "batchRecordDecisions": _BATCH,
    "hospesGuestLifecyclePolicy": {
        "type": "object",
        "description": "Block guests without a sign-in for blockAfterInactiveDays (30-730), delete them "
        "deleteAfterBlockedDays (0-365) later. Sent to .../preview, the proposed settings to dry-run.",
        "properties": {
            "isEnabled": {"type": "boolean"},
            "blockAfterInactiveDays": {"type": "integer", "minimum": 30, "maximum": 730},
            "deleteAfterBlockedDays": {"type": "integer", "minimum": 0, "maximum": 365},
        },
        "additionalProperties": False,
    },
}
OPTIONAL = frozenset(
    {("post", INSTANCE + "/batchRecordDecisions"), ("post", "/policies/hospesGuestLifecyclePolicy/preview")}
)
NO_BODY = frozenset(
    {
        ("post", ONE + "/stop"),
        ("post", "/policies/hospesGuestLifecyclePolicy/run"),
        *(
            ("post", f"{INSTANCE}/{action}")
            for action in ("stop", "applyDecisions", "sendReminder", "resetDecisions", "acceptRecommendations")
        ),
    }
)
