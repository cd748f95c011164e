"""Applications and service principals in Graph's shape: the structured values (``web``, ``spa``,
``publicClient``, ``api``) built from their columns, and credentials.

A certificate's ``key`` (its base64 DER) is returned only when one object is read with ``$select`` naming
``keyCredentials``; everywhere else it is null, as in Graph."""

from __future__ import annotations

from typing import Any

from hospes.domain.schema import APPLICATION, SERVICE_PRINCIPAL
from hospes.graph.wire import graph_datetime, to_wire
from hospes.services.app_credentials import KeyCredential, custom_key_identifier, sign_key_id
from hospes.services.app_permissions import graph_permission_scopes
from hospes.services.app_views import AppView, SpView
from hospes.services.apps import ClientSecret
from hospes.services.graph_permissions import GRAPH_APP_ID


def password_credential(cred: ClientSecret, secret_text: str | None = None) -> dict[str, Any]:
    return {
        "customKeyIdentifier": None,
        "displayName": cred.display_name,
        "endDateTime": graph_datetime(cred.end_at),
        "hint": cred.hint,
        "keyId": cred.key_id,
        "secretText": secret_text,
        "startDateTime": graph_datetime(cred.start_at),
    }


def key_credential(
    row: KeyCredential, *, with_key: bool, usage: str | None = None, key_id: str | None = None
) -> dict[str, Any]:
    return {
        "customKeyIdentifier": row.custom_key_identifier,
        "displayName": row.display_name,
        "endDateTime": graph_datetime(row.end_at),
        "key": row.certificate if with_key and (usage or row.usage) == "Verify" else None,
        "keyId": key_id or row.key_id,
        "startDateTime": graph_datetime(row.start_at),
        "type": row.type,
        "usage": usage or row.usage,
    }


def self_signed_certificate(row: KeyCredential) -> dict[str, Any]:
    """The answer of ``addTokenSigningCertificate`` (Graph's ``selfSignedCertificate``)."""
    return {
        "customKeyIdentifier": custom_key_identifier(row.thumbprint),
        "displayName": row.display_name,
        "endDateTime": graph_datetime(row.end_at),
        "key": row.certificate,
        "keyId": row.key_id,
        "startDateTime": graph_datetime(row.start_at),
        "thumbprint": row.thumbprint,
        "type": "AsymmetricX509Cert",
        "usage": "Verify",
    }


def _selects(select: list[str] | None, name: str) -> bool:
    return bool(select) and name.lower() in {s.lower() for s in select or []}


def informational_url(public_url: str, logo: str | None) -> dict[str, Any]:
    """Graph's ``info``: only ``logoUrl`` is kept (the public address of the logo set with ``PUT .../logo``)."""
    return {
        "logoUrl": f"{public_url}{logo}" if logo else None,
        "marketingUrl": None,
        "privacyStatementUrl": None,
        "supportUrl": None,
        "termsOfServiceUrl": None,
    }


def application(
    view: AppView, select: list[str] | None = None, *, single: bool = False, public_url: str = ""
) -> dict[str, Any]:
    app = view.app
    with_key = single and _selects(select, "keyCredentials")
    return to_wire(
        APPLICATION,
        app,
        select,
        computed={
            "info": informational_url(public_url, view.logo),
            "passwordCredentials": [password_credential(c) for c in view.secrets],
            "keyCredentials": [key_credential(c, with_key=with_key) for c in view.certificates],
            "web": {
                "homePageUrl": None,
                "logoutUrl": app.logout_url,
                "redirectUris": list(app.web_redirect_uris),
                "redirectUriSettings": [{"uri": u, "index": None} for u in app.web_redirect_uris],
                "implicitGrantSettings": {
                    "enableIdTokenIssuance": app.id_token_issuance,
                    "enableAccessTokenIssuance": app.access_token_issuance,
                },
            },
            "spa": {"redirectUris": list(app.spa_redirect_uris)},
            "publicClient": {"redirectUris": list(app.public_client_redirect_uris)},
            "api": {
                "acceptMappedClaims": None,
                "knownClientApplications": [],
                "oauth2PermissionScopes": list(app.oauth2_permission_scopes),
                "preAuthorizedApplications": [],
                "requestedAccessTokenVersion": 2,
            },
        },
    )


def service_principal(
    view: SpView, select: list[str] | None = None, *, single: bool = False, public_url: str = ""
) -> dict[str, Any]:
    with_key = single and _selects(select, "keyCredentials")
    credentials: list[dict[str, Any]] = []
    for row in view.certificates:
        # Graph lists a token-signing certificate twice: the public half (Verify) and the private half (Sign).
        credentials.append(key_credential(row, with_key=with_key))
        credentials.append(key_credential(row, with_key=False, usage="Sign", key_id=sign_key_id(row.key_id)))
    credentials.extend(key_credential(row, with_key=with_key) for row in view.verification)
    out = to_wire(
        SERVICE_PRINCIPAL,
        view.sp,
        select,
        computed={
            "appRoles": view.roles,
            "info": informational_url(public_url, view.logo),
            "servicePrincipalType": "Application",
            "replyUrls": view.reply_urls,
            "servicePrincipalNames": view.names,
            "keyCredentials": credentials,
            "oauth2PermissionScopes": _scopes(view),
        },
    )
    if "samlSingleSignOnSettings" in out:  # null until a relay state is set, as in Graph
        relay = (view.sp.saml_single_sign_on_settings or {}).get("relayState")
        out["samlSingleSignOnSettings"] = {"relayState": relay} if relay else None
    return out


def _scopes(view: SpView) -> list[dict[str, Any]]:
    if view.application is not None:
        return list(view.application.oauth2_permission_scopes)
    return graph_permission_scopes() if view.sp.app_id == GRAPH_APP_ID else []
