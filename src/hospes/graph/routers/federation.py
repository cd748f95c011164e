"""Guests' own identity providers: SAML direct federation under ``/directory/federationConfigurations`` (and its
domains), OpenID providers under ``/identity/identityProviders`` (which lists the federations too)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from hospes.domain.federation import KIND_SAML
from hospes.graph.deps import BodyDep, FederationReader, FederationWriter, RuntimeDep
from hospes.graph.wire import collection, entity

router = APIRouter()
CONFIGS = "/directory/federationConfigurations"
SAML_CAST = CONFIGS + "/graph.samlOrWsFedExternalDomainFederation"
CONFIG = CONFIGS + "/{federation_id}"
DOMAINS = CONFIG + "/microsoft.graph.samlOrWsFedExternalDomainFederation/domains"
PROVIDERS = "/identity/identityProviders"
PROVIDER = PROVIDERS + "/{provider_id}"


def _domains_path(federation_id: str) -> str:
    cast = "microsoft.graph.samlOrWsFedExternalDomainFederation"
    return f"directory/federationConfigurations('{federation_id}')/{cast}/domains"


@router.get(CONFIGS)
def list_federations(state: RuntimeDep, federations: FederationReader) -> dict[str, Any]:
    return collection(state, "directory/federationConfigurations", federations.list_saml())


@router.get(SAML_CAST)
def list_saml_federations(state: RuntimeDep, federations: FederationReader) -> dict[str, Any]:
    path = "directory/federationConfigurations/microsoft.graph.samlOrWsFedExternalDomainFederation"
    return collection(state, path, federations.list_saml())


@router.post(SAML_CAST, status_code=201)
def create_saml_federation(body: BodyDep, state: RuntimeDep, federations: FederationWriter) -> dict[str, Any]:
    return entity(state, "directory/federationConfigurations", federations.create_saml(body))


@router.get(CONFIG)
def get_federation(federation_id: str, state: RuntimeDep, federations: FederationReader) -> dict[str, Any]:
    return entity(state, "directory/federationConfigurations", federations.get_saml(federation_id))


@router.patch(CONFIG, status_code=204)
def patch_federation(federation_id: str, body: BodyDep, federations: FederationWriter) -> Response:
    federations.update_saml(federation_id, body)
    return Response(status_code=204)


@router.delete(CONFIG, status_code=204)
def delete_federation(federation_id: str, federations: FederationWriter) -> Response:
    federations.delete_provider(federation_id, KIND_SAML)
    return Response(status_code=204)


@router.get(DOMAINS)
def list_domains(federation_id: str, state: RuntimeDep, federations: FederationReader) -> dict[str, Any]:
    return collection(state, _domains_path(federation_id), federations.list_domains(federation_id))


@router.post(DOMAINS, status_code=201)
def add_domain(federation_id: str, body: BodyDep, state: RuntimeDep, federations: FederationWriter) -> dict[str, Any]:
    return entity(state, _domains_path(federation_id), federations.add_domain(federation_id, body))


@router.delete(DOMAINS + "/{domain}", status_code=204)
def remove_domain(federation_id: str, domain: str, federations: FederationWriter) -> Response:
    federations.remove_domain(federation_id, domain)
    return Response(status_code=204)


@router.get(PROVIDERS)
def list_providers(state: RuntimeDep, federations: FederationReader) -> dict[str, Any]:
    return collection(state, "identity/identityProviders", federations.list_providers())


@router.post(PROVIDERS, status_code=201)
def create_provider(body: BodyDep, state: RuntimeDep, federations: FederationWriter) -> dict[str, Any]:
    return entity(state, "identity/identityProviders", federations.create_oidc(body))


@router.get(PROVIDER)
def get_provider(provider_id: str, state: RuntimeDep, federations: FederationReader) -> dict[str, Any]:
    return entity(state, "identity/identityProviders", federations.get_oidc(provider_id))


@router.patch(PROVIDER, status_code=204)
def patch_provider(provider_id: str, body: BodyDep, federations: FederationWriter) -> Response:
    federations.update_any(provider_id, body)
    return Response(status_code=204)


@router.delete(PROVIDER, status_code=204)
def delete_provider(provider_id: str, federations: FederationWriter) -> Response:
    federations.delete_any(provider_id)
    return Response(status_code=204)
