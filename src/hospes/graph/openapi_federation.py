"""The OpenAPI description of guests' identity providers (``/directory/federationConfigurations``,
``/identity/identityProviders``; ``openapi.py`` merges it): request bodies and success bodies."""

from __future__ import annotations

from hospes.graph.openapi_schemas import Schema, collection_schema

CONFIGS = "/directory/federationConfigurations"
SAML_CAST = CONFIGS + "/graph.samlOrWsFedExternalDomainFederation"
CONFIG = CONFIGS + "/{federation_id}"
DOMAINS = CONFIG + "/microsoft.graph.samlOrWsFedExternalDomainFederation/domains"
PROVIDERS = "/identity/identityProviders"
PROVIDER = PROVIDERS + "/{provider_id}"
_STR: Schema = {"type": "string"}
_NSTR: Schema = {"type": ["string", "null"]}


def _closed(properties: Schema, required: tuple[str, ...] = ()) -> Schema:
    schema: Schema = {"type": "object", "properties": properties, "additionalProperties": False}
    if required:
        schema["required"] = list(required)
    return schema


_DOMAIN = _closed({"@odata.type": _STR, "id": _STR}, ("id",))
_SAML_PROPS: Schema = {
    "@odata.type": _STR,
    "displayName": _STR,
    "issuerUri": _STR,
    "passiveSignInUri": _STR,
    "metadataExchangeUri": _NSTR,
    "preferredAuthenticationProtocol": {"type": "string", "enum": ["saml"]},
    "signingCertificate": _STR,
}
_SECRET = _closed({"@odata.type": _STR, "clientSecret": _STR})
_OIDC_PROPS: Schema = {
    "@odata.type": _STR,
    "displayName": _STR,
    "clientId": _STR,
    "issuer": _STR,
    "wellKnownEndpoint": _STR,
    "responseType": {"type": "string", "enum": ["code"]},
    "scope": _STR,
    "clientAuthentication": _SECRET,
    "inboundClaimMapping": {"type": ["object", "null"], "additionalProperties": {"type": ["string", "null"]}},
    "domains": {"type": "array", "items": _DOMAIN},
}

BODIES: dict[tuple[str, str], str] = {
    ("post", SAML_CAST): "samlOrWsFedExternalDomainFederation.create",
    ("patch", CONFIG): "samlOrWsFedExternalDomainFederation.update",
    ("post", DOMAINS): "externalDomainName",
    ("post", PROVIDERS): "oidcIdentityProvider.create",
    ("patch", PROVIDER): "oidcIdentityProvider.update",
}
BODY_SCHEMAS: dict[str, Schema] = {
    "samlOrWsFedExternalDomainFederation.create": _closed(
        {**_SAML_PROPS, "domains": {"type": "array", "items": _DOMAIN, "minItems": 1}},
        ("displayName", "issuerUri", "passiveSignInUri", "signingCertificate", "domains"),
    ),
    "samlOrWsFedExternalDomainFederation.update": _closed(_SAML_PROPS),
    "externalDomainName": _DOMAIN,
    "oidcIdentityProvider.create": _closed(
        _OIDC_PROPS, ("@odata.type", "displayName", "clientId", "issuer", "wellKnownEndpoint", "clientAuthentication")
    ),
    "oidcIdentityProvider.update": _closed(_OIDC_PROPS),
}
CONFLICTS = frozenset({("post", SAML_CAST), ("post", DOMAINS), ("post", PROVIDERS)})


def _answer(properties: Schema) -> Schema:
    return {"type": "object", "properties": {"@odata.context": _STR, "id": _STR, **properties}}


def responses() -> dict[tuple[str, str], Schema]:
    saml = _answer({**_SAML_PROPS, "metadataExchangeUri": _NSTR})
    oidc = _answer({**_OIDC_PROPS, "inboundClaimMapping": {"type": ["object", "null"]}})
    either = {"anyOf": [saml, oidc]}
    domain = {"type": "object", "properties": {"@odata.context": _STR, "@odata.type": _STR, "id": _STR}}
    return {
        ("get", CONFIGS): collection_schema(saml),
        ("get", SAML_CAST): collection_schema(saml),
        ("post", SAML_CAST): saml,
        ("get", CONFIG): saml,
        ("get", DOMAINS): collection_schema(domain),
        ("post", DOMAINS): domain,
        ("get", PROVIDERS): collection_schema(either),
        ("post", PROVIDERS): oidc,
        ("get", PROVIDER): either,
    }
