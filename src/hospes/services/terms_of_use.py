"""Terms of use: agreements (Graph ``/identityGovernance/termsOfUse/agreements``), their files, and users'
acceptances; what conditional access reads of them at a sign-in (``accepted_agreements``) and what the
acceptance page records (``record_answer``). Shapes and rules: ``hospes.domain.terms_of_use``."""

from __future__ import annotations

import base64
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from hospes.domain import terms_of_use as shape
from hospes.domain.errors import InvalidInputError, NotFoundError
from hospes.domain.ids import new_id
from hospes.services.base import Services
from hospes.storage.tables import User
from hospes.storage.tables_access import ConditionalAccessPolicy
from hospes.storage.tables_terms import Agreement, AgreementAcceptance, AgreementFile

MAX_AGREEMENTS = 30  # Entra's limit per tenant


def _stamp(value: datetime | None) -> str | None:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if value is not None else None


def _days(days: int | None) -> str | None:
    return f"P{days}D" if days else None


def file_wire(row: AgreementFile, *, with_data: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": row.id,
        "fileName": row.file_name,
        "displayName": row.display_name or row.file_name,
        "language": row.language,
        "isDefault": row.is_default,
        "isMajorVersion": row.is_major_version,
        "createdDateTime": _stamp(row.created_at),
        "fileData": {"data": base64.b64encode(row.data).decode() if with_data else None},
    }
    return out


def agreement_wire(row: Agreement) -> dict[str, Any]:
    return {
        "id": row.id,
        "displayName": row.display_name,
        "isViewingBeforeAcceptanceRequired": row.viewing_required,
        "isPerDeviceAcceptanceRequired": row.per_device,
        "userReacceptRequiredFrequency": _days(row.reaccept_days),
        "termsExpiration": row.expiration,
    }


def acceptance_wire(row: AgreementAcceptance) -> dict[str, Any]:
    return {
        "id": row.id,
        "agreementId": row.agreement_id,
        "agreementFileId": row.agreement_file_id,
        "userId": row.user_id,
        "userEmail": row.user_email,
        "userPrincipalName": row.user_principal_name,
        "userDisplayName": row.user_display_name,
        "state": row.state,
        "recordedDateTime": _stamp(row.recorded_at),
        "expirationDateTime": _stamp(row.expires_at),
        "deviceId": None,
        "deviceDisplayName": None,
        "deviceOSType": None,
        "deviceOSVersion": None,
    }


def _add_files(
    session: Session, agreement: Agreement, forms: Sequence[shape.FileForm], now: datetime
) -> list[AgreementFile]:
    has_default = any(f.is_default for f in forms) or bool(
        session.scalar(
            select(func.count()).where(AgreementFile.agreement_id == agreement.id, AgreementFile.is_default.is_(True))
        )
    )
    rows = []
    for index, form in enumerate(forms):
        row = AgreementFile(
            id=new_id(),
            tenant_id=agreement.tenant_id,
            agreement_id=agreement.id,
            file_name=form.file_name,
            display_name=form.display_name,
            language=form.language,
            is_default=form.is_default or (not has_default and index == 0),
            is_major_version=form.is_major_version,
            version=agreement.version,
            content_type=form.content_type,
            data=form.data,
            created_at=now,
        )
        session.add(row)
        rows.append(row)
    return rows


def files_of(session: Session, agreement_id: str) -> list[AgreementFile]:
    stmt = select(AgreementFile).where(AgreementFile.agreement_id == agreement_id)
    return list(session.scalars(stmt.order_by(AgreementFile.created_at, AgreementFile.id)))


class TermsOfUseService(Services):
    def _agreement(self, session: Session, agreement_id: str, *, lock: bool = False) -> Agreement:
        row = session.get(Agreement, agreement_id[:64], with_for_update=lock)
        if row is None or row.tenant_id != self.tenant_id:
            raise NotFoundError(agreement_id)
        return row

    def list_agreements(self) -> list[dict[str, Any]]:
        with self.read() as session:
            stmt = select(Agreement).where(Agreement.tenant_id == self.tenant_id)
            return [agreement_wire(r) for r in session.scalars(stmt.order_by(Agreement.display_name, Agreement.id))]

    def get_agreement(self, agreement_id: str) -> dict[str, Any]:
        with self.read() as session:
            return agreement_wire(self._agreement(session, agreement_id))

    def create_agreement(self, body: Any) -> dict[str, Any]:
        settings, files = shape.parse_agreement(body, creating=True)
        with self.write("Policy", "Add agreement") as op:
            count = op.session.scalar(select(func.count()).where(Agreement.tenant_id == self.tenant_id))
            if (count or 0) >= MAX_AGREEMENTS:
                raise InvalidInputError(f"A tenant has at most {MAX_AGREEMENTS} agreements.")
            row = Agreement(id=new_id(), tenant_id=self.tenant_id, version=1, created_at=op.now, **settings)
            op.session.add(row)
            op.session.flush()
            _add_files(op.session, row, files, op.now)
            op.target("Agreement", row.id, row.display_name)
            return agreement_wire(row)

    def update_agreement(self, agreement_id: str, body: Any) -> None:
        settings, _ = shape.parse_agreement(body, creating=False)
        with self.write("Policy", "Update agreement") as op:
            row = self._agreement(op.session, agreement_id, lock=True)
            for column, value in settings.items():
                setattr(row, column, value)
            row.modified_at = op.now
            op.details["modifiedProperties"] = sorted(k for k in body if k != "@odata.type")
            op.target("Agreement", row.id, row.display_name)

    def delete_agreement(self, agreement_id: str) -> None:
        with self.write("Policy", "Delete agreement") as op:
            row = self._agreement(op.session, agreement_id, lock=True)
            for policy in op.session.scalars(
                select(ConditionalAccessPolicy).where(ConditionalAccessPolicy.tenant_id == self.tenant_id)
            ):
                if row.id in ((policy.grant_controls or {}).get("termsOfUse") or []):
                    raise InvalidInputError(
                        f"The agreement is required by the conditional access policy '{policy.display_name}'; "
                        "remove it from the policy first."
                    )
            op.target("Agreement", row.id, row.display_name)
            op.session.delete(row)

    def list_files(self, agreement_id: str) -> list[dict[str, Any]]:
        with self.read() as session:
            self._agreement(session, agreement_id)
            return [file_wire(f) for f in files_of(session, agreement_id)]

    def get_file(self, agreement_id: str, file_id: str) -> dict[str, Any]:
        with self.read() as session:
            self._agreement(session, agreement_id)
            row = session.get(AgreementFile, file_id[:64])
            if row is None or row.agreement_id != agreement_id:
                raise NotFoundError(file_id)
            return file_wire(row, with_data=True)

    def add_file(self, agreement_id: str, body: Any) -> dict[str, Any]:
        """A file in another language; with ``isMajorVersion``, a new version everyone accepts again (the file
        may then replace the one of its language)."""
        form = shape.parse_file(body)
        with self.write("Policy", "Update agreement file") as op:
            row = self._agreement(op.session, agreement_id, lock=True)
            existing = files_of(op.session, row.id)
            if form.is_major_version:
                row.version += 1
                for old in existing:
                    if old.language == form.language:
                        if old.is_default:
                            form = shape.FileForm(**{**form.__dict__, "is_default": True})
                        op.session.delete(old)
                existing = [f for f in existing if f.language != form.language]
            shape.check_languages([form], [f.language for f in existing])
            if form.is_default:
                for old in existing:
                    old.is_default = False
            op.session.flush()
            [added] = _add_files(op.session, row, [form], op.now)
            row.modified_at = op.now
            op.details["version"] = row.version
            op.target("Agreement", row.id, row.display_name)
            return file_wire(added)

    def list_acceptances(self, agreement_id: str) -> list[dict[str, Any]]:
        return [acceptance_wire(r) for r in self.answers(agreement_id)]

    def answers(self, agreement_id: str) -> list[AgreementAcceptance]:
        """Every answer to the agreement, newest first (each user's answer to each version)."""
        with self.read() as session:
            self._agreement(session, agreement_id)
            stmt = select(AgreementAcceptance).where(AgreementAcceptance.agreement_id == agreement_id)
            rows = list(session.scalars(stmt.order_by(AgreementAcceptance.recorded_at.desc(), AgreementAcceptance.id)))
            session.expunge_all()
            return rows

    def overview(self) -> list[tuple[Agreement, list[str], int, int]]:
        """The portal's list: each agreement, its languages, how many acceptances of its current version hold
        and how many users declined it."""
        out = []
        with self.read() as session:
            stmt = select(Agreement).where(Agreement.tenant_id == self.tenant_id)
            for row in list(session.scalars(stmt.order_by(Agreement.display_name, Agreement.id))):
                languages = sorted(f.language for f in files_of(session, row.id))
                answers = session.execute(
                    select(AgreementAcceptance.state, func.count())
                    .where(AgreementAcceptance.agreement_id == row.id, AgreementAcceptance.version == row.version)
                    .group_by(AgreementAcceptance.state)
                )
                counts = {str(state): int(n) for state, n in answers}
                out.append((row, languages, counts.get("accepted", 0), counts.get("declined", 0)))
            session.expunge_all()
        return out

    def agreement_row(self, agreement_id: str) -> Agreement:
        with self.read() as session:
            row = self._agreement(session, agreement_id)
            session.expunge(row)
            return row

    def known_ids(self, session: Session, ids: Iterable[str]) -> set[str]:
        wanted = set(ids)
        if not wanted:
            return set()
        stmt = select(Agreement.id).where(Agreement.tenant_id == self.tenant_id, Agreement.id.in_(wanted))
        return set(session.scalars(stmt))


def accepted_agreements(
    session: Session, tenant_id: str, user_id: str, wanted: Iterable[str], now: datetime
) -> frozenset[str]:
    """Which of ``wanted`` the user has an acceptance of that holds now (current version, not expired)."""
    ids = set(wanted)
    if not ids:
        return frozenset()
    rows = session.execute(
        select(AgreementAcceptance.agreement_id, AgreementAcceptance.state, AgreementAcceptance.version,
               AgreementAcceptance.expires_at, Agreement.version)
        .join(Agreement, Agreement.id == AgreementAcceptance.agreement_id)
        .where(AgreementAcceptance.tenant_id == tenant_id, AgreementAcceptance.user_id == user_id,
               AgreementAcceptance.agreement_id.in_(ids))
    )  # fmt: skip
    return frozenset(a for a, state, version, ends, current in rows if shape.holds(state, version, current, ends, now))


def pending_agreements(
    sessions: sessionmaker[Session],
    tenant_id: str,
    user_id: str,
    ids: Iterable[str],
    now: datetime,
    languages: Sequence[str],
) -> list[tuple[Agreement, AgreementFile | None]]:
    """The agreements among ``ids`` (of this tenant) the user still has to accept, each with the file to show."""
    with sessions() as session:
        wanted = set(ids) - accepted_agreements(session, tenant_id, user_id, ids, now)
        if not wanted:
            return []
        stmt = select(Agreement).where(Agreement.tenant_id == tenant_id, Agreement.id.in_(wanted))
        out = []
        for row in session.scalars(stmt.order_by(Agreement.display_name, Agreement.id)):
            files = files_of(session, row.id)
            chosen = shape.pick_file(
                [{"language": f.language, "is_default": f.is_default, "row": f} for f in files], languages
            )
            out.append((row, chosen["row"] if chosen else None))
        for row, chosen in out:
            session.expunge(row)
            if chosen is not None:
                session.expunge(chosen)
        return out


def document(
    sessions: sessionmaker[Session], tenant_id: str, agreement_id: str, languages: Sequence[str]
) -> AgreementFile | None:
    """The file of an agreement in the reader's language (or its default)."""
    with sessions() as session:
        row = session.get(Agreement, agreement_id[:64])
        if row is None or row.tenant_id != tenant_id:
            return None
        files = files_of(session, row.id)
        chosen = shape.pick_file(
            [{"language": f.language, "is_default": f.is_default, "row": f} for f in files], languages
        )
        if chosen is None:
            return None
        found: AgreementFile = chosen["row"]
        session.expunge(found)
        return found


def record_answer(
    sessions: sessionmaker[Session],
    tenant_id: str,
    user: User,
    agreement_id: str,
    file_id: str | None,
    accepted: bool,
    now: datetime,
) -> None:
    """The user's answer to the current version of an agreement (a later answer to the same version replaces it)."""
    for _attempt in range(2):  # a concurrent first answer of the same version: the retry updates it
        try:
            with sessions.begin() as session:
                agreement = session.get(Agreement, agreement_id)
                if agreement is None or agreement.tenant_id != tenant_id:
                    raise NotFoundError(agreement_id)
                row = session.scalar(
                    select(AgreementAcceptance).where(
                        AgreementAcceptance.agreement_id == agreement.id,
                        AgreementAcceptance.user_id == user.id,
                        AgreementAcceptance.version == agreement.version,
                    )
                )
                if row is None:
                    row = AgreementAcceptance(
                        id=new_id(), tenant_id=tenant_id, agreement_id=agreement.id, user_id=user.id,
                        version=agreement.version,
                    )  # fmt: skip
                    session.add(row)
                row.agreement_file_id = file_id
                row.user_email, row.user_principal_name = user.mail, user.user_principal_name
                row.user_display_name = user.display_name
                row.state = "accepted" if accepted else "declined"
                row.recorded_at = now
                row.expires_at = (
                    shape.expires_at(now, agreement.reaccept_days, agreement.expiration) if accepted else None
                )
            return
        except IntegrityError:
            continue
