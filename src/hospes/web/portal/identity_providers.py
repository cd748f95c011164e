"""Guests' own identity providers in the portal: SAML/WS-Fed direct federation and OpenID Connect providers, each
bound to email domains, with what the partner must configure on its side. Writes go through
``FederationService``, as Graph's ``/directory/federationConfigurations`` and ``/identity/identityProviders``
do (docs/federation.md)."""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter
from starlette.responses import Response

from hospes.domain.errors import DomainError, NotFoundError
from hospes.domain.federation import KIND_OIDC, KIND_SAML, OIDC_TYPE, SAML_TYPE, SECRET_AUTH
from hospes.services.federation import FederationService
from hospes.web.exits import PageExit
from hospes.web.portal.access import AdminPage, Form
from hospes.web.portal.ca_policies import confirm_page
from hospes.web.portal.deps import IdentityProvidersDep

router = APIRouter(include_in_schema=False)
BASE = "/identity-providers"
_GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
# A service error's target → the field it is shown under.
_FIELDS = {
    "displayName": "name",
    "issuerUri": "issuer",
    "issuer": "issuer",
    "passiveSignInUri": "signin",
    "metadataExchangeUri": "metadata",
    "signingCertificate": "certificate",
    "domains": "domains",
    "id": "domains",
    "clientId": "client_id",
    "wellKnownEndpoint": "well_known",
    "clientAuthentication": "secret",
    "scope": "scope",
}


def service(admin: AdminPage) -> FederationService:
    return FederationService(admin.sessions, admin.principal, box=admin.page.web.box)


def _field_text(admin: AdminPage, field: str, message: str) -> str:
    """What to change, in the page's language: the services' sentences name Graph properties."""
    _ = admin._
    if field == "domains":
        if "already bound" in message:
            return _("One of these domains already belongs to another identity provider.")
        if "domain of this organization" in message:
            return _("Your organization's own domains can't be federated.")
        return _("Enter domain names, one per line, such as fabrikam.com.")
    texts = {
        "name": _("Enter a name."),
        "issuer": _("Enter the issuer the partner's identity provider names itself with."),
        "signin": _("Enter a web address starting with https://."),
        "metadata": _("Enter a web address starting with https://, or leave it empty."),
        "certificate": _("Paste the partner's signing certificate (base64 or PEM, RSA)."),
        "client_id": _("Enter the client ID the partner registered for this organization."),
        "well_known": _("Enter the address of the provider's OpenID configuration (https)."),
        "secret": _("Enter the client secret."),
        "scope": _("The scope must include openid."),
    }
    if "already" in message and field == "issuer":
        return _("Another identity provider of your organization has this issuer.")
    return texts.get(field, admin.plain_text(message))


def _errors(admin: AdminPage, exc: DomainError) -> dict[str, str]:
    field = _FIELDS.get(exc.target or "", "_form")
    return {field: _field_text(admin, field, exc.message) if field != "_form" else admin.plain(exc)}


def _provider(admin: AdminPage, provider_id: str) -> dict[str, Any]:
    pid = provider_id.lower()[:64]
    if not _GUID.match(pid):
        raise PageExit(admin.not_found())
    try:
        found = service(admin).get_oidc(pid)
    except NotFoundError:
        raise PageExit(admin.not_found()) from None
    if found["@odata.type"] == SAML_TYPE:
        found["domains"] = service(admin).list_domains(pid)
    return found


def _values(provider: dict[str, Any] | None, kind: str) -> dict[str, Any]:
    p = provider or {}
    saml = (p.get("@odata.type") == SAML_TYPE) if provider else kind == KIND_SAML
    return {
        "kind": KIND_SAML if saml else KIND_OIDC,
        "name": p.get("displayName", ""),
        "issuer": p.get("issuerUri" if saml else "issuer") or "",
        "signin": p.get("passiveSignInUri") or "",
        "metadata": p.get("metadataExchangeUri") or "",
        "certificate": p.get("signingCertificate") or "",
        "client_id": p.get("clientId") or "",
        "well_known": p.get("wellKnownEndpoint") or "",
        "secret": "",
        "scope": p.get("scope") or "openid profile email",
        "domains": "\n".join(d["id"] for d in p.get("domains") or []),
    }


def _posted(form: Form, kind: str) -> dict[str, Any]:
    values = {key: form.get(key).strip()[:16384] for key in _values(None, kind) if key != "kind"}
    return {**values, "kind": kind}


def _domain_list(text: str) -> list[str]:
    return [line.strip() for line in text.replace("\r", "\n").replace(",", "\n").split("\n") if line.strip()][:100]


def _body(values: dict[str, Any], *, create: bool) -> dict[str, Any]:
    domains = [{"id": d} for d in _domain_list(values["domains"])]
    if values["kind"] == KIND_SAML:
        body: dict[str, Any] = {
            "displayName": values["name"],
            "issuerUri": values["issuer"],
            "passiveSignInUri": values["signin"],
            "metadataExchangeUri": values["metadata"] or None,
            "signingCertificate": values["certificate"],
        }
        if create:
            body.update({"@odata.type": SAML_TYPE, "preferredAuthenticationProtocol": "saml", "domains": domains})
        return body
    body = {
        "displayName": values["name"],
        "issuer": values["issuer"],
        "clientId": values["client_id"],
        "wellKnownEndpoint": values["well_known"],
        "scope": values["scope"] or "openid profile email",
        "domains": domains,
    }
    if values["secret"] or create:
        body["clientAuthentication"] = {"@odata.type": SECRET_AUTH, "clientSecret": values["secret"]}
    if create:
        body["@odata.type"] = OIDC_TYPE
    return body


def _editor(
    admin: AdminPage, values: dict[str, Any], errors: dict[str, str], provider: dict[str, Any] | None, status: int = 200
) -> Response:
    federation = admin.page.web.redemption.federation
    tenant_id = admin.page.tenant.id
    done = admin.page.request.query_params.get("done") == "saved"
    return admin.render(
        "portal/idp.html",
        status,
        provider=provider,
        values=values,
        errors=errors,
        acs=federation.acs_url,
        entity_id=federation.entity_id(tenant_id),
        redirect_uri=federation.redirect_uri(tenant_id),
        notice=admin._("The identity provider was saved.") if done else None,
    )


@router.get("/{tenant}/admin/identity-providers")
def provider_list(admin: IdentityProvidersDep) -> Response:
    notice = admin._("The identity provider was deleted.") if admin.page.request.query_params.get("done") else None
    providers = service(admin).list_providers()
    for p in providers:
        if p["@odata.type"] == SAML_TYPE:
            p["domains"] = service(admin).list_domains(p["id"])
    return admin.render("portal/idps.html", providers=providers, saml_type=SAML_TYPE, notice=notice)


@router.get("/{tenant}/admin/identity-providers/new")
def new_provider(admin: IdentityProvidersDep) -> Response:
    kind = KIND_OIDC if admin.page.request.query_params.get("kind") == KIND_OIDC else KIND_SAML
    return _editor(admin, _values(None, kind), {}, None)


def _sync_domains(admin: AdminPage, provider: dict[str, Any], wanted: list[str]) -> None:
    """A SAML federation's domains as listed: the new ones added first, so it never has none."""
    have = {d["id"] for d in provider.get("domains") or []}
    names = {w.lower() for w in wanted}
    for name in wanted:
        if name.lower() not in have:
            service(admin).add_domain(provider["id"], {"id": name})
    for name in sorted(have - names):
        service(admin).remove_domain(provider["id"], name)


async def _save(admin: AdminPage, provider: dict[str, Any] | None) -> Response:
    form = await admin.form()
    kind = _values(provider, "")["kind"] if provider else (KIND_OIDC if form.get("kind") == KIND_OIDC else KIND_SAML)
    values = _posted(form, kind)
    if not values["name"]:
        return _editor(admin, values, {"name": admin._("Enter a name.")}, provider, 400)
    try:
        if provider is None:
            body = _body(values, create=True)
            created = service(admin).create_saml(body) if kind == KIND_SAML else service(admin).create_oidc(body)
            provider = created
        elif kind == KIND_SAML:
            if not _domain_list(values["domains"]):
                return _editor(admin, values, {"domains": _field_text(admin, "domains", "")}, provider, 400)
            service(admin).update_saml(provider["id"], _body(values, create=False))
            _sync_domains(admin, provider, _domain_list(values["domains"]))
        else:
            service(admin).update_oidc(provider["id"], _body(values, create=False))
    except DomainError as exc:
        return _editor(admin, values, _errors(admin, exc), provider, 400)
    return admin.redirect(f"{BASE}/{provider['id']}", done="saved")


@router.post("/{tenant}/admin/identity-providers/new")
async def create_provider(admin: IdentityProvidersDep) -> Response:
    return await _save(admin, None)


@router.get("/{tenant}/admin/identity-providers/{provider_id}")
def edit_provider(admin: IdentityProvidersDep, provider_id: str) -> Response:
    provider = _provider(admin, provider_id)
    return _editor(admin, _values(provider, ""), {}, provider)


@router.post("/{tenant}/admin/identity-providers/{provider_id}")
async def update_provider(admin: IdentityProvidersDep, provider_id: str) -> Response:
    return await _save(admin, _provider(admin, provider_id))


@router.get("/{tenant}/admin/identity-providers/{provider_id}/delete")
def confirm_delete(admin: IdentityProvidersDep, provider_id: str) -> Response:
    provider = _provider(admin, provider_id)
    _ = admin._
    return confirm_page(
        admin,
        _("Delete this identity provider?"),
        provider["displayName"],
        _("Guests of its domains then sign in with a one-time passcode, if your organization allows it."),
        f"{BASE}/{provider['id']}",
        (BASE, _("Identity providers")),
    )


@router.post("/{tenant}/admin/identity-providers/{provider_id}/delete")
async def delete_provider(admin: IdentityProvidersDep, provider_id: str) -> Response:
    form = await admin.form()
    provider = _provider(admin, provider_id)
    if form.get("confirm") != "yes":
        return admin.redirect(f"{BASE}/{provider['id']}")
    try:
        service(admin).delete_any(provider["id"])
    except NotFoundError:
        return admin.not_found()
    return admin.redirect(BASE, done="deleted")
