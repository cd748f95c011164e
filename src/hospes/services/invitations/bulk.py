"""Rows of invitations, invited while the caller waits: the rows of ``POST /v1.0/invitations/bulk`` and of
``hospes invite --csv`` (``read_csv``), and one row at a time for the portal's durable jobs (``jobs_worker``).
Each row is its own invitation and fails on its own with a clear reason. Rows go through ``batch.invite_many`` in
chunks, so new guests share transactions (group commit) while every row is still decided and audited on its
own."""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hospes.domain.errors import DomainError, ForbiddenError, NotFoundError
from hospes.domain.invitation import InvitationRequest, parse_invitation
from hospes.services.invitations.batch import invite_many
from hospes.services.invitations.service import AlsoHook, InvitationResult, InvitationService

# CSV header (normalized: lower case, letters only; the bracketed name when there is one) -> invitation property.
_COLUMNS = {
    "email": "invitedUserEmailAddress",
    "emailaddress": "invitedUserEmailAddress",
    "emailaddresstoinvite": "invitedUserEmailAddress",
    "inviteduseremailaddress": "invitedUserEmailAddress",
    "inviteeemail": "invitedUserEmailAddress",
    "displayname": "invitedUserDisplayName",
    "name": "invitedUserDisplayName",
    "inviteduserdisplayname": "invitedUserDisplayName",
    "redirecturl": "inviteRedirectUrl",
    "inviteredirecturl": "inviteRedirectUrl",
    "redirectiontourl": "inviteRedirectUrl",
    "redirectionurl": "inviteRedirectUrl",
    "sendemail": "sendInvitationMessage",
    "sendinvitationmessage": "sendInvitationMessage",
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
    """Rows of a CSV file as invitation bodies (see ``parse_csv``)."""
    return parse_csv(path.read_bytes(), defaults).rows


@dataclass(frozen=True)
class CsvFormat:
    """What a file turned out to be, so a person can be told: encoding, column separator, and whether it is the
    Entra portal's bulk-invite template (its ``version:v1.0`` first line and bracketed column names)."""

    encoding: str  # one of ENCODINGS
    delimiter: str  # "," ";" or "\t"
    entra_template: bool


ENCODINGS = ("utf-8", "utf-8-bom", "utf-16", "latin-1")


class CsvFileError(ValueError):
    """A file that cannot be read as rows: ``problem`` is "workbook", "binary", "syntax" or "no-email-column";
    ``found`` what was read before the problem, if anything."""

    def __init__(self, problem: str, message: str, found: CsvFormat | None = None) -> None:
        super().__init__(message)
        self.problem, self.found = problem, found


@dataclass(frozen=True)
class CsvRows:
    rows: list[dict[str, Any]]
    found: CsvFormat


# How spreadsheets write a boolean cell (Excel translates TRUE/FALSE into the sheet's language).
_TRUE = {"true", "1", "yes", "y", "vrai", "oui", "wahr", "ja", "verdadero", "si", "sí"}
_FALSE = {"false", "0", "no", "n", "faux", "non", "falsch", "nein", "falso"}
_VERSION_LINE = re.compile(r"\s*version\s*:\s*v\d+(?:\.\d+)*[\s,;\t]*", re.IGNORECASE)
_BRACKETED = re.compile(r"\[([A-Za-z]+)\]")


def _decode(data: bytes) -> tuple[str, str]:
    if data.startswith(codecs.BOM_UTF8):
        return data[len(codecs.BOM_UTF8) :].decode("utf-8"), "utf-8-bom"
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return data.decode("utf-16"), "utf-16"
        except UnicodeDecodeError:
            raise CsvFileError("binary", "the file starts like UTF-16 text but is not") from None
    if data.startswith((b"PK\x03\x04", b"\xd0\xcf\x11\xe0")):
        raise CsvFileError("workbook", "this is a spreadsheet workbook, not a CSV file")
    if b"\x00" in data:
        raise CsvFileError("binary", "this is not a text file (or UTF-16 without a byte order mark)")
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:  # Excel's "CSV" in Western Europe is Windows-1252, Latin-1 with printable characters in 0x80-0x9F
        return data.decode("cp1252"), "latin-1"
    except UnicodeDecodeError:
        return data.decode("latin-1"), "latin-1"


def _column(header: str) -> str | None:
    bracketed = _BRACKETED.search(header)
    name = bracketed.group(1) if bracketed else header
    return _COLUMNS.get(re.sub(r"[^a-z]", "", name.lower()))


def _flag(value: str) -> bool | str:
    lowered = value.lower()
    return True if lowered in _TRUE else False if lowered in _FALSE else value  # anything else: the row's error


def parse_csv(data: bytes, defaults: dict[str, Any]) -> CsvRows:
    """Rows of a CSV file as invitation bodies. Recognized columns: email, display name, redirect URL, send
    the email, message, language (several spellings, and the bracketed names of the Entra portal's bulk-invite
    template, whose ``version:v1.0`` line and example row are skipped); others are ignored. Reads UTF-8 with or
    without BOM, UTF-16 with BOM and Latin-1, separated by commas, semicolons (Excel in French or German) or
    tabs."""
    text, encoding = _decode(data)
    lines = text.splitlines(keepends=True)
    entra = bool(lines) and _VERSION_LINE.fullmatch(lines[0].rstrip("\r\n")) is not None
    if entra:
        lines = lines[1:]
    header_line = lines[0] if lines else ""
    delimiter = max((",", ";", "\t"), key=header_line.count) if header_line else ","
    found = CsvFormat(encoding, delimiter, entra)
    try:
        table = list(csv.reader(io.StringIO("".join(lines), newline=""), delimiter=delimiter))
    except csv.Error as exc:
        raise CsvFileError("syntax", f"the file is not valid CSV: {exc}", found) from None
    columns = [_column(name) for name in (table[0] if table else [])]
    if "invitedUserEmailAddress" not in columns:
        raise CsvFileError("no-email-column", "the CSV file needs an 'email' column", found)
    rows = []
    for raw in table[1:]:
        cells = [cell.strip() for cell in raw]
        if not any(cells) or (entra and cells[0].lower().startswith("example:")):
            continue  # Excel's empty lines (";;;"), the Entra template's example row
        body: dict[str, Any] = dict(defaults)
        info: dict[str, Any] = dict(body.pop("invitedUserMessageInfo", {}) or {})
        for prop, value in zip(columns, cells, strict=False):
            if prop is None or not value:
                continue
            if prop in ("customizedMessageBody", "messageLanguage"):
                info[prop] = value
            elif prop == "sendInvitationMessage":
                body[prop] = _flag(value)
            else:
                body[prop] = value
        if info:
            body["invitedUserMessageInfo"] = info
        rows.append(body)
    return CsvRows(rows, found)
