"""``hospes federation list|add-saml|add-oidc|add-domain|delete``: guests' own identity providers of a tenant
(SAML direct federation, OpenID Connect), the same use cases as Graph's ``/directory/federationConfigurations`` and
``/identity/identityProviders`` (docs/federation.md)."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Annotated, Any

import typer

from hospes.auth.crypto import secret_box
from hospes.cli.common import ConfigOpt, TenantOpt, load, open_database, resolve_tenant_id
from hospes.domain.errors import DomainError
from hospes.domain.federation import OIDC_TYPE, SAML_TYPE, SECRET_AUTH
from hospes.domain.principals import system_principal
from hospes.services.federation import FederationService

federation_app = typer.Typer(help="Guests' own identity providers (SAML, OpenID Connect).", no_args_is_help=True)
DomainsOpt = Annotated[list[str], typer.Option("--domain", help="An email domain bound to the provider (repeatable).")]


def _service(tenant: str, config: str | None) -> FederationService:
    settings = load(config)
    sessions = open_database(settings).sessions
    box = secret_box(settings.secret_key, settings.data_dir)
    return FederationService(sessions, system_principal(resolve_tenant_id(sessions, tenant)), box=box)


def _run(action: Any) -> None:
    try:
        result = action()
    except DomainError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(1) from None
    if result is not None:
        typer.echo(json.dumps(result, indent=2))


@federation_app.command("list")
def list_providers(tenant: TenantOpt, config: ConfigOpt = None) -> None:
    """Print the tenant's identity providers as JSON."""
    _run(lambda: _service(tenant, config).list_providers())


@federation_app.command("add-saml")
def add_saml(
    tenant: TenantOpt,
    name: Annotated[str, typer.Option("--name", help="Display name.")],
    issuer: Annotated[str, typer.Option("--issuer", help="The partner's issuer URI.")],
    sign_in_url: Annotated[str, typer.Option("--sign-in-url", help="The partner's passive sign-in URL (https).")],
    certificate: Annotated[Path, typer.Option("--certificate", help="The partner's signing certificate (PEM or DER).")],
    domain: DomainsOpt,
    metadata_url: Annotated[str | None, typer.Option("--metadata-url", help="The partner's metadata URL.")] = None,
    config: ConfigOpt = None,
) -> None:
    """Add a SAML direct federation for some email domains."""
    raw = certificate.read_bytes()
    text = raw.decode() if raw.lstrip().startswith(b"-----") else base64.b64encode(raw).decode()
    body = {
        "@odata.type": SAML_TYPE,
        "displayName": name,
        "issuerUri": issuer,
        "passiveSignInUri": sign_in_url,
        "metadataExchangeUri": metadata_url,
        "signingCertificate": text,
        "domains": [{"id": d} for d in domain],
    }
    _run(lambda: _service(tenant, config).create_saml(body))


@federation_app.command("add-oidc")
def add_oidc(
    tenant: TenantOpt,
    name: Annotated[str, typer.Option("--name", help="Display name.")],
    issuer: Annotated[str, typer.Option("--issuer", help="The provider's issuer.")],
    well_known: Annotated[str, typer.Option("--well-known", help="The provider's OpenID configuration URL.")],
    client_id: Annotated[str, typer.Option("--client-id", help="The client id registered at the provider.")],
    domain: DomainsOpt,
    client_secret: Annotated[
        str, typer.Option("--client-secret", envvar="HOSPES_FEDERATION_CLIENT_SECRET", prompt=True, hide_input=True)
    ],
    scope: Annotated[str, typer.Option("--scope")] = "openid profile email",
    config: ConfigOpt = None,
) -> None:
    """Add an OpenID Connect provider for some email domains (the secret is prompted for, or read from
    HOSPES_FEDERATION_CLIENT_SECRET)."""
    body = {
        "@odata.type": OIDC_TYPE,
        "displayName": name,
        "issuer": issuer,
        "wellKnownEndpoint": well_known,
        "clientId": client_id,
        "scope": scope,
        "clientAuthentication": {"@odata.type": SECRET_AUTH, "clientSecret": client_secret},
        "domains": [{"id": d} for d in domain],
    }
    _run(lambda: _service(tenant, config).create_oidc(body))


@federation_app.command("add-domain")
def add_domain(
    tenant: TenantOpt,
    provider: Annotated[str, typer.Option("--id", help="The SAML federation's id.")],
    domain: Annotated[str, typer.Option("--domain", help="The email domain to add.")],
    config: ConfigOpt = None,
) -> None:
    """Bind one more email domain to a SAML federation."""
    _run(lambda: _service(tenant, config).add_domain(provider, {"id": domain}))


@federation_app.command("delete")
def delete(
    tenant: TenantOpt,
    provider: Annotated[str, typer.Option("--id", help="The provider's id.")],
    config: ConfigOpt = None,
) -> None:
    """Delete an identity provider (its guests then sign in with a passcode, if allowed)."""
    _run(lambda: _service(tenant, config).delete_any(provider))
