"""FastAPI dependencies of the OAuth surface (token endpoint and discovery documents)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from hospes.runtime import Runtime
from hospes.services.oauth import TokenGrants


async def runtime(request: Request) -> Runtime:  # async: no blocking, so no thread-pool round trip
    found: Runtime = request.app.state.runtime
    return found


RuntimeDep = Annotated[Runtime, Depends(runtime)]


async def grants(state: RuntimeDep) -> TokenGrants:
    return TokenGrants(state.sessions, state.issuer, state.passwords, state.client_secrets)


GrantsDep = Annotated[TokenGrants, Depends(grants)]
