"""The tenant's global address list: the people search of My Apps.

Who searches: signed-in members of the tenant (``userType`` Member, synchronized members from the other tenants
of a conglomerate included); a guest never does. Whom they find, in this tenant's directory only: enabled users
that are members (internal, or synchronized in by cross-tenant synchronization, whose mapping sets
``showInAddressList`` true) unless ``showInAddressList`` is false, and guests only when ``showInAddressList`` is
true (hidden by default, as in Entra). A word of the query matches the start of a word of the name, given name,
surname, mail, job title, department or company; every word must match.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.orm import Session, sessionmaker

from hospes.storage.tables import User

MAX_RESULTS = 50
MAX_QUERY = 100
MAX_WORDS = 5
_FIELDS = (
    User.display_name,
    User.given_name,
    User.surname,
    User.mail,
    User.job_title,
    User.department,
    User.company_name,
)


@dataclass(frozen=True)
class Person:
    id: str
    name: str
    mail: str | None
    job_title: str | None
    department: str | None
    company: str | None
    phone: str | None
    mobile: str | None
    synchronized: bool  # came from another tenant by cross-tenant synchronization


def listed() -> ColumnElement[bool]:
    """The address list's visibility rule as SQL: members unless hidden, guests only when shown."""
    return and_(
        User.deleted_at.is_(None),
        User.account_enabled.is_(True),
        or_(
            and_(User.user_type == "Member", User.show_in_address_list.is_not(False)),
            and_(User.user_type == "Guest", User.show_in_address_list.is_(True)),
        ),
    )


def may_search(user: User) -> bool:
    return user.user_type == "Member" and user.deleted_at is None and bool(user.account_enabled)


def _word(text: str) -> ColumnElement[bool]:
    escaped = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    clauses = []
    for column in _FIELDS:
        lowered = func.lower(column)
        clauses += [lowered.like(f"{escaped}%", escape="\\"), lowered.like(f"% {escaped}%", escape="\\")]
    return or_(*clauses)


class AddressList:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions

    def may_search(self, tenant_id: str, user_id: str) -> bool:
        with self.sessions() as session:
            user = session.get(User, user_id)
            return user is not None and user.tenant_id == tenant_id and may_search(user)

    def search(self, tenant_id: str, user_id: str, query: str) -> tuple[list[Person], bool]:
        """People of the tenant matching ``query`` (everyone listed when empty), by name; and whether there were
        more than shown. Nothing for a caller who may not search."""
        words = query.strip()[:MAX_QUERY].split()[:MAX_WORDS]
        with self.sessions() as session:
            viewer = session.get(User, user_id)
            if viewer is None or viewer.tenant_id != tenant_id or not may_search(viewer):
                return [], False
            stmt = select(User).where(User.tenant_id == tenant_id, listed(), *(_word(w) for w in words))
            rows = list(session.scalars(stmt.order_by(User.display_name, User.id).limit(MAX_RESULTS + 1)))
        people = [
            Person(
                id=row.id,
                name=row.display_name or row.user_principal_name,
                mail=row.mail,
                job_title=row.job_title,
                department=row.department,
                company=row.company_name,
                phone=next(iter(row.business_phones or []), None),
                mobile=row.mobile_phone,
                synchronized=row.alt_sec_id is not None,
            )
            for row in rows[:MAX_RESULTS]
        ]
        return people, len(rows) > MAX_RESULTS
