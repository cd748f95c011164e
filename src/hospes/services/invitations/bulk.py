"""Rows of invitations, invited while the caller waits: the rows of ``POST /v1.0/invitations/bulk`` and of
``hospes invite --csv`` (``read_csv``), and one row at a time for the portal's durable jobs (``jobs_worker``).
Each row is its own invitation and fails on its own with a clear reason. Rows go through ``batch.invite_many`` in
chunks, so new guests share transactions (group commit) while every row is still decided and audited on its
own."""

from __future__ import annotations

import csv
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hospes.domain.errors import DomainError, ForbiddenError, NotFoundError
from hospes.domain.invitation import InvitationRequest, parse_invitation
from hospes.services.invitations.batch import invite_many
from hospes.services.invitations.service import AlsoHook, InvitationResult, InvitationService

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


CHUNK = 50


def invite_rows(
    service: InvitationService,
    rows: Iterable[Any],
    on_row: Callable[[RowResult], None] | None = None,
    *,
    also: AlsoHook | None = None,
) -> list[RowResult]:
    """``on_row``: each row's result as it comes; ``also``: runs in each invitation's transaction."""
    out: list[RowResult] = []
    chunk: list[tuple[int, str, InvitationRequest]] = []

    def flush() -> None:
        outcomes = invite_many([(service, req) for _, _, req in chunk], also=also)
        for (index, email, _), outcome in zip(chunk, outcomes, strict=True):
            if isinstance(outcome, DomainError):
                _emit(RowResult(index, email, _status(outcome), code=outcome.code, error=outcome.message))
            elif isinstance(outcome, Exception):
                raise outcome
            else:
                _emit(RowResult(index, email, 201, result=outcome))
        chunk.clear()

    def _emit(item: RowResult) -> None:
        out.append(item)
        if on_row:
            on_row(item)

    for index, row in enumerate(rows):
        email = str(row.get("invitedUserEmailAddress", "")) if isinstance(row, dict) else ""
        try:
            chunk.append((index, email, parse_invitation(row)))
        except DomainError as exc:
            flush()  # results stay in row order
            _emit(RowResult(index, email, _status(exc), code=exc.code, error=exc.message))
        if len(chunk) >= CHUNK:
            flush()
    flush()
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
