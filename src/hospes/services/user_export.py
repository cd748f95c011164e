"""The Users screen's "Download users": a CSV file with the columns of Entra's own download, in its order, of the
users the screen's search and filter show. Columns Hospes does not keep (addresses, age group, ...) are present
and empty, so a file made for Entra's download is read the same way."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Any

from sqlalchemy import select

from hospes.services.user_views import UserQueries
from hospes.storage.tables import User

COLUMNS = (
    "userPrincipalName",
    "displayName",
    "surname",
    "mail",
    "givenName",
    "objectId",
    "userType",
    "jobTitle",
    "department",
    "accountEnabled",
    "usageLocation",
    "streetAddress",
    "state",
    "country",
    "officeLocation",
    "city",
    "postalCode",
    "telephoneNumber",
    "mobilePhone",
    "alternateEmailAddress",
    "ageGroup",
    "consentProvidedForMinor",
    "legalAgeGroupClassification",
    "companyName",
    "creationType",
    "directorySynced",
    "invitationState",
    "identityIssuer",
    "createdDateTime",
)
CHUNK = 500


def cell(value: Any) -> Any:
    """Spreadsheets run a cell starting with one of these as a formula; names and titles are typed by people."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def row_of(user: User) -> list[Any]:
    issuer = next((i.get("issuer") for i in user.identities or [] if isinstance(i, dict) and i.get("issuer")), "")
    values: dict[str, Any] = {
        "userPrincipalName": user.user_principal_name,
        "displayName": user.display_name,
        "surname": user.surname,
        "mail": user.mail,
        "givenName": user.given_name,
        "objectId": user.id,
        "userType": user.user_type,
        "jobTitle": user.job_title,
        "department": user.department,
        "accountEnabled": "True" if user.account_enabled else "False",
        "usageLocation": user.usage_location,
        "officeLocation": user.office_location,
        "telephoneNumber": (user.business_phones or [""])[0],
        "mobilePhone": user.mobile_phone,
        "alternateEmailAddress": ";".join(user.other_mails or []),
        "companyName": user.company_name,
        "creationType": user.creation_type,
        "directorySynced": "",
        "invitationState": user.external_user_state,
        "identityIssuer": issuer,
        "createdDateTime": user.created_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    return [cell(values.get(column) or "") for column in COLUMNS]


class UserExport(UserQueries):
    def csv_chunks(self, *, search: str = "", kind: str = "all") -> Iterator[str]:
        """The file in pieces (a header, then up to ``CHUNK`` users each), read in id order in short read
        transactions, so a large directory is never held in memory nor one long read."""
        conditions = self.user_conditions(search, kind)
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(COLUMNS)
        yield "\ufeff" + out.getvalue()  # the BOM makes Excel read the file as UTF-8
        last = ""
        while True:
            with self.read() as session:
                rows = list(
                    session.scalars(select(User).where(*conditions, User.id > last).order_by(User.id).limit(CHUNK))
                )
            if not rows:
                return
            out = io.StringIO()
            writer = csv.writer(out, lineterminator="\r\n")
            for user in rows:
                writer.writerow(row_of(user))
            yield out.getvalue()
            last = rows[-1].id
