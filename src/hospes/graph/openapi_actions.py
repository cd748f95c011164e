"""JSON Schemas (OpenAPI 3.1) of the Graph routes that are not a resource's create, update or entity: action and
relationship bodies (``ACTION_BODIES``) and their answers (``ANSWERS``), by schema name."""

from __future__ import annotations

from hospes.domain.invitation import KNOWN as INVITATION_PROPERTIES
from hospes.domain.schema import COUNTRY_NAMED_LOCATION, IP_NAMED_LOCATION
from hospes.graph.openapi_schemas import BOOL, STR, UUID, Schema, nullable, obj, property_schema, ref
from hospes.services.b2b_policy import ALLOW_INVITES_FROM, AUTHORIZATION_DEFAULTS

_KEY_VALUES = {"type": "array", "items": obj({"key": STR, "value": nullable(STR)}, ("key",))}
_DIRECTORY_ID = obj({"id": UUID}, ("id",))


def _invitation() -> Schema:
    recipient = obj({"emailAddress": obj({"address": STR, "name": nullable(STR)})})
    known: Schema = {
        "@odata.type": {"type": "string", "enum": ["#microsoft.graph.invitation", "microsoft.graph.invitation"]},
        "invitedUserEmailAddress": {"type": "string", "format": "email"},
        "inviteRedirectUrl": {"type": "string", "format": "uri"},
        "invitedUserDisplayName": {"type": ["string", "null"], "maxLength": 256},
        "invitedUserType": {"type": ["string", "null"], "enum": ["Guest", "Member", None]},
        "sendInvitationMessage": {"type": ["boolean", "null"]},
        "resetRedemption": {"type": ["boolean", "null"]},
        "invitedUser": nullable(_DIRECTORY_ID),
        "invitedUserSponsors": {"type": ["array", "null"], "items": _DIRECTORY_ID},
        "invitedUserMessageInfo": nullable(
            obj(
                {
                    "customizedMessageBody": nullable(STR),
                    "messageLanguage": {"type": ["string", "null"], "maxLength": 35},
                    "ccRecipients": {"type": ["array", "null"], "items": recipient, "maxItems": 1},
                }
            )
        ),
    }
    # Read-only properties an SDK may echo back (id, status, inviteRedeemUrl) are accepted and ignored.
    properties = {name: known.get(name, {}) for name in sorted(INVITATION_PROPERTIES)}
    return obj(properties, ("invitedUserEmailAddress", "inviteRedirectUrl"), closed=True)


def _authorization_policy() -> Schema:
    types = {bool: "boolean", str: "string", int: "integer", list: "array", dict: "object"}
    properties: Schema = {"@odata.type": STR, "allowInvitesFrom": {"type": "string", "enum": list(ALLOW_INVITES_FROM)}}
    for name, default in AUTHORIZATION_DEFAULTS.items():
        kind = types.get(type(default))
        properties[name] = {"type": [kind, "null"]} if kind else {}
    return obj(properties, closed=True)


def _b2b_policy(create: bool) -> Schema:
    properties: Schema = {
        "@odata.type": STR,
        "id": STR,
        "displayName": nullable(STR),
        "description": {},
        "isOrganizationDefault": {},
        "definition": {
            "description": "The domain allow or deny list, as the JSON documents of Graph's b2bManagementPolicy "
            '(e.g. ["{\\"B2BManagementPolicy\\":{\\"InvitationsAllowedAndBlockedDomainsPolicy\\":'
            '{\\"BlockedDomains\\":[\\"example.com\\"]}}}"]).',
        },
    }
    return obj(properties, ("definition",) if create else (), closed=True)


def _named_location() -> Schema:
    """Create or update: ``@odata.type`` names the kind (required on create; an update can't change it)."""
    kinds = ["#microsoft.graph.ipNamedLocation", "#microsoft.graph.countryNamedLocation"]
    writable = {p.name: p for r in (IP_NAMED_LOCATION, COUNTRY_NAMED_LOCATION) for p in r.props if p.writable}
    properties: Schema = {"@odata.type": {"type": "string", "enum": kinds}}
    properties.update({name: nullable(property_schema(prop, write=True)) for name, prop in writable.items()})
    properties["ipRanges"] = {
        "type": "array",
        "items": obj(
            {
                "@odata.type": {
                    "type": "string",
                    "enum": ["#microsoft.graph.iPv4CidrRange", "#microsoft.graph.iPv6CidrRange"],
                },
                "cidrAddress": STR,
            },
            ("cidrAddress",),
        ),
    }
    return obj(properties, closed=True)


_CREDENTIALS = {**_KEY_VALUES, "description": "synchronizationSecretKeyStringValuePair: BaseAddress, SecretToken..."}
_RESET_SCOPE = "Comma-separated flags: Watermark, Escrows, QuarantineState, Full, ForceDeletes."

# Bodies of the routes that are not a resource's create or update, by their schema name.
ACTION_BODIES: dict[str, Schema] = {
    "reference": obj({"@odata.id": {"type": "string", "format": "uri"}}, ("@odata.id",), closed=True),
    "appRoleAssignment.create": obj(
        {"@odata.type": STR, "principalId": UUID, "resourceId": UUID, "appRoleId": UUID},
        ("principalId", "resourceId", "appRoleId"),
    ),
    "addPassword": obj({"passwordCredential": obj({"displayName": nullable(STR)})}),
    "removePassword": obj({"keyId": UUID}, ("keyId",)),
    "addTokenSigningCertificate": obj(
        {
            "@odata.type": STR,
            "displayName": {"type": ["string", "null"], "description": "CN=... (default: CN= and the app's name)."},
            "endDateTime": {"type": ["string", "null"], "format": "date-time", "description": "At most 3 years."},
        },
        closed=True,
    ),
    "organization.update": obj(
        {
            "@odata.type": STR,
            "displayName": {"type": "string", "minLength": 1},
            "preferredLanguage": nullable(STR),
            "privacyProfile": obj({"contactEmail": nullable(STR), "statementUrl": {"type": ["string", "null"]}}),
            "technicalNotificationMails": {"type": "array", "items": STR},
        },
        closed=True,
    ),
    "invitation": _invitation(),
    "invitation.bulk": obj(
        {"invitations": {"type": "array", "minItems": 1, "maxItems": 1000, "items": ref("invitation")}},
        ("invitations",),
    ),
    "authorizationPolicy.update": _authorization_policy(),
    "b2bManagementPolicy.create": _b2b_policy(True),
    "b2bManagementPolicy.update": _b2b_policy(False),
    "namedLocation.write": _named_location(),
    "conditionalAccess.evaluate": obj(
        {
            "signInIdentity": obj(
                {"@odata.type": STR, "userId": STR, "externalTenantId": STR, "externalUserType": STR}, ("userId",)
            ),
            "signInContext": obj(
                {"@odata.type": STR, "includeApplications": {"type": "array", "items": STR}, "userAction": STR}
            ),
            "signInConditions": {"type": "object"},
            "appliedPoliciesOnly": BOOL,
        },
        ("signInIdentity",),
        closed=True,
    ),
    "emailAuthenticationMethodConfiguration.update": obj(
        {
            "@odata.type": STR,
            "id": STR,
            "state": {"type": ["string", "null"], "enum": ["enabled", "disabled", None]},
            "allowExternalIdToUseEmailOtp": {
                "type": ["string", "null"],
                "enum": ["default", "enabled", "disabled", None],
            },
            "includeTargets": {},
            "excludeTargets": {},
        },
        closed=True,
    ),
    "synchronization.put": obj(
        {"secrets": nullable(_KEY_VALUES), "jobs": {"type": ["array", "null"], "items": obj({"templateId": STR})}}
    ),
    "synchronization.secrets": obj({"value": _KEY_VALUES}, ("value",)),
    "synchronizationJob.create": obj({"templateId": {"type": "string", "minLength": 1}}, ("templateId",)),
    "synchronizationJob.update": obj(
        {
            "@odata.type": STR,
            "id": STR,
            "templateId": STR,
            "synchronizationJobSettings": {
                "type": ["array", "null"],
                "items": obj({"name": STR, "value": nullable(STR)}, ("name",)),
            },
        },
        closed=True,
    ),
    "validateCredentials": obj(
        {"useSavedCredentials": BOOL, "templateId": STR, "credentials": {**nullable(_KEY_VALUES), **_CREDENTIALS}}
    ),
    "restart": obj(
        {"criteria": nullable(obj({"resetScope": {"type": ["string", "null"], "description": _RESET_SCOPE}}))}
    ),
    "provisionOnDemand": obj(
        {
            "parameters": {
                "type": "array",
                "minItems": 1,
                "items": obj(
                    {
                        "ruleId": nullable(STR),
                        "subjects": {
                            "type": "array",
                            "items": obj({"objectId": STR, "objectTypeName": STR}, ("objectId",)),
                        },
                    },
                    ("subjects",),
                ),
            }
        },
        ("parameters",),
    ),
    "synchronizationSchema": obj(
        {"directories": {"type": "array"}, "synchronizationRules": {"type": "array"}, "version": nullable(STR)}
    ),
    "evaluateDynamicMembership": obj(
        {"memberId": UUID, "membershipRule": {"type": "string", "maxLength": 3072}}, ("memberId", "membershipRule")
    ),
    "evaluateDynamicMembership.group": obj({"memberId": UUID}, ("memberId",), closed=True),
    "parseExpression": obj(
        {
            "expression": {"type": "string", "description": "Only its first 10,000 characters are read."},
            "testInputObject": nullable(obj({"properties": _KEY_VALUES})),
            "targetAttributeDefinition": {},
        },
        ("expression",),
    ),
}


def _invitation_answer() -> Schema:
    sponsor = obj({"@odata.type": STR, "id": UUID})
    return obj(
        {
            "@odata.context": {"type": "string", "format": "uri"},
            "id": UUID,
            "inviteRedeemUrl": {"type": "string", "format": "uri"},
            "invitedUserDisplayName": nullable(STR),
            "invitedUserType": {"type": "string", "enum": ["Guest", "Member"]},
            "invitedUserEmailAddress": STR,
            "sendInvitationMessage": BOOL,
            "resetRedemption": BOOL,
            "inviteRedirectUrl": {"type": "string", "format": "uri"},
            "status": STR,
            "invitedUserMessageInfo": {"type": ["object", "null"]},
            "invitedUser": obj({"id": UUID, "userPrincipalName": STR}, ("id",)),
            "invitedUserSponsors": {"type": "array", "items": sponsor},
            "@hospes.messageStatus": {
                "type": "string",
                "enum": ["NotRequested", "Queued", "BlockedByRecipient"],
                "description": "Hospes: whether the invitation email was queued, not requested, or refused by the "
                "recipient's block.",
            },
        },
        ("id", "inviteRedeemUrl", "invitedUserEmailAddress", "status", "invitedUser"),
        closed=True,
    )


def _evaluation_details() -> Schema:
    prop = nullable(obj({"propertyName": STR, "propertyValue": nullable(STR)}))
    return obj(
        {
            "expression": STR,
            "expressionResult": BOOL,
            "propertyToEvaluate": prop,
            "expressionEvaluationDetails": {"type": "array", "items": {"type": "object"}},
        },
        ("expression", "expressionResult"),
    )


# Answers that are not a resource's entity or collection, by their schema name.
ANSWERS: dict[str, Schema] = {
    "microsoft.graph.evaluateDynamicMembershipResult": obj(
        {
            "@odata.context": {"type": "string", "format": "uri"},
            "membershipRule": STR,
            "membershipRuleEvaluationResult": {"type": ["boolean", "null"]},
            "membershipRuleEvaluationDetails": nullable(_evaluation_details()),
            "@hospes.error": {"type": "string", "description": "Hospes: why the rule could not decide."},
        },
        ("membershipRule", "membershipRuleEvaluationResult"),
    ),
    "microsoft.graph.invitation": _invitation_answer(),
    "invitation.bulk.result": obj(
        {
            "value": {
                "type": "array",
                "items": obj(
                    {
                        "index": {"type": "integer", "minimum": 0},
                        "status": {"type": "integer"},
                        "invitation": ref("microsoft.graph.invitation"),
                        "error": obj({"code": STR, "message": STR}),
                    },
                    ("index", "status"),
                ),
            }
        },
        ("value",),
    ),
    "microsoft.graph.selfSignedCertificate": obj(
        {
            "@odata.context": {"type": "string", "format": "uri"},
            "customKeyIdentifier": STR,
            "displayName": STR,
            "endDateTime": {"type": "string", "format": "date-time"},
            "key": {"type": "string", "description": "The certificate: base64 of its DER encoding."},
            "keyId": UUID,
            "startDateTime": {"type": "string", "format": "date-time"},
            "thumbprint": {"type": "string", "description": "SHA-1 of the DER, upper-case hex."},
            "type": STR,
            "usage": STR,
        },
        ("keyId", "key", "thumbprint"),
        closed=True,
    ),
    "microsoft.graph.passwordCredential": obj(
        {
            "@odata.context": {"type": "string", "format": "uri"},
            "customKeyIdentifier": {"type": ["string", "null"]},
            "displayName": nullable(STR),
            "endDateTime": {"type": ["string", "null"], "format": "date-time"},
            "hint": nullable(STR),
            "keyId": UUID,
            "secretText": {"type": ["string", "null"], "description": "Only in the answer to addPassword."},
            "startDateTime": {"type": ["string", "null"], "format": "date-time"},
        },
        ("keyId",),
        closed=True,
    ),
}
