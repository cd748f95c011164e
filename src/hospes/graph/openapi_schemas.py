"""JSON Schemas (OpenAPI 3.1) of the Graph surface's bodies: entities and their create and update bodies, derived
from the resource schemas that validate them (``hospes.domain.schema``), the bodies of the actions and
relationship routes, and the Graph error envelope (``hospes.graph.errors``).
"""

from __future__ import annotations

from typing import Any

from hospes.domain.invitation import KNOWN as INVITATION_PROPERTIES
from hospes.domain.schema import (
    APP_ROLE_ASSIGNMENT,
    APPLICATION,
    CONDITIONAL_ACCESS_POLICY,
    COUNTRY_NAMED_LOCATION,
    DIRECTORY_AUDIT,
    GROUP,
    IP_NAMED_LOCATION,
    OAUTH2_PERMISSION_GRANT,
    SERVICE_PRINCIPAL,
    SIGN_IN,
    USER,
    Prop,
    Resource,
)
from hospes.domain.schema_cross_tenant import CROSS_TENANT_RESOURCES
from hospes.services.b2b_policy import ALLOW_INVITES_FROM, AUTHORIZATION_DEFAULTS

Schema = dict[str, Any]
RESOURCES = (
    USER,
    GROUP,
    APPLICATION,
    SERVICE_PRINCIPAL,
    APP_ROLE_ASSIGNMENT,
    DIRECTORY_AUDIT,
    OAUTH2_PERMISSION_GRANT,
    *CROSS_TENANT_RESOURCES,
    CONDITIONAL_ACCESS_POLICY,
    IP_NAMED_LOCATION,
    COUNTRY_NAMED_LOCATION,
    SIGN_IN,
)
# Resources whose create and update bodies are derived from their schema (``write_schema``).
WRITABLE = (USER, GROUP, APPLICATION, SERVICE_PRINCIPAL, OAUTH2_PERMISSION_GRANT, CONDITIONAL_ACCESS_POLICY)
# What the services demand on create (``validation.require``): present, not null, not empty.
REQUIRED_ON_CREATE: dict[str, tuple[str, ...]] = {
    "user": ("accountEnabled", "displayName", "mailNickname", "userPrincipalName", "passwordProfile"),
    "group": ("displayName", "mailEnabled", "mailNickname", "securityEnabled"),
    "application": ("displayName",),
    "servicePrincipal": ("appId",),
    "oAuth2PermissionGrant": ("clientId", "consentType", "resourceId"),
    "conditionalAccessPolicy": ("displayName", "state", "conditions"),
}
_KINDS: dict[str, Schema] = {
    "str": {"type": "string"},
    "guid": {"type": "string", "format": "uuid"},
    "bool": {"type": "boolean"},
    "datetime": {"type": "string", "format": "date-time"},
    "str_list": {"type": "array", "items": {"type": "string"}},
    "obj_list": {"type": "array", "items": {"type": "object"}},
    "json": {},  # free-form: objects or arrays shaped as Graph documents them
}
_BIND = {"type": "array", "items": {"type": "string", "format": "uri"}}


def ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def nullable(schema: Schema) -> Schema:
    kind = schema.get("type")
    if kind is None or (isinstance(kind, list) and "null" in kind):
        return schema
    return {**schema, "type": [*kind, "null"] if isinstance(kind, list) else [kind, "null"]}


def _structured() -> dict[str, Schema]:
    """The Graph complex types of the relying-party properties, as Hospes answers and accepts them (open objects:
    an SDK may send ``@odata.type`` and members it echoes back)."""
    text, flag, when = {"type": ["string", "null"]}, {"type": ["boolean", "null"]}, {"type": ["string", "null"]}
    uris = {"type": "array", "items": {"type": "string"}, "maxItems": 256}
    key_credential = {
        "type": "object",
        "properties": {
            "customKeyIdentifier": {**text, "description": "The certificate's SHA-1 thumbprint (Edm.Binary)."},
            "displayName": text,
            "endDateTime": {**when, "format": "date-time"},
            "key": {**text, "description": "base64 DER; only with $select=keyCredentials on one object."},
            "keyId": {"type": ["string", "null"], "format": "uuid"},
            "startDateTime": {**when, "format": "date-time"},
            "type": {**text, "description": "AsymmetricX509Cert"},
            "usage": {**text, "description": "Verify (or Sign: a token-signing key's private half)"},
        },
    }
    scope = {
        "type": "object",
        "properties": {
            "id": {"type": ["string", "null"], "format": "uuid"},
            "value": {"type": "string"},
            "type": {"type": ["string", "null"], "enum": ["User", "Admin", None]},
            "isEnabled": flag,
            **{
                name: text
                for name in (
                    "adminConsentDisplayName",
                    "adminConsentDescription",
                    "userConsentDisplayName",
                    "userConsentDescription",
                )
            },
        },
    }
    return {
        "microsoft.graph.webApplication": {
            "type": ["object", "null"],
            "properties": {
                "redirectUris": uris,
                "logoutUrl": text,
                "homePageUrl": text,
                "redirectUriSettings": {"type": "array"},
                "implicitGrantSettings": {
                    "type": ["object", "null"],
                    "properties": {"enableIdTokenIssuance": flag, "enableAccessTokenIssuance": flag},
                },
            },
        },
        "microsoft.graph.spaApplication": {"type": ["object", "null"], "properties": {"redirectUris": uris}},
        "microsoft.graph.publicClientApplication": {
            "type": ["object", "null"],
            "properties": {"redirectUris": {**uris, "description": "Custom schemes allowed here."}},
        },
        "microsoft.graph.apiApplication": {
            "type": ["object", "null"],
            "properties": {"oauth2PermissionScopes": {"type": "array", "items": scope}},
        },
        "microsoft.graph.informationalUrl": {
            "type": ["object", "null"],
            "properties": {
                "logoUrl": {**text, "description": "The public address of the logo set with PUT .../logo."},
                **{n: text for n in ("marketingUrl", "privacyStatementUrl", "supportUrl", "termsOfServiceUrl")},
            },
        },
        "microsoft.graph.samlSingleSignOnSettings": {
            "type": ["object", "null"],
            "properties": {"relayState": {**text, "maxLength": 80}},
        },
        "Collection(microsoft.graph.keyCredential)": {"type": ["array", "null"], "items": key_credential},
        "Collection(microsoft.graph.permissionScope)": {"type": ["array", "null"], "items": scope},
    }


_STRUCTURED = _structured()


def _property(prop: Prop, *, write: bool) -> Schema:
    schema = dict(_STRUCTURED.get(prop.graph_type or "") or _KINDS[prop.kind])
    if write and prop.max_len is not None:
        schema["maxLength"] = prop.max_len
    if write and prop.kind == "str_list":
        schema["maxItems"] = 250
    if not write and not prop.writable:
        schema["readOnly"] = True
    return schema


def entity_schema(resource: Resource) -> Schema:
    """The entity as answered: every property (``$select`` may return any subset, so none is required)."""
    properties: Schema = {
        "@odata.context": {"type": "string", "format": "uri"},
        "@odata.type": {"type": "string", "enum": [resource.odata_type]},
    }
    for prop in resource.props:
        if prop.kind == "nav":
            continue  # served as its own segment, never inline
        schema = _property(prop, write=False)
        properties[prop.name] = schema if prop.name == "id" else nullable(schema)
    return {
        "type": "object",
        "title": f"microsoft.graph.{resource.name}",
        "properties": properties,
        "additionalProperties": False,
    }


def _extras(resource: Resource, create: bool) -> Schema:
    if resource is USER:
        return {
            "passwordProfile": {
                "type": "object",
                "properties": {
                    "password": {"type": "string", "minLength": 1},
                    "forceChangePasswordNextSignIn": {"type": "boolean"},
                },
                "required": ["password"],
            }
        }
    if resource is GROUP:
        binds = {"members@odata.bind": {**_BIND, "maxItems": 20}}
        return {**binds, "owners@odata.bind": _BIND} if create else binds
    if resource is SERVICE_PRINCIPAL and create:
        return {"appId": {"type": "string", "format": "uuid"}}
    return {}


def write_schema(resource: Resource, *, create: bool) -> Schema:
    """A create (POST) or update (PATCH) body: the writable properties; unknown and read-only ones are a 400."""
    required = REQUIRED_ON_CREATE.get(resource.name, ()) if create else ()
    properties: Schema = {"@odata.type": {"type": "string", "enum": [resource.odata_type, resource.odata_type[1:]]}}
    for prop in resource.props:
        if prop.writable:
            schema = _property(prop, write=True)
            if prop.name in required:
                properties[prop.name] = {**schema, "minLength": 1} if schema.get("type") == "string" else schema
            else:
                properties[prop.name] = nullable(schema)
    properties.update(_extras(resource, create))
    body: Schema = {
        "type": "object",
        "title": f"microsoft.graph.{resource.name} ({'create' if create else 'update'})",
        "properties": properties,
        "additionalProperties": False,
    }
    if required:
        body["required"] = list(required)
    return body


def error_envelope() -> Schema:
    """The body of every failure of ``/v1.0`` (``hospes.graph.errors.error_response``)."""
    return {
        "type": "object",
        "title": "Graph error",
        "properties": {
            "error": {
                "type": "object",
                "properties": {
                    "code": {"type": "string", "examples": ["Request_BadRequest", "Request_ResourceNotFound"]},
                    "message": {"type": "string"},
                    "target": {"type": "string"},
                    "innerError": {
                        "type": "object",
                        "properties": {
                            "date": {"type": "string", "format": "date-time"},
                            "request-id": {"type": "string"},
                            "client-request-id": {"type": ["string", "null"]},
                        },
                        "required": ["date", "request-id", "client-request-id"],
                    },
                },
                "required": ["code", "message", "innerError"],
            }
        },
        "required": ["error"],
    }


def collection_schema(item: Schema, *, paged: bool = False) -> Schema:
    properties: Schema = {
        "@odata.context": {"type": "string", "format": "uri"},
        "value": {"type": "array", "items": item},
    }
    if paged:
        properties["@odata.count"] = {"type": "integer", "minimum": 0, "description": "First page, with $count=true."}
        properties["@odata.nextLink"] = {"type": "string", "format": "uri", "description": "Absent on the last page."}
    return {"type": "object", "properties": properties, "required": ["value"], "additionalProperties": False}


def _obj(properties: Schema, required: tuple[str, ...] = (), *, closed: bool = False) -> Schema:
    schema: Schema = {"type": "object", "properties": properties}
    if required:
        schema["required"] = list(required)
    if closed:
        schema["additionalProperties"] = False
    return schema


_STR, _BOOL, _UUID = {"type": "string"}, {"type": "boolean"}, {"type": "string", "format": "uuid"}
_KEY_VALUES = {"type": "array", "items": _obj({"key": _STR, "value": nullable(_STR)}, ("key",))}
_DIRECTORY_ID = _obj({"id": _UUID}, ("id",))


def _invitation() -> Schema:
    recipient = _obj({"emailAddress": _obj({"address": _STR, "name": nullable(_STR)})})
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
            _obj(
                {
                    "customizedMessageBody": nullable(_STR),
                    "messageLanguage": {"type": ["string", "null"], "maxLength": 35},
                    "ccRecipients": {"type": ["array", "null"], "items": recipient, "maxItems": 1},
                }
            )
        ),
    }
    # Read-only properties an SDK may echo back (id, status, inviteRedeemUrl) are accepted and ignored.
    properties = {name: known.get(name, {}) for name in sorted(INVITATION_PROPERTIES)}
    return _obj(properties, ("invitedUserEmailAddress", "inviteRedirectUrl"), closed=True)


def _authorization_policy() -> Schema:
    types = {bool: "boolean", str: "string", int: "integer", list: "array", dict: "object"}
    properties: Schema = {"@odata.type": _STR, "allowInvitesFrom": {"type": "string", "enum": list(ALLOW_INVITES_FROM)}}
    for name, default in AUTHORIZATION_DEFAULTS.items():
        kind = types.get(type(default))
        properties[name] = {"type": [kind, "null"]} if kind else {}
    return _obj(properties, closed=True)


def _b2b_policy(create: bool) -> Schema:
    properties: Schema = {
        "@odata.type": _STR,
        "id": _STR,
        "displayName": nullable(_STR),
        "description": {},
        "isOrganizationDefault": {},
        "definition": {
            "description": "The domain allow or deny list, as the JSON documents of Graph's b2bManagementPolicy "
            '(e.g. ["{\\"B2BManagementPolicy\\":{\\"InvitationsAllowedAndBlockedDomainsPolicy\\":'
            '{\\"BlockedDomains\\":[\\"example.com\\"]}}}"]).',
        },
    }
    return _obj(properties, ("definition",) if create else (), closed=True)


def _named_location() -> Schema:
    """Create or update: ``@odata.type`` names the kind (required on create; an update can't change it)."""
    kinds = ["#microsoft.graph.ipNamedLocation", "#microsoft.graph.countryNamedLocation"]
    writable = {p.name: p for r in (IP_NAMED_LOCATION, COUNTRY_NAMED_LOCATION) for p in r.props if p.writable}
    properties: Schema = {"@odata.type": {"type": "string", "enum": kinds}}
    properties.update({name: nullable(_property(prop, write=True)) for name, prop in writable.items()})
    properties["ipRanges"] = {
        "type": "array",
        "items": _obj(
            {
                "@odata.type": {
                    "type": "string",
                    "enum": ["#microsoft.graph.iPv4CidrRange", "#microsoft.graph.iPv6CidrRange"],
                },
                "cidrAddress": _STR,
            },
            ("cidrAddress",),
        ),
    }
    return _obj(properties, closed=True)


_CREDENTIALS = {**_KEY_VALUES, "description": "synchronizationSecretKeyStringValuePair: BaseAddress, SecretToken..."}
_RESET_SCOPE = "Comma-separated flags: Watermark, Escrows, QuarantineState, Full, ForceDeletes."

# Bodies of the routes that are not a resource's create or update, by their schema name.
ACTION_BODIES: dict[str, Schema] = {
    "reference": _obj({"@odata.id": {"type": "string", "format": "uri"}}, ("@odata.id",), closed=True),
    "appRoleAssignment.create": _obj(
        {"@odata.type": _STR, "principalId": _UUID, "resourceId": _UUID, "appRoleId": _UUID},
        ("principalId", "resourceId", "appRoleId"),
    ),
    "addPassword": _obj({"passwordCredential": _obj({"displayName": nullable(_STR)})}),
    "removePassword": _obj({"keyId": _UUID}, ("keyId",)),
    "addTokenSigningCertificate": _obj(
        {
            "@odata.type": _STR,
            "displayName": {"type": ["string", "null"], "description": "CN=... (default: CN= and the app's name)."},
            "endDateTime": {"type": ["string", "null"], "format": "date-time", "description": "At most 3 years."},
        },
        closed=True,
    ),
    "organization.update": _obj(
        {
            "@odata.type": _STR,
            "displayName": {"type": "string", "minLength": 1},
            "preferredLanguage": nullable(_STR),
            "privacyProfile": _obj({"contactEmail": nullable(_STR), "statementUrl": {"type": ["string", "null"]}}),
            "technicalNotificationMails": {"type": "array", "items": _STR},
        },
        closed=True,
    ),
    "invitation": _invitation(),
    "invitation.bulk": _obj(
        {"invitations": {"type": "array", "minItems": 1, "maxItems": 1000, "items": ref("invitation")}},
        ("invitations",),
    ),
    "authorizationPolicy.update": _authorization_policy(),
    "b2bManagementPolicy.create": _b2b_policy(True),
    "b2bManagementPolicy.update": _b2b_policy(False),
    "namedLocation.write": _named_location(),
    "conditionalAccess.evaluate": _obj(
        {
            "signInIdentity": _obj(
                {"@odata.type": _STR, "userId": _STR, "externalTenantId": _STR, "externalUserType": _STR}, ("userId",)
            ),
            "signInContext": _obj(
                {"@odata.type": _STR, "includeApplications": {"type": "array", "items": _STR}, "userAction": _STR}
            ),
            "signInConditions": {"type": "object"},
            "appliedPoliciesOnly": _BOOL,
        },
        ("signInIdentity",),
        closed=True,
    ),
    "emailAuthenticationMethodConfiguration.update": _obj(
        {
            "@odata.type": _STR,
            "id": _STR,
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
    "synchronization.put": _obj(
        {"secrets": nullable(_KEY_VALUES), "jobs": {"type": ["array", "null"], "items": _obj({"templateId": _STR})}}
    ),
    "synchronization.secrets": _obj({"value": _KEY_VALUES}, ("value",)),
    "synchronizationJob.create": _obj({"templateId": {"type": "string", "minLength": 1}}, ("templateId",)),
    "synchronizationJob.update": _obj(
        {
            "@odata.type": _STR,
            "id": _STR,
            "templateId": _STR,
            "synchronizationJobSettings": {
                "type": ["array", "null"],
                "items": _obj({"name": _STR, "value": nullable(_STR)}, ("name",)),
            },
        },
        closed=True,
    ),
    "validateCredentials": _obj(
        {"useSavedCredentials": _BOOL, "templateId": _STR, "credentials": {**nullable(_KEY_VALUES), **_CREDENTIALS}}
    ),
    "restart": _obj(
        {"criteria": nullable(_obj({"resetScope": {"type": ["string", "null"], "description": _RESET_SCOPE}}))}
    ),
    "provisionOnDemand": _obj(
        {
            "parameters": {
                "type": "array",
                "minItems": 1,
                "items": _obj(
                    {
                        "ruleId": nullable(_STR),
                        "subjects": {
                            "type": "array",
                            "items": _obj({"objectId": _STR, "objectTypeName": _STR}, ("objectId",)),
                        },
                    },
                    ("subjects",),
                ),
            }
        },
        ("parameters",),
    ),
    "synchronizationSchema": _obj(
        {"directories": {"type": "array"}, "synchronizationRules": {"type": "array"}, "version": nullable(_STR)}
    ),
    "evaluateDynamicMembership": _obj(
        {"memberId": _UUID, "membershipRule": {"type": "string", "maxLength": 3072}}, ("memberId", "membershipRule")
    ),
    "evaluateDynamicMembership.group": _obj({"memberId": _UUID}, ("memberId",), closed=True),
    "parseExpression": _obj(
        {
            "expression": {"type": "string", "description": "Only its first 10,000 characters are read."},
            "testInputObject": nullable(_obj({"properties": _KEY_VALUES})),
            "targetAttributeDefinition": {},
        },
        ("expression",),
    ),
}


def _invitation_answer() -> Schema:
    sponsor = _obj({"@odata.type": _STR, "id": _UUID})
    return _obj(
        {
            "@odata.context": {"type": "string", "format": "uri"},
            "id": _UUID,
            "inviteRedeemUrl": {"type": "string", "format": "uri"},
            "invitedUserDisplayName": nullable(_STR),
            "invitedUserType": {"type": "string", "enum": ["Guest", "Member"]},
            "invitedUserEmailAddress": _STR,
            "sendInvitationMessage": _BOOL,
            "resetRedemption": _BOOL,
            "inviteRedirectUrl": {"type": "string", "format": "uri"},
            "status": _STR,
            "invitedUserMessageInfo": {"type": ["object", "null"]},
            "invitedUser": _obj({"id": _UUID, "userPrincipalName": _STR}, ("id",)),
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
    prop = nullable(_obj({"propertyName": _STR, "propertyValue": nullable(_STR)}))
    return _obj(
        {
            "expression": _STR,
            "expressionResult": _BOOL,
            "propertyToEvaluate": prop,
            "expressionEvaluationDetails": {"type": "array", "items": {"type": "object"}},
        },
        ("expression", "expressionResult"),
    )


# Answers that are not a resource's entity or collection, by their schema name.
ANSWERS: dict[str, Schema] = {
    "microsoft.graph.evaluateDynamicMembershipResult": _obj(
        {
            "@odata.context": {"type": "string", "format": "uri"},
            "membershipRule": _STR,
            "membershipRuleEvaluationResult": {"type": ["boolean", "null"]},
            "membershipRuleEvaluationDetails": nullable(_evaluation_details()),
            "@hospes.error": {"type": "string", "description": "Hospes: why the rule could not decide."},
        },
        ("membershipRule", "membershipRuleEvaluationResult"),
    ),
    "microsoft.graph.invitation": _invitation_answer(),
    "invitation.bulk.result": _obj(
        {
            "value": {
                "type": "array",
                "items": _obj(
                    {
                        "index": {"type": "integer", "minimum": 0},
                        "status": {"type": "integer"},
                        "invitation": ref("microsoft.graph.invitation"),
                        "error": _obj({"code": _STR, "message": _STR}),
                    },
                    ("index", "status"),
                ),
            }
        },
        ("value",),
    ),
    "microsoft.graph.selfSignedCertificate": _obj(
        {
            "@odata.context": {"type": "string", "format": "uri"},
            "customKeyIdentifier": _STR,
            "displayName": _STR,
            "endDateTime": {"type": "string", "format": "date-time"},
            "key": {"type": "string", "description": "The certificate: base64 of its DER encoding."},
            "keyId": _UUID,
            "startDateTime": {"type": "string", "format": "date-time"},
            "thumbprint": {"type": "string", "description": "SHA-1 of the DER, upper-case hex."},
            "type": _STR,
            "usage": _STR,
        },
        ("keyId", "key", "thumbprint"),
        closed=True,
    ),
    "microsoft.graph.passwordCredential": _obj(
        {
            "@odata.context": {"type": "string", "format": "uri"},
            "customKeyIdentifier": {"type": ["string", "null"]},
            "displayName": nullable(_STR),
            "endDateTime": {"type": ["string", "null"], "format": "date-time"},
            "hint": nullable(_STR),
            "keyId": _UUID,
            "secretText": {"type": ["string", "null"], "description": "Only in the answer to addPassword."},
            "startDateTime": {"type": ["string", "null"], "format": "date-time"},
        },
        ("keyId",),
        closed=True,
    ),
}
