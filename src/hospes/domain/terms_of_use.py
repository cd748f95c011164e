"""Terms of use as Graph shapes them (``agreement``, ``agreementFile``, ``agreementAcceptance``): what a body may
say, which document a reader sees, and how long an acceptance holds. No I/O.

Rules:

* An agreement has a ``displayName`` and at least one file; exactly one file is the default (the first when none
  says so). A file is a PDF (it starts with ``%PDF-``) or UTF-8 plain text, at most 2 MB, in one language (a BCP 47
  tag such as ``en``, ``fr-CA``); one file per language.
* ``userReacceptRequiredFrequency`` and ``termsExpiration.frequency`` are ISO 8601 durations in days (``P90D``) or
  weeks (``P2W``). An acceptance ends ``userReacceptRequiredFrequency`` after it was given, and at every
  ``termsExpiration.startDateTime + n x frequency``.
* A file added with ``isMajorVersion`` makes a new version of the agreement: acceptances of older versions no
  longer count.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from hospes.domain.errors import InvalidInputError

MAX_FILE_BYTES = 2 * 1024 * 1024
MAX_FILES = 20
PDF, TEXT = "application/pdf", "text/plain"
_LANGUAGE = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8}){0,2}$")
_DURATION = re.compile(r"^P(\d{1,4})([DW])$")
_AGREEMENT = (
    "displayName",
    "isViewingBeforeAcceptanceRequired",
    "isPerDeviceAcceptanceRequired",
    "userReacceptRequiredFrequency",
    "termsExpiration",
    "files",
)
_FILE = ("fileName", "displayName", "language", "isDefault", "isMajorVersion", "fileData")
READ_ONLY = ("id", "file", "acceptances")


@dataclass(frozen=True)
class FileForm:
    file_name: str
    display_name: str | None
    language: str
    is_default: bool
    is_major_version: bool
    content_type: str
    data: bytes


def _text(value: Any, name: str, *, limit: int = 256, required: bool = True) -> str | None:
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip() or len(value) > limit:
        raise InvalidInputError(f"'{name}' must be a non-empty string of at most {limit} characters.", target=name)
    return value.strip()


def _flag(value: Any, name: str) -> bool:
    if value is None:
        return False
    if not isinstance(value, bool):
        raise InvalidInputError(f"'{name}' must be true or false.", target=name)
    return value


def duration_days(value: Any, name: str) -> int | None:
    """An ISO 8601 duration in days or weeks, as days; None when unset."""
    if value is None:
        return None
    match = _DURATION.match(value) if isinstance(value, str) else None
    days = (int(match.group(1)) * (7 if match.group(2) == "W" else 1)) if match else 0
    if not match or days < 1:
        raise InvalidInputError(f"'{name}' must be a duration in days or weeks, such as P90D.", target=name)
    return days


def _stamp(value: Any, name: str) -> datetime:
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            parsed = None
        if parsed is not None:
            return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    raise InvalidInputError(f"'{name}' must be a date and time such as 2026-12-01T00:00:00Z.", target=name)


def parse_expiration(value: Any) -> dict[str, Any] | None:
    """``termsExpiration`` normalized: ``{"startDateTime": ISO, "frequency": "P<n>D"}``, or None."""
    if value is None:
        return None
    if not isinstance(value, dict) or set(value) - {"startDateTime", "frequency", "@odata.type"}:
        raise InvalidInputError("'termsExpiration' takes startDateTime and frequency.", target="termsExpiration")
    start = _stamp(value.get("startDateTime"), "termsExpiration.startDateTime")
    days = duration_days(value.get("frequency"), "termsExpiration.frequency")
    if days is None:
        raise InvalidInputError("'termsExpiration.frequency' is required.", target="termsExpiration.frequency")
    return {"startDateTime": start.strftime("%Y-%m-%dT%H:%M:%SZ"), "frequency": f"P{days}D"}


def parse_file(body: Any, where: str = "file") -> FileForm:
    if not isinstance(body, dict):
        raise InvalidInputError(f"'{where}' must be an object.", target=where)
    for key in body:
        if key not in _FILE and key != "@odata.type":
            raise InvalidInputError(f"Property '{key}' does not exist on agreementFile.", target=f"{where}.{key}")
    name = _text(body.get("fileName"), f"{where}.fileName")
    language = body.get("language")
    if not isinstance(language, str) or not _LANGUAGE.match(language):
        raise InvalidInputError(f"'{where}.language' must be a language tag such as en or fr-CA.", target=where)
    data_field = body.get("fileData")
    encoded = data_field.get("data") if isinstance(data_field, dict) else None
    if not isinstance(encoded, str) or len(encoded) > MAX_FILE_BYTES * 4 // 3 + 8:
        raise InvalidInputError(
            f"'{where}.fileData.data' must hold the document, base64-encoded, at most 2 MB.", target=where
        )
    try:
        data = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInputError(f"'{where}.fileData.data' is not valid base64.", target=where) from None
    if not data or len(data) > MAX_FILE_BYTES:
        raise InvalidInputError(f"'{where}.fileData.data' must hold 1 byte to 2 MB.", target=where)
    if data.startswith(b"%PDF-"):
        kind = PDF
    else:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidInputError(f"'{where}' must be a PDF or UTF-8 text.", target=where) from None
        if "\x00" in text:
            raise InvalidInputError(f"'{where}' must be a PDF or UTF-8 text.", target=where)
        kind = TEXT
    assert name is not None
    return FileForm(
        file_name=name,
        display_name=_text(body.get("displayName"), f"{where}.displayName", required=False),
        language=language.lower(),
        is_default=_flag(body.get("isDefault"), f"{where}.isDefault"),
        is_major_version=_flag(body.get("isMajorVersion"), f"{where}.isMajorVersion"),
        content_type=kind,
        data=data,
    )


def parse_agreement(body: Any, *, creating: bool) -> tuple[dict[str, Any], list[FileForm]]:
    """The agreement's settings (only those the body names when updating) and, on create, its files."""
    if not isinstance(body, dict):
        raise InvalidInputError("The request body must be a JSON object.")
    for key in body:
        if key in READ_ONLY:
            raise InvalidInputError(f"Property '{key}' is read-only.", target=key)
        if key not in _AGREEMENT and key != "@odata.type":
            raise InvalidInputError(f"Property '{key}' does not exist on agreement.", target=key)
    if not creating and "files" in body:
        raise InvalidInputError("Add files with POST .../agreements/{id}/files.", target="files")
    settings: dict[str, Any] = {}
    if creating or "displayName" in body:
        settings["display_name"] = _text(body.get("displayName"), "displayName")
    for key, column in (
        ("isViewingBeforeAcceptanceRequired", "viewing_required"),
        ("isPerDeviceAcceptanceRequired", "per_device"),
    ):
        if creating or key in body:
            settings[column] = _flag(body.get(key), key)
    if creating or "userReacceptRequiredFrequency" in body:
        settings["reaccept_days"] = duration_days(
            body.get("userReacceptRequiredFrequency"), "userReacceptRequiredFrequency"
        )
    if creating or "termsExpiration" in body:
        settings["expiration"] = parse_expiration(body.get("termsExpiration"))
    files: list[FileForm] = []
    if creating:
        listed = body.get("files")
        if not isinstance(listed, list) or not 1 <= len(listed) <= MAX_FILES:
            raise InvalidInputError(f"An agreement needs 1 to {MAX_FILES} files.", target="files")
        files = [parse_file(item, f"files[{i}]") for i, item in enumerate(listed)]
        check_languages(files)
    return settings, files


def check_languages(files: Sequence[FileForm], existing: Iterable[str] = ()) -> None:
    seen = set(existing)
    for form in files:
        if form.language in seen:
            raise InvalidInputError(f"The agreement already has a file in '{form.language}'.", target="language")
        seen.add(form.language)
    if sum(1 for f in files if f.is_default) > 1:
        raise InvalidInputError("Only one file can be the default.", target="isDefault")


def pick_file(files: Sequence[Mapping[str, Any]], languages: Sequence[str]) -> Mapping[str, Any] | None:
    """The file a reader sees: the first of ``languages`` (most preferred first; ``fr-ca`` also matches a ``fr``
    file) the agreement has, else its default file."""
    by_language = {str(f["language"]).lower(): f for f in files}
    for wanted in languages:
        wanted = wanted.lower()
        for candidate in (wanted, wanted.split("-")[0]):
            if candidate in by_language:
                return by_language[candidate]
    return next((f for f in files if f["is_default"]), files[0] if files else None)


def expires_at(recorded: datetime, reaccept_days: int | None, expiration: Mapping[str, Any] | None) -> datetime | None:
    """When an acceptance given at ``recorded`` stops counting (None: never)."""
    ends = []
    if reaccept_days:
        ends.append(recorded + timedelta(days=reaccept_days))
    if expiration:
        start = _stamp(expiration["startDateTime"], "termsExpiration.startDateTime")
        step = timedelta(days=duration_days(expiration["frequency"], "termsExpiration.frequency") or 1)
        if recorded < start:
            ends.append(start)
        else:
            periods = (recorded - start) // step
            ends.append(start + (periods + 1) * step)
    return min(ends) if ends else None


def holds(state: str, version: int, current_version: int, expires: datetime | None, now: datetime) -> bool:
    """Whether an acceptance counts now."""
    return state == "accepted" and version == current_version and (expires is None or now < expires)
