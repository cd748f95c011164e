"""``/v1.0`` (the service document) and ``/v1.0/$metadata`` (the CSDL schema). Both are public, as Graph's are:
they describe the API, never a tenant's data."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response

from hospes.graph.deps import RuntimeDep
from hospes.graph.metadata import metadata_document, service_document

router = APIRouter()


@router.get("/$metadata", response_class=Response, responses={200: {"content": {"application/xml": {}}}})
def metadata() -> Response:
    return Response(metadata_document(), media_type="application/xml")


@router.get("", summary="Service document")
@router.get("/", include_in_schema=False)
def service_root(state: RuntimeDep) -> dict[str, Any]:
    return service_document(state.settings.public_url)
