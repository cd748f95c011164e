"""``/identityGovernance/termsOfUse/agreements``: terms of use, their files per language and who accepted them."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from hospes.graph.deps import BodyDep, RuntimeDep, TermsReader, TermsWriter
from hospes.graph.wire import collection, entity

router = APIRouter()
AGREEMENTS = "/identityGovernance/termsOfUse/agreements"
ONE = AGREEMENTS + "/{agreement_id}"
_CONTEXT = "identityGovernance/termsOfUse/agreements"


@router.get(AGREEMENTS)
def list_agreements(state: RuntimeDep, terms: TermsReader) -> dict[str, Any]:
    return collection(state, _CONTEXT, terms.list_agreements())


@router.post(AGREEMENTS, status_code=201)
def create_agreement(body: BodyDep, state: RuntimeDep, terms: TermsWriter) -> dict[str, Any]:
    return entity(state, _CONTEXT, terms.create_agreement(body))


@router.get(ONE)
def get_agreement(agreement_id: str, state: RuntimeDep, terms: TermsReader) -> dict[str, Any]:
    return entity(state, _CONTEXT, terms.get_agreement(agreement_id))


@router.patch(ONE, status_code=204)
def patch_agreement(agreement_id: str, body: BodyDep, terms: TermsWriter) -> Response:
    terms.update_agreement(agreement_id, body)
    return Response(status_code=204)


@router.delete(ONE, status_code=204)
def delete_agreement(agreement_id: str, terms: TermsWriter) -> Response:
    terms.delete_agreement(agreement_id)
    return Response(status_code=204)


@router.get(ONE + "/files")
def list_files(agreement_id: str, state: RuntimeDep, terms: TermsReader) -> dict[str, Any]:
    return collection(state, f"{_CONTEXT}('{agreement_id}')/files", terms.list_files(agreement_id))


@router.post(ONE + "/files", status_code=201)
def add_file(agreement_id: str, body: BodyDep, state: RuntimeDep, terms: TermsWriter) -> dict[str, Any]:
    return entity(state, f"{_CONTEXT}('{agreement_id}')/files", terms.add_file(agreement_id, body))


@router.get(ONE + "/files/{file_id}")
def get_file(agreement_id: str, file_id: str, state: RuntimeDep, terms: TermsReader) -> dict[str, Any]:
    return entity(state, f"{_CONTEXT}('{agreement_id}')/files", terms.get_file(agreement_id, file_id))


@router.get(ONE + "/acceptances")
def list_acceptances(agreement_id: str, state: RuntimeDep, terms: TermsReader) -> dict[str, Any]:
    return collection(state, f"{_CONTEXT}('{agreement_id}')/acceptances", terms.list_acceptances(agreement_id))
