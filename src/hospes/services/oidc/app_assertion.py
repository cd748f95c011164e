"""Client credentials by certificate: the ``private_key_jwt`` check of the user grants (``client_auth``) for the
client-credentials grant of ``services/oauth.py``, which reads the client itself and hands over only the proof.
Daemons authenticate this way (MSAL's ``client_credential={"private_key": …, "thumbprint": …}``)."""

from __future__ import annotations

from sqlalchemy.orm import Session, sessionmaker

from hospes.services.oauth import AssertionCheck, OAuthError, TokenRequest
from hospes.services.oidc.client_auth import ClientAuthenticator, ClientProof
from hospes.services.oidc.clients import load_relying_party


def assertion_check(sessions: sessionmaker[Session], clients: ClientAuthenticator, public_url: str) -> AssertionCheck:
    def check(tenant_id: str, request: TokenRequest) -> None:
        with sessions() as session:
            rp = load_relying_party(session, tenant_id, request.client_id)
        if rp is None:
            raise OAuthError(
                "unauthorized_client",
                f"Application with identifier '{request.client_id[:64]}' was not found in the directory.",
                code=700016,
            )
        proof = ClientProof(
            request.client_id, "", request.assertion_type, request.assertion, request.address, request.now
        )
        # The assertion's audience is this token endpoint, named by tenant id or by the domain the client used.
        audiences = {f"{public_url}/{key}/oauth2/v2.0/token" for key in (tenant_id, request.tenant_key)}
        clients.authenticate(rp, proof, public=False, audiences=audiences, grant="client_credentials")

    return check
