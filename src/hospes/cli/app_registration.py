"""``hospes app …`` for a relying party: show an app, set its redirect URIs per platform, logout URL and identifier
URIs, upload and remove its certificates, choose its single sign-on mode, and make and activate its SAML
token-signing certificates (printing the federation metadata URL the service provider reads). ``APP`` is the
application's object id or its application (client) id. The same services and rules as Graph and the portal."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from sqlalchemy.orm import Session, sessionmaker

from hospes.cli.common import ConfigOpt, TenantOpt, deployment_box, fail, load, open_database, resolve_tenant_id
from hospes.cli.directory import app_app as app_app  # the `hospes app` group, with these commands added
from hospes.domain.app_registration import PlainError
from hospes.domain.errors import DomainError, NotFoundError
from hospes.domain.principals import system_principal
from hospes.services.app_credentials import AppCredentialService
from hospes.services.app_sso import MODES, SsoSettings
from hospes.services.app_views import AppView, AppViews
from hospes.services.apps import AppService, ServicePrincipal
from hospes.settings import Settings

AppArg = Annotated[str, typer.Argument(help="The application's object id or application (client) id.", metavar="APP")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]
PLATFORMS = {"web": "web", "spa": "spa", "public": "publicClient"}
certificate_app = typer.Typer(help="An app's certificates (client assertions).", no_args_is_help=True)
signing_app = typer.Typer(help="An enterprise app's SAML token-signing certificates.", no_args_is_help=True)
verification_app = typer.Typer(
    help="A SAML service provider's certificates that verify its signed requests.", no_args_is_help=True
)
app_app.add_typer(certificate_app, name="certificate")
app_app.add_typer(signing_app, name="signing-certificate")
app_app.add_typer(verification_app, name="verification-certificate")


class _Context:
    def __init__(self, tenant: str, config: str | None) -> None:
        self.settings: Settings = load(config)
        self.sessions: sessionmaker[Session] = open_database(self.settings).sessions
        try:
            self.tenant_id = resolve_tenant_id(self.sessions, tenant)
        except NotFoundError:
            raise fail(f"No tenant '{tenant}'.") from None
        self.actor = system_principal(self.tenant_id)

    @property
    def apps(self) -> AppService:
        return AppService(self.sessions, self.actor)

    @property
    def views(self) -> AppViews:
        return AppViews(self.sessions, self.actor)

    @property
    def credentials(self) -> AppCredentialService:
        box = deployment_box(self.settings, self.sessions)
        return AppCredentialService(self.sessions, self.actor, box=box)

    def view(self, key: str) -> AppView:
        for candidate in (key, f"appId={key}"):
            try:
                return self.views.application(candidate)
            except NotFoundError:
                continue
        raise fail(f"No application '{key}' in this tenant.")

    def enterprise(self, view: AppView) -> ServicePrincipal:
        sp = self.views.service_principal_of(view.app.id)
        if sp is None:
            raise fail("This app has no enterprise application (service principal) yet; create one first.")
        return sp

    def metadata_url(self, view: AppView) -> str:
        base = self.settings.public_url.rstrip("/")
        return f"{base}/{self.tenant_id}/federationmetadata/2007-06/federationmetadata.xml?appid={view.app.app_id}"


def _message(exc: DomainError) -> str:
    return exc.reason if isinstance(exc, PlainError) else exc.message


def _print(out: dict[str, Any], as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(out))
        return
    for key, value in out.items():
        shown = ", ".join(str(v) for v in value) if isinstance(value, list) else ("" if value is None else value)
        typer.echo(f"{key}: {shown}")


def _summary(ctx: _Context, view: AppView) -> dict[str, Any]:
    app = view.app
    sp = ctx.views.service_principal_of(app.id)
    out: dict[str, Any] = {
        "objectId": app.id,
        "appId": app.app_id,
        "displayName": app.display_name,
        "web.redirectUris": list(app.web_redirect_uris),
        "web.logoutUrl": app.logout_url,
        "spa.redirectUris": list(app.spa_redirect_uris),
        "publicClient.redirectUris": list(app.public_client_redirect_uris),
        "identifierUris": list(app.identifier_uris),
        "certificates": [f"{c.thumbprint} {c.display_name} (until {c.end_at:%Y-%m-%d})" for c in view.certificates],
        "info.logoUrl": f"{ctx.settings.public_url.rstrip('/')}{view.logo}" if view.logo else None,
    }
    if sp is not None:
        sso = SsoSettings(ctx.sessions, ctx.actor).view(sp.id)
        out["servicePrincipalId"] = sp.id
        out["preferredSingleSignOnMode"] = sso.sp.preferred_single_sign_on_mode
        out["signingCertificates"] = [
            f"{c.thumbprint}{' (active)' if sso.active and sso.active.key_id == c.key_id else ''}"
            for c in sso.certificates
        ]
        out["federationMetadataUrl"] = ctx.metadata_url(view)
    return out


@app_app.command("show")
def app_show(tenant: TenantOpt, key: AppArg, as_json: JsonOpt = False, config: ConfigOpt = None) -> None:
    """Show an app's registration: redirect URIs per platform, logout URL, identifiers, certificates, SSO."""
    ctx = _Context(tenant, config)
    _print(_summary(ctx, ctx.view(key)), as_json)


@app_app.command("redirect-uris")
def app_redirect_uris(
    tenant: TenantOpt,
    key: AppArg,
    platform: Annotated[str, typer.Option("--platform", help="web, spa or public (mobile and desktop).")] = "web",
    uri: Annotated[list[str] | None, typer.Option("--uri", help="A redirect URI; repeat for several.")] = None,
    clear: Annotated[bool, typer.Option("--clear", help="Remove every redirect URI of the platform.")] = False,
    config: ConfigOpt = None,
) -> None:
    """Replace the redirect URIs of one platform (Entra's rules: https, or http on localhost; custom schemes only
    for public clients)."""
    if platform not in PLATFORMS:
        raise fail("--platform must be web, spa or public.")
    if not uri and not clear:
        raise fail("Give --uri (one or more) or --clear.")
    ctx = _Context(tenant, config)
    view = ctx.view(key)
    try:
        ctx.apps.update_app(view.app.id, {}, {PLATFORMS[platform]: {"redirectUris": [] if clear else list(uri or [])}})
    except DomainError as exc:
        raise fail(_message(exc)) from None
    _print(_summary(ctx, ctx.view(view.app.id)), False)


@app_app.command("logout-url")
def app_logout_url(
    tenant: TenantOpt,
    key: AppArg,
    url: Annotated[str, typer.Argument(help="The front-channel logout URL; an empty string removes it.")],
    config: ConfigOpt = None,
) -> None:
    """Set the app's front-channel logout URL (``web.logoutUrl``), and its enterprise app's logout URL."""
    ctx = _Context(tenant, config)
    view = ctx.view(key)
    try:
        ctx.apps.update_app(view.app.id, {}, {"web": {"logoutUrl": url or None}}, {"logout_url": url or None})
    except DomainError as exc:
        raise fail(_message(exc)) from None
    typer.echo(f"web.logoutUrl: {url}")


@app_app.command("identifier-uris")
def app_identifier_uris(
    tenant: TenantOpt,
    key: AppArg,
    uri: Annotated[list[str] | None, typer.Option("--uri", help="An identifier URI; repeat for several.")] = None,
    clear: Annotated[bool, typer.Option("--clear", help="Remove every identifier URI.")] = False,
    config: ConfigOpt = None,
) -> None:
    """Replace the app's identifier URIs (a SAML service provider's entity ids; api://... for an API)."""
    if not uri and not clear:
        raise fail("Give --uri (one or more) or --clear.")
    ctx = _Context(tenant, config)
    view = ctx.view(key)
    try:
        ctx.apps.update_app(view.app.id, {"identifier_uris": [] if clear else list(uri or [])})
    except DomainError as exc:
        raise fail(_message(exc)) from None
    typer.echo("identifierUris: " + ", ".join(uri or []))


@app_app.command("sso-mode")
def app_sso_mode(
    tenant: TenantOpt,
    key: AppArg,
    mode: Annotated[str, typer.Argument(help="saml, oidc or disabled.")],
    config: ConfigOpt = None,
) -> None:
    """Choose how the enterprise app signs people in (``preferredSingleSignOnMode``)."""
    if mode not in MODES:
        raise fail("The mode is saml, oidc or disabled.")
    ctx = _Context(tenant, config)
    view = ctx.view(key)
    SsoSettings(ctx.sessions, ctx.actor).set_mode(ctx.enterprise(view).id, mode)
    typer.echo(f"preferredSingleSignOnMode: {mode}")
    if mode == "saml":
        typer.echo(f"federationMetadataUrl: {ctx.metadata_url(view)}")


@app_app.command("metadata-url")
def app_metadata_url(tenant: TenantOpt, key: AppArg, config: ConfigOpt = None) -> None:
    """Print the app's SAML federation metadata URL (what the service provider reads)."""
    ctx = _Context(tenant, config)
    typer.echo(ctx.metadata_url(ctx.view(key)))


@certificate_app.command("add")
def certificate_add(
    tenant: TenantOpt,
    key: AppArg,
    file: Annotated[Path, typer.Argument(help="The certificate: .cer/.crt (DER or PEM) or .pem.", exists=True)],
    description: Annotated[str | None, typer.Option("--description")] = None,
    as_json: JsonOpt = False,
    config: ConfigOpt = None,
) -> None:
    """Upload a certificate the app signs its client assertions with (the public certificate only)."""
    ctx = _Context(tenant, config)
    view = ctx.view(key)
    if file.stat().st_size > 64 * 1024:
        raise fail("The certificate file is larger than 64 KB.")
    try:
        row = ctx.credentials.upload_app_certificate(view.app.id, file.read_bytes(), description)
    except DomainError as exc:
        raise fail(_message(exc)) from None
    out = {"keyId": row.key_id, "thumbprint": row.thumbprint, "displayName": row.display_name}
    _print({**out, "endDateTime": f"{row.end_at:%Y-%m-%dT%H:%M:%SZ}"}, as_json)


@certificate_app.command("remove")
def certificate_remove(
    tenant: TenantOpt,
    key: AppArg,
    key_id: Annotated[str, typer.Argument(help="The certificate's key id (see `hospes app show`).")],
    config: ConfigOpt = None,
) -> None:
    """Remove one of the app's certificates."""
    ctx = _Context(tenant, config)
    view = ctx.view(key)
    try:
        ctx.credentials.remove_app_certificate(view.app.id, key_id)
    except NotFoundError:
        raise fail(f"The app has no certificate '{key_id}'.") from None
    typer.echo(f"removed {key_id}")


@signing_app.command("add")
def signing_add(
    tenant: TenantOpt,
    key: AppArg,
    name: Annotated[str | None, typer.Option("--name", help="CN=… (default: CN= and the app's name).")] = None,
    activate: Annotated[bool, typer.Option("--activate", help="Make it the active signing certificate.")] = False,
    as_json: JsonOpt = False,
    config: ConfigOpt = None,
) -> None:
    """Make a self-signed SAML token-signing certificate (RSA-2048, three years); the first one becomes active."""
    ctx = _Context(tenant, config)
    view = ctx.view(key)
    sp = ctx.enterprise(view)
    credentials = ctx.credentials
    try:
        row = credentials.add_token_signing_certificate(sp.id, name, activate_if_first=True)
        if activate:
            credentials.activate_signing_certificate(sp.id, row.thumbprint)
    except DomainError as exc:
        raise fail(_message(exc)) from None
    active = SsoSettings(ctx.sessions, ctx.actor).view(sp.id).active
    out = {
        "keyId": row.key_id,
        "thumbprint": row.thumbprint,
        "displayName": row.display_name,
        "endDateTime": f"{row.end_at:%Y-%m-%dT%H:%M:%SZ}",
        "active": active is not None and active.key_id == row.key_id,
        "federationMetadataUrl": ctx.metadata_url(view),
    }
    _print(out, as_json)


@signing_app.command("activate")
def signing_activate(
    tenant: TenantOpt,
    key: AppArg,
    thumbprint: Annotated[str, typer.Argument(help="The thumbprint of one of its signing certificates.")],
    config: ConfigOpt = None,
) -> None:
    """Make one of the enterprise app's signing certificates the one that signs."""
    ctx = _Context(tenant, config)
    sp = ctx.enterprise(ctx.view(key))
    try:
        ctx.credentials.activate_signing_certificate(sp.id, thumbprint)
    except DomainError as exc:
        raise fail(_message(exc)) from None
    typer.echo(f"preferredTokenSigningKeyThumbprint: {thumbprint.upper()}")


@verification_app.command("add")
def verification_add(
    tenant: TenantOpt,
    key: AppArg,
    file: Annotated[Path, typer.Argument(help="The service provider's certificate (.cer/.crt/.pem).", exists=True)],
    require: Annotated[bool, typer.Option("--require", help="Then refuse unsigned sign-in requests.")] = False,
    config: ConfigOpt = None,
) -> None:
    """Upload the certificate a SAML service provider signs its requests with (optionally requiring them signed)."""
    ctx = _Context(tenant, config)
    sp = ctx.enterprise(ctx.view(key))
    if file.stat().st_size > 64 * 1024:
        raise fail("The certificate file is larger than 64 KB.")
    try:
        row = ctx.credentials.upload_verification_certificate(sp.id, file.read_bytes())
        if require:
            ctx.credentials.require_signed_requests(sp.id, True)
    except DomainError as exc:
        raise fail(_message(exc)) from None
    _print({"keyId": row.key_id, "thumbprint": row.thumbprint, "requireSignedRequests": require}, False)


@verification_app.command("require")
def verification_require(
    tenant: TenantOpt,
    key: AppArg,
    required: Annotated[bool, typer.Argument(help="true: refuse unsigned sign-in requests; false: accept them.")],
    config: ConfigOpt = None,
) -> None:
    """Require (or stop requiring) signed sign-in requests from the service provider."""
    ctx = _Context(tenant, config)
    sp = ctx.enterprise(ctx.view(key))
    try:
        ctx.credentials.require_signed_requests(sp.id, required)
    except DomainError as exc:
        raise fail(_message(exc)) from None
    typer.echo(f"requireSignedRequests: {str(required).lower()}")
