"""FastAPI dependencies of the OAuth surface (token endpoint and discovery documents)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from hospes.runtime import Runtime
from hospes.services.oauth import TokenGrants


def runtime_of(request: Request) -> Runtime:
    found: Runtime = request.app.state.runtime
    return found


async def runtime(request: Request) -> Runtime:  # async: no blocking, so no thread-pool round trip
    return runtime_of(request)


RuntimeDep = Annotated[Runtime, Depends(runtime)]


async def grants(state: RuntimeDep) -> TokenGrants:
    return TokenGrants(state.sessions, state.issuer, state.passwords, state.client_secrets)


GrantsDep = Annotated[TokenGrants, Depends(grants)]
