"""The OpenAPI operation of the OAuth token endpoint (``POST /{tenant}/oauth2/v2.0/token``): its form, its
answer and its errors."""

from __future__ import annotations

from typing import Any

Schema = dict[str, Any]
GRAPH_SCOPE = "https://graph.microsoft.com/.default"

_OAUTH_ERROR = {
    "type": "object",
    "properties": {"error": {"type": "string"}, "error_description": {"type": "string"}},
    "required": ["error", "error_description"],
}


def token_operation(operation: Schema) -> None:
    """RFC 6749 grants (client credentials, password, authorization code, refresh token), form-encoded; the client
    may authenticate with HTTP Basic instead of client_id and client_secret in the form."""
    operation["summary"] = "Get an access token"
    operation["tags"] = ["oauth2"]
    operation["security"] = [{}, {"clientBasic": []}]
    form = {
        "type": "object",
        "properties": {
            "grant_type": {
                "type": "string",
                "enum": ["client_credentials", "password", "authorization_code", "refresh_token"],
            },
            "client_id": {"type": "string"},
            "client_secret": {"type": "string"},
            "scope": {"type": "string", "examples": [GRAPH_SCOPE]},
            "username": {"type": "string", "description": "password grant only"},
            "password": {"type": "string", "description": "password grant only"},
            "code": {"type": "string", "description": "authorization_code grant only"},
            "redirect_uri": {"type": "string", "description": "authorization_code grant only"},
            "code_verifier": {"type": "string", "description": "PKCE: authorization_code grant only"},
            "refresh_token": {"type": "string", "description": "refresh_token grant only"},
            "client_assertion_type": {
                "type": "string",
                "enum": ["urn:ietf:params:oauth:client-assertion-type:jwt-bearer"],
            },
            "client_assertion": {"type": "string", "description": "private_key_jwt client authentication"},
        },
        "required": ["grant_type"],
    }
    token = {
        "type": "object",
        "properties": {
            "token_type": {"type": "string", "enum": ["Bearer"]},
            "expires_in": {"type": "integer"},
            "ext_expires_in": {"type": "integer"},
            "access_token": {"type": "string"},
            "scope": {"type": "string"},
            "refresh_token": {"type": "string", "description": "with the offline_access scope"},
            "id_token": {"type": "string", "description": "with the openid scope"},
        },
        "required": ["token_type", "expires_in", "access_token"],
    }
    error = {"content": {"application/json": {"schema": _OAUTH_ERROR}}}
    operation["requestBody"] = {"required": True, "content": {"application/x-www-form-urlencoded": {"schema": form}}}
    operation["responses"] = {
        "200": {"description": "The access token (a JWT, RS256).", "content": {"application/json": {"schema": token}}},
        "400": {"description": "invalid_request, invalid_grant, unsupported_grant_type, invalid_scope.", **error},
        "401": {"description": "invalid_client: unknown client or wrong secret.", **error},
        "429": {
            "description": "Too many failed attempts for this client, account or address: wait (Retry-After).",
            "headers": {"Retry-After": {"schema": {"type": "integer"}}},
            **error,
        },
    }
