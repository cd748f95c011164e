"""FastAPI dependencies of the OAuth surface (token endpoint and discovery documents)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from hospes.runtime import Runtime
from hospes.services.oauth import TokenGrants
from hospes.services.oidc.app_assertion import assertion_check


def runtime_of(request: Request) -> Runtime:
    found: Runtime = request.app.state.runtime
    return found


async def runtime(request: Request) -> Runtime:  # async: no blocking, so no thread-pool round trip
    return runtime_of(request)


RuntimeDep = Annotated[Runtime, Depends(runtime)]


async def grants(state: RuntimeDep) -> TokenGrants:
    certificates = assertion_check(state.sessions, state.user_grants.clients, state.settings.public_url)
    return TokenGrants(
        state.sessions, state.issuer, state.passwords, state.client_secrets, certificates, state.sign_ins
    )


GrantsDep = Annotated[TokenGrants, Depends(grants)]
