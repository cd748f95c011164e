"""Dependencies of the page surface. A page that cannot go on (unknown organization, signed out, no role, a
refused form) raises ``PageExit`` with the response to send; one exception handler sends it. Handlers therefore
receive ready objects: ``PageDep`` (the tenant's page context), ``admin_page(...)`` (a portal page after its role
check), and the services an ``AdminPage`` builds for its signed-in administrator."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from hospes.runtime import Runtime


async def runtime(request: Request) -> Runtime:
    found: Runtime = request.app.state.runtime
    return found


RuntimeDep = Annotated[Runtime, Depends(runtime)]
