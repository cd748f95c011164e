"""The OpenAPI description of ``/identityGovernance/termsOfUse/agreements`` (``openapi.py`` merges it): the
request bodies."""

from __future__ import annotations

from hospes.graph.openapi_schemas import Schema

AGREEMENTS = "/identityGovernance/termsOfUse/agreements"
ONE = AGREEMENTS + "/{agreement_id}"
_FILE: Schema = {
    "type": "object",
    "description": "An agreementFileLocalization: a PDF or UTF-8 text document (at most 2 MB) in one language.",
    "properties": {
        "fileName": {"type": "string", "minLength": 1, "maxLength": 256},
        "displayName": {"type": ["string", "null"], "maxLength": 256},
        "language": {"type": "string", "description": "A language tag such as en or fr-CA; one file per language."},
        "isDefault": {"type": "boolean"},
        "isMajorVersion": {
            "type": "boolean",
            "description": "A new version of the agreement: every user accepts it again.",
        },
        "fileData": {"type": "object", "properties": {"data": {"type": "string", "format": "byte"}}},
    },
    "required": ["fileName", "language", "fileData"],
}
_AGREEMENT: Schema = {
    "type": "object",
    "properties": {
        "displayName": {"type": "string", "minLength": 1, "maxLength": 256},
        "isViewingBeforeAcceptanceRequired": {"type": "boolean"},
        "isPerDeviceAcceptanceRequired": {"type": "boolean"},
        "userReacceptRequiredFrequency": {
            "type": ["string", "null"],
            "description": "An ISO 8601 duration in days or weeks (P90D, P2W).",
        },
        "termsExpiration": {
            "type": ["object", "null"],
            "properties": {"startDateTime": {"type": "string", "format": "date-time"}, "frequency": {"type": "string"}},
        },
        "files": {"type": "array", "items": _FILE, "minItems": 1, "maxItems": 20},
    },
}
_PROPERTIES: dict[str, Schema] = _AGREEMENT["properties"]
BODIES: dict[tuple[str, str], str] = {
    ("post", AGREEMENTS): "agreement.create",
    ("patch", ONE): "agreement.update",
    ("post", ONE + "/files"): "agreementFileLocalization.create",
}
BODY_SCHEMAS: dict[str, Schema] = {
    "agreement.create": {**_AGREEMENT, "required": ["displayName", "files"]},
    "agreement.update": {
        **_AGREEMENT,
        "properties": {k: v for k, v in _AGREEMENT["properties"].items() if k != "files"},
    },
    "agreementFileLocalization.create": _FILE,
}
