"""Dependencies of the page surface. A page that cannot go on (unknown organization, signed out, no role, a
refused form) raises ``PageExit`` with the response to send; one exception handler sends it. Handlers therefore
receive ready objects: ``PageDep`` (the tenant's page context), ``PlainPageDep`` (a page outside any tenant). The
portal's pages, after their role check, come from ``hospes.web.portal.deps``."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from hospes.runtime import Runtime
from hospes.web.context import Page, open_page
from hospes.web.guest import PlainPage


async def runtime(request: Request) -> Runtime:
    found: Runtime = request.app.state.runtime
    return found


RuntimeDep = Annotated[Runtime, Depends(runtime)]


def tenant_page(request: Request, tenant: str) -> Page:
    """The page of the ``{tenant}`` in the path."""
    return open_page(request, tenant)


PageDep = Annotated[Page, Depends(tenant_page)]


async def plain_page(request: Request) -> PlainPage:
    """A page outside any tenant: the unsubscribe portal, the "block future invitations" confirmation."""
    return PlainPage.open(request)


PlainPageDep = Annotated[PlainPage, Depends(plain_page)]
