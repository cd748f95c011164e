"""``storage.changelog``: heads, and windows after a position by object type, limit, cap and ids."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import insert
from sqlalchemy.orm import Session, sessionmaker

from hospes.domain.changes import ChangeRecord, ChangeType, ObjectType
from hospes.domain.clock import utcnow
from hospes.storage import changelog
from hospes.storage.tables import ChangeLog

USER, GROUP = ObjectType.USER, ObjectType.GROUP


def _log(sessions: sessionmaker[Session], tenant_id: str, rows: list[tuple[ObjectType, str]]) -> list[int]:
    """Append (object type, object id) changes; their sequence numbers."""
    seqs = []
    with sessions.begin() as session:
        for kind, object_id in rows:
            change = ChangeType.MEMBER_ADDED if kind == GROUP else ChangeType.UPDATED
            seqs.append(
                session.execute(
                    insert(ChangeLog)
                    .values(
                        tenant_id=tenant_id,
                        object_type=kind,
                        object_id=object_id,
                        change_type=change,
                        properties=["a", "b"] if kind == USER else ["members"],
                        related_id="m1" if kind == GROUP else None,
                        related_type="user" if kind == GROUP else None,
                        at=utcnow(),
                    )
                    .returning(ChangeLog.seq)
                ).scalar_one()
            )
    return seqs


def _seqs(records: list[ChangeRecord]) -> list[int]:
    return [r.seq for r in records]


def test_head_and_after(sessions: sessionmaker[Session]) -> None:
    tenant, other = str(uuid.uuid4()), str(uuid.uuid4())
    with sessions() as session:
        assert changelog.head(session, tenant) == 0
        assert changelog.head(session, tenant, [USER, GROUP]) == 0
    rows = [(USER, "u1"), (GROUP, "g1"), (USER, "u2"), (USER, "u1"), (GROUP, "g2")]
    u1, g1, u2, u3, g2 = _log(sessions, tenant, rows)
    (foreign,) = _log(sessions, other, [(USER, "u1")])

    with sessions() as session:
        assert changelog.head(session, tenant) == g2
        assert changelog.head(session, tenant, [USER]) == u3
        assert changelog.head(session, tenant, [USER, GROUP]) == g2
        assert changelog.head(session, None) == foreign

        both = [USER, GROUP]
        records = changelog.after(session, tenant, both, 0, 10, upto=g2)
        assert _seqs(records) == [u1, g1, u2, u3, g2]
        first, second = records[0], records[1]
        assert first == ChangeRecord(
            u1, tenant, USER, "u1", ChangeType.UPDATED, ("a", "b"), None, None, first.at
        )
        assert (second.object_type, second.change_type, second.related_id, second.related_type) == (
            GROUP,
            ChangeType.MEMBER_ADDED,
            "m1",
            "user",
        )
        # After a position, and capped: rows past ``upto`` are left for the next read.
        assert _seqs(changelog.after(session, tenant, both, g1, 10, upto=u3)) == [u2, u3]
        # One kind only.
        assert _seqs(changelog.after(session, tenant, [GROUP], 0, 10, upto=None)) == [g1, g2]
        # Limit per kind, cut to a complete prefix: users stop at u2, so g2 (after it) waits.
        assert _seqs(changelog.after(session, tenant, both, 0, 2, upto=g2)) == [u1, g1, u2]
        assert _seqs(changelog.after(session, tenant, [USER], 0, 2, upto=None)) == [u1, u2]
        # Of some objects only.
        assert _seqs(changelog.after(session, tenant, both, 0, 10, upto=g2, ids=["u1", "g2"])) == [u1, u3, g2]
        # Another tenant's rows never show.
        assert _seqs(changelog.after(session, other, both, 0, 10, upto=foreign)) == [foreign]
        with pytest.raises(ValueError):
            changelog.after(session, tenant, both, 0, 10, upto=None)
