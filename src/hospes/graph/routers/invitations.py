"""``POST /invitations``, the Hospes bulk endpoint ``POST /invitations/bulk``, and ``/users/{id}/sponsors`` (read,
add and remove by ``$ref``)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from hospes.domain.errors import InvalidInputError
from hospes.domain.invitation import parse_invitation
from hospes.domain.schema import GROUP, USER
from hospes.graph.deps import BodyDep, Inviter, RuntimeDep, SyncInviter, UsersReader, UsersWriter
from hospes.graph.wire import collection, context_url, to_wire
from hospes.services.cross_tenant_invitations import SyncInvitations, is_sync_invitation
from hospes.services.groups import reference_id
from hospes.services.invitations.bulk import invite_rows
from hospes.services.invitations.service import InvitationResult, InvitationService

router = APIRouter()
MAX_BULK = 1000


def invitation_wire(result: InvitationResult) -> dict[str, Any]:
    inv, user = result.invitation, result.user
    return {
        "id": inv.id,
        "inviteRedeemUrl": result.redeem_url,
        "invitedUserDisplayName": inv.display_name,
        "invitedUserType": inv.user_type,
        "invitedUserEmailAddress": inv.email,
        "sendInvitationMessage": inv.send_message,
        "resetRedemption": inv.reset_redemption,
        "inviteRedirectUrl": inv.redirect_url,
        "status": inv.status,
        "invitedUserMessageInfo": inv.message_info,
        "invitedUser": {"id": user.id, "userPrincipalName": user.user_principal_name},
        "invitedUserSponsors": [
            {"@odata.type": f"#microsoft.graph.{kind}", "id": sponsor_id} for kind, sponsor_id in result.sponsors
        ],
        # Hospes annotation: whether the email was queued, not requested, or suppressed by the recipient's block.
        "@hospes.messageStatus": inv.message_status,
    }


@router.post("/invitations", status_code=201, response_class=JSONResponse)
async def create_invitation(
    request: Request, body: BodyDep, state: RuntimeDep, invitations: Inviter, sync: SyncInviter
) -> JSONResponse:
    if is_sync_invitation(body):
        wire = await run_in_threadpool(_sync_invitation, state, sync, body)
        return JSONResponse(wire, status_code=201)
    # Queued to the process's invitation writer, which commits the calls waiting together (invitations.batch).
    result = await state.invitations.invite(invitations, parse_invitation(body))
    # A ready Response: the wire dict holds only JSON types, so FastAPI's jsonable_encoder pass is skipped.
    wire = {"@odata.context": context_url(state, "invitations", entity=True), **invitation_wire(result)}
    return JSONResponse(wire, status_code=201)


@router.post("/invitations/bulk")
def bulk_invitations(request: Request, body: BodyDep, invitations: Inviter) -> dict[str, Any]:
    """Hospes extension: ``{"invitations": [<invitation>, ...]}`` (at most 1,000). Each row is its own
    transaction and fails on its own; the answer lists, in order, a 201 with the invitation or the error."""
    rows = body.get("invitations") if isinstance(body, dict) else None
    if not isinstance(rows, list) or not rows or len(rows) > MAX_BULK:
        raise InvalidInputError(f"'invitations' must be an array of 1 to {MAX_BULK} invitation objects.")
    return {"value": bulk_invite(invitations, rows)}


def _sync_invitation(state: RuntimeDep, sync: SyncInvitations, body: dict[str, Any]) -> dict[str, Any]:
    user, req = sync.invite(body)
    return {
        "@odata.context": context_url(state, "invitations", entity=True),
        "id": user.id,
        "inviteRedeemUrl": None,
        "invitedUserDisplayName": req.display_name,
        "invitedUserType": user.user_type,
        "invitedUserEmailAddress": req.email,
        "sendInvitationMessage": False,
        "resetRedemption": False,
        "inviteRedirectUrl": req.redirect_url,
        "status": "Completed",
        "invitedUserMessageInfo": None,
        "invitedUser": {"id": user.id, "userPrincipalName": user.user_principal_name},
        "invitedUserSponsors": [],
        "@hospes.messageStatus": "NotRequested",
    }


def bulk_invite(service: InvitationService, rows: list[Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for row in invite_rows(service, rows):
        if row.result is not None:
            out.append({"index": row.index, "status": 201, "invitation": invitation_wire(row.result)})
        else:
            out.append({"index": row.index, "status": row.status, "error": {"code": row.code, "message": row.error}})
    return out


@router.get("/users/{key}/sponsors")
def user_sponsors(key: str, state: RuntimeDep, users: UsersReader) -> dict[str, Any]:
    items = [
        {"@odata.type": f"#microsoft.graph.{kind}", **to_wire(USER if kind == "user" else GROUP, obj)}
        for kind, obj in users.sponsors(key)
    ]
    return collection(state, "directoryObjects", items)


@router.post("/users/{key}/sponsors/$ref", status_code=204)
def add_sponsor(key: str, body: BodyDep, users: UsersWriter) -> Response:
    if not isinstance(body, dict):
        raise InvalidInputError("The body must be an object with '@odata.id'.")
    users.add_sponsor(key, reference_id(body.get("@odata.id")))
    return Response(status_code=204)


@router.delete("/users/{key}/sponsors/{sponsor_id}/$ref", status_code=204)
def remove_sponsor(key: str, sponsor_id: str, users: UsersWriter) -> Response:
    users.remove_sponsor(key, sponsor_id)
    return Response(status_code=204)
