"""Bulk invitations, shared by ``POST /v1.0/invitations/bulk`` and ``hospes invite --csv``: each row is its own
invitation (its own transaction) and fails on its own with a clear reason."""

from __future__ import annotations

import csv
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hospes.domain.errors import DomainError, ForbiddenError, NotFoundError
from hospes.domain.invitation import parse_invitation
from hospes.services.invitations import InvitationResult, InvitationService

# CSV header (normalized: lower case, letters only) -> invitation property.
_COLUMNS = {
    "email": "invitedUserEmailAddress",
    "emailaddress": "invitedUserEmailAddress",
    "emailaddresstoinvite": "invitedUserEmailAddress",
    "inviteduseremailaddress": "invitedUserEmailAddress",
    "displayname": "invitedUserDisplayName",
    "name": "invitedUserDisplayName",
    "inviteduserdisplayname": "invitedUserDisplayName",
    "redirecturl": "inviteRedirectUrl",
    "inviteredirecturl": "inviteRedirectUrl",
    "redirectiontourl": "inviteRedirectUrl",
    "message": "customizedMessageBody",
    "custommessage": "customizedMessageBody",
    "customizedmessagebody": "customizedMessageBody",
    "language": "messageLanguage",
    "messagelanguage": "messageLanguage",
}


@dataclass(frozen=True)
class RowResult:
    index: int
    email: str
    status: int  # 201, or the HTTP status of the error
    result: InvitationResult | None = None
    code: str | None = None
    error: str | None = None


def _status(exc: DomainError) -> int:
    return 404 if isinstance(exc, NotFoundError) else 403 if isinstance(exc, ForbiddenError) else 400


def invite_rows(
    service: InvitationService, rows: Iterable[Any], on_row: Callable[[RowResult], None] | None = None
) -> list[RowResult]:
    out: list[RowResult] = []
    for index, row in enumerate(rows):
        email = str(row.get("invitedUserEmailAddress", "")) if isinstance(row, dict) else ""
        try:
            result = service.invite(parse_invitation(row))
        except DomainError as exc:
            item = RowResult(index, email, _status(exc), code=exc.code, error=exc.message)
        else:
            item = RowResult(index, email, 201, result=result)
        out.append(item)
        if on_row:
            on_row(item)
    return out


def read_csv(path: Path, defaults: dict[str, Any]) -> list[dict[str, Any]]:
    """Rows of a CSV file as invitation bodies. Recognized columns: email, display name, redirect URL, message,
    language (several spellings, including the Entra portal's bulk-invite template); others are ignored."""
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        columns = {name: _COLUMNS.get(re.sub(r"[^a-z]", "", name.lower())) for name in reader.fieldnames or []}
        if "invitedUserEmailAddress" not in columns.values():
            raise ValueError("the CSV file needs an 'email' column")
        rows = []
        for raw in reader:
            body: dict[str, Any] = dict(defaults)
            info: dict[str, Any] = dict(body.pop("invitedUserMessageInfo", {}) or {})
            for name, value in raw.items():
                prop = columns.get(name) if name is not None else None
                if prop is None or value is None or not value.strip():
                    continue
                if prop in ("customizedMessageBody", "messageLanguage"):
                    info[prop] = value.strip()
                else:
                    body[prop] = value.strip()
            if info:
                body["invitedUserMessageInfo"] = info
            rows.append(body)
        return rows
