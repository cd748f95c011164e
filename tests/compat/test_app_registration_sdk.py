"""The official msgraph-sdk registering a relying party against a real Hospes process: redirect URIs per platform,
logout URL, identifier URIs, a client certificate, and a SAML app's signing certificate."""

from __future__ import annotations

import asyncio
import base64
from typing import Any

import pytest
from kiota_abstractions.base_request_configuration import RequestConfiguration
from msgraph.generated.applications.item.application_item_request_builder import ApplicationItemRequestBuilder
from msgraph.generated.models.application import Application
from msgraph.generated.models.implicit_grant_settings import ImplicitGrantSettings
from msgraph.generated.models.key_credential import KeyCredential
from msgraph.generated.models.o_data_errors.o_data_error import ODataError
from msgraph.generated.models.public_client_application import PublicClientApplication
from msgraph.generated.models.saml_single_sign_on_settings import SamlSingleSignOnSettings
from msgraph.generated.models.service_principal import ServicePrincipal
from msgraph.generated.models.spa_application import SpaApplication
from msgraph.generated.models.web_application import WebApplication
from msgraph.generated.service_principals.item.add_token_signing_certificate.add_token_signing_certificate_post_request_body import (  # noqa: E501
    AddTokenSigningCertificatePostRequestBody,
)

from tests.functional.test_app_registration import make_certificate


def test_application_platforms_patch_and_get(sdk: Any) -> None:
    async def scenario() -> None:
        app = await sdk.applications.post(Application(display_name="Contoso portal"))
        patch = Application(
            web=WebApplication(
                redirect_uris=["https://portal.example/signin-oidc"],
                logout_url="https://portal.example/signout-oidc",
                implicit_grant_settings=ImplicitGrantSettings(enable_id_token_issuance=True),
            ),
            spa=SpaApplication(redirect_uris=["https://portal.example/spa"]),
            public_client=PublicClientApplication(redirect_uris=[f"msal{app.app_id}://auth"]),
            identifier_uris=["api://portal.example"],
            is_fallback_public_client=False,
            group_membership_claims="SecurityGroup",
        )
        await sdk.applications.by_application_id(app.id).patch(patch)
        got = await sdk.applications.by_application_id(app.id).get()
        assert got.web.redirect_uris == ["https://portal.example/signin-oidc"]
        assert got.web.logout_url == "https://portal.example/signout-oidc"
        assert got.web.implicit_grant_settings.enable_id_token_issuance is True
        assert got.web.implicit_grant_settings.enable_access_token_issuance is False
        assert got.spa.redirect_uris == ["https://portal.example/spa"]
        assert got.public_client.redirect_uris == [f"msal{app.app_id}://auth"]
        assert got.identifier_uris == ["api://portal.example"]
        assert got.group_membership_claims == "SecurityGroup"

        with pytest.raises(ODataError) as caught:
            bad = Application(web=WebApplication(redirect_uris=["http://portal.example/plain-http"]))
            await sdk.applications.by_application_id(app.id).patch(bad)
        assert caught.value.response_status_code == 400
        assert caught.value.error.code == "Request_BadRequest"
        assert "web.redirectUris" in caught.value.error.message

    asyncio.run(scenario())


def test_application_certificate_by_sdk(sdk: Any) -> None:
    async def scenario() -> None:
        app = await sdk.applications.post(Application(display_name="Daemon"))
        der_b64, thumbprint = make_certificate("daemon")
        credential = KeyCredential(type="AsymmetricX509Cert", usage="Verify", key=base64.b64decode(der_b64))
        await sdk.applications.by_application_id(app.id).patch(Application(key_credentials=[credential]))
        got = await sdk.applications.by_application_id(app.id).get()
        assert got.key_credentials[0].custom_key_identifier.hex().upper() == thumbprint
        assert got.key_credentials[0].key is None
        params = ApplicationItemRequestBuilder.ApplicationItemRequestBuilderGetQueryParameters(
            select=["keyCredentials"]
        )
        selected = await sdk.applications.by_application_id(app.id).get(
            request_configuration=RequestConfiguration(query_parameters=params)
        )
        assert base64.b64encode(selected.key_credentials[0].key).decode() == der_b64

    asyncio.run(scenario())


def test_saml_service_principal_and_signing_certificate(sdk: Any) -> None:
    async def scenario() -> None:
        app = await sdk.applications.post(
            Application(
                display_name="8x8",
                identifier_uris=["https://sso.8x8.example/saml2"],
                web=WebApplication(redirect_uris=["https://sso.8x8.example/saml2/acs"]),
            )
        )
        sp = await sdk.service_principals.post(ServicePrincipal(app_id=app.app_id))
        assert sp.reply_urls == ["https://sso.8x8.example/saml2/acs"]
        assert sp.service_principal_names == [app.app_id, "https://sso.8x8.example/saml2"]
        await sdk.service_principals.by_service_principal_id(sp.id).patch(
            ServicePrincipal(
                preferred_single_sign_on_mode="saml",
                saml_single_sign_on_settings=SamlSingleSignOnSettings(relay_state="/dashboard"),
            )
        )
        body = AddTokenSigningCertificatePostRequestBody(display_name="CN=8x8 SSO")
        made = await sdk.service_principals.by_service_principal_id(sp.id).add_token_signing_certificate.post(body)
        assert made.display_name == "CN=8x8 SSO" and len(made.thumbprint) == 40 and made.key
        await sdk.service_principals.by_service_principal_id(sp.id).patch(
            ServicePrincipal(preferred_token_signing_key_thumbprint=made.thumbprint)
        )
        got = await sdk.service_principals.by_service_principal_id(sp.id).get()
        assert got.preferred_single_sign_on_mode == "saml"
        assert got.saml_single_sign_on_settings.relay_state == "/dashboard"
        assert got.preferred_token_signing_key_thumbprint == made.thumbprint
        assert sorted(c.usage for c in got.key_credentials) == ["Sign", "Verify"]

    asyncio.run(scenario())
