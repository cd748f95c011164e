"""``/{tenant}/applogos/{appId}/{sha256}.{ext}``: an application's logo, public as Entra's logo CDN is (My Apps,
sign-in and consent pages, and any client reading ``info.logoUrl`` show it without a token). The address holds the
image's hash, so the answer never changes and is cached for a year; a replaced or removed logo's address answers
404. Only PNG, JPEG and GIF are ever stored; the headers still forbid sniffing, scripts and downloads-as-page."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import Response

from hospes.services.app_logos import public_logo
from hospes.web.deps import RuntimeDep

router = APIRouter(include_in_schema=False)

_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'",
    "Content-Disposition": "inline",
    "Cross-Origin-Resource-Policy": "cross-origin",
}


@router.get("/{tenant}/applogos/{app_id}/{name}")
def app_logo(tenant: str, app_id: str, name: str, runtime: RuntimeDep) -> Response:
    logo = public_logo(runtime.sessions, tenant[:64], app_id[:64], name[:80])
    if logo is None:
        return Response(status_code=404, headers={"Cache-Control": "no-store", **_HEADERS})
    headers = {"Cache-Control": "public, max-age=31536000, immutable", **_HEADERS}
    return Response(logo.data, media_type=logo.content_type, headers=headers)
