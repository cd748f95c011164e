"""The one reader of the change log (``Write.change`` is its one writer).

Readers keep a sequence position and read what follows it. Within a tenant, sequence order equals commit order
(the writers serialize per tenant), so the rows a reader sees always form a prefix of the final sequence, with
one catch: each statement is its own snapshot (READ COMMITTED on PostgreSQL). Rows read in several statements,
one per object type so that each walks the ``(tenant_id, object_type, seq)`` index, can come from different
prefixes: a user change committing between the user and the group statement would be missing from a result
that still holds later group changes, and a reader moving its position to the last row read would step over
it. Hence the window: read ``head`` once, then cap every read at it (``upto``). Every row up to a committed
head is committed too, so all statements see the same rows.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

from sqlalchemy import func, select, union_all
from sqlalchemy.orm import Session

from hospes.domain.changes import ChangeRecord, ChangeType, ObjectType
from hospes.storage.tables import ChangeLog

_OBJECT_TYPES = {t.value: t for t in ObjectType}
_CHANGE_TYPES = {t.value: t for t in ChangeType}
_COLUMNS = (
    ChangeLog.seq,
    ChangeLog.object_type,
    ChangeLog.object_id,
    ChangeLog.change_type,
    ChangeLog.properties,
    ChangeLog.related_id,
    ChangeLog.related_type,
    ChangeLog.at,
)


def head(session: Session, tenant_id: str | None, kinds: Collection[ObjectType] | None = None) -> int:
    """The last committed sequence number of a tenant (every tenant: ``None``), or of some of its object types
    (one index lookup per type, where the whole tenant's maximum has to scan); 0 for an empty log."""
    where: list[Any] = [] if tenant_id is None else [ChangeLog.tenant_id == tenant_id]
    if kinds is None:
        stmt = select(func.max(ChangeLog.seq)).where(*where)
    else:
        arms = [select(func.max(ChangeLog.seq).label("seq")).where(*where, ChangeLog.object_type == k) for k in kinds]
        if len(arms) == 1:
            stmt = arms[0]
        else:
            per_kind = union_all(*arms).subquery()
            stmt = select(func.max(per_kind.c.seq))
    return int(session.scalar(stmt) or 0)


def after(
    session: Session,
    tenant_id: str,
    kinds: Sequence[ObjectType],
    seq: int,
    limit: int,
    *,
    upto: int | None,
    ids: Collection[str] | None = None,
) -> list[ChangeRecord]:
    """The changes of ``kinds`` with ``seq < sequence <= upto`` (of the objects ``ids`` only, if given), in
    sequence order: at most ``limit`` per kind, cut so that the result is a complete prefix of the kinds' merged
    stream (a reader may move its position to the last row returned).

    ``upto`` is a ``head`` read before; ``None`` (no cap) only for one kind, whose single statement is its own
    consistent window.
    """
    if upto is None and len(kinds) > 1:
        raise ValueError("reading several object types needs a common cap (upto)")
    per_kind: list[list[ChangeRecord]] = []
    for kind in kinds:
        stmt = select(*_COLUMNS).where(
            ChangeLog.tenant_id == tenant_id, ChangeLog.object_type == kind, ChangeLog.seq > seq
        )
        if upto is not None:
            stmt = stmt.where(ChangeLog.seq <= upto)
        if ids is not None:
            stmt = stmt.where(ChangeLog.object_id.in_(ids))
        rows = session.execute(stmt.order_by(ChangeLog.seq).limit(limit))
        per_kind.append([_record(tenant_id, row) for row in rows])
    if len(per_kind) == 1:
        return per_kind[0]
    # A kind that filled its limit may have more rows right after its last one: stop the others there.
    full = [records[-1].seq for records in per_kind if len(records) == limit]
    cutoff = min(full, default=None)
    merged = sorted((r for records in per_kind for r in records), key=lambda r: r.seq)
    return [r for r in merged if cutoff is None or r.seq <= cutoff]


def _record(tenant_id: str, row: Any) -> ChangeRecord:
    return ChangeRecord(
        seq=row.seq,
        tenant_id=tenant_id,
        object_type=_OBJECT_TYPES[row.object_type],
        object_id=row.object_id,
        change_type=_CHANGE_TYPES[row.change_type],
        properties=tuple(row.properties or ()),
        related_id=row.related_id,
        related_type=row.related_type,
        at=row.at,
    )
