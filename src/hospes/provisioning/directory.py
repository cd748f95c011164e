"""Cross-tenant synchronization into a tenant of this deployment: the ``Connector`` that writes users into the
target tenant through ``services.cross_tenant_users`` (the target's own transactions, change log and audit).

Target paths are Graph user property names. ``alternativeSecurityIds`` is the anchor (``5::`` and the source
object id, from ``AltSecIdFromNetId([netId])``), stored on the user and never changed. ``IsSoftDeleted`` is not a
stored value: leaving scope is a ``delete`` (soft), and a change of it to false on a matched user restores it.
``manager`` holds a source object id and is resolved to that manager's synchronized user (left unset while the
manager is not synchronized). ``userPrincipalName`` is read only on create, where it makes the guest UPN when the
user has no mail; the target's UPN is its own.

Matching: the anchor first; failing that, an existing B2B user of the target with the source user's mail that no
synchronization owns yet (linked, not duplicated; internal members are never matched).

Drift: the target tenant's change log is the change feed (``drift``); a position is
``log:<target tenant>:<sequence>:<horizon>``, refused once the log may have been pruned past it (as delta query's
tokens are) or when it names changes this database does not have (a restore).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from hospes.domain.changes import ObjectType
from hospes.domain.errors import ConflictError as DomainConflict
from hospes.domain.errors import DomainError, NotFoundError
from hospes.domain.schema import USER
from hospes.provisioning.connector import (
    LATEST,
    Among,
    Capabilities,
    Change,
    ConflictError,
    CredentialsError,
    DriftWindow,
    PermanentError,
    PositionExpiredError,
    TargetNotFoundError,
    TargetObject,
)
from hospes.provisioning.group_commit import committer_for
from hospes.services.cross_tenant_users import (
    MANAGER_ANCHOR,
    DeletedInTargetError,
    SyncedUsers,
    SyncRefusedError,
    sync_actor,
)
from hospes.storage import changelog
from hospes.storage.engine import read_sessions_of
from hospes.storage.tables import Tenant, User

ANCHOR = "alternativeSecurityIds"
ANCHOR_PREFIX = "5::"
SOFT_DELETED = "IsSoftDeleted"
MANAGER = "manager"
UPN = "userPrincipalName"
# The Graph user properties a synchronization may write.
WRITABLE = (
    "accountEnabled",
    "businessPhones",
    "companyName",
    "department",
    "displayName",
    "employeeId",
    "givenName",
    "jobTitle",
    "mail",
    "mobilePhone",
    "officeLocation",
    "preferredLanguage",
    "showInAddressList",
    "surname",
    "usageLocation",
    "userType",
)
_ATTR = {name: prop.attr for name in WRITABLE if (prop := USER.get(name)) is not None and prop.attr}
_PLAIN = "AzureActiveDirectory"
T = TypeVar("T")
DRIFT_BATCH = 5000  # change rows per read of the feed; the rest is read by the next one
HORIZON_SKEW = 3600.0  # a change row's time is its transaction's start: margin of the retention check


def _anchor_source(anchor: str) -> str:
    return anchor.removeprefix(ANCHOR_PREFIX)


class DirectoryConnector:
    name = "directory"

    def __init__(
        self, sessions: sessionmaker[Session], source_tenant: str, target_tenant: str, retention_days: int = 30
    ) -> None:
        self.sessions, self.source_tenant, self.target_tenant = sessions, source_tenant, target_tenant
        self.retention_seconds = retention_days * 86400.0
        self.reads = read_sessions_of(sessions)  # on SQLite a read must not take the write lock
        with self.reads() as session:
            source = session.get(Tenant, source_tenant)
            name = source.display_name if source is not None else source_tenant
        self.users = SyncedUsers(sessions, sync_actor(target_tenant, name), source_tenant=source_tenant)
        # Writes into the target are group-committed with the other jobs' writes into the same tenant.
        self.committer = committer_for(sessions, target_tenant)

    # -- errors ---------------------------------------------------------------------------------------------

    def _call(self, fn: Callable[[], T]) -> T:
        try:
            return self.committer.run(fn)
        except SyncRefusedError as exc:
            raise CredentialsError(exc.code, exc.message, 403, prefix="") from None
        except DeletedInTargetError as exc:
            raise PermanentError("ObjectDeletedInTarget", exc.message, 404, prefix=_PLAIN) from None
        except NotFoundError as exc:
            raise TargetNotFoundError("InvalidAnchor", exc.message, 404, prefix=_PLAIN) from None
        except DomainConflict as exc:
            raise ConflictError("Conflict", exc.message, 409, prefix=_PLAIN) from None
        except DomainError as exc:
            code = "Forbidden" if exc.code == "Authorization_RequestDenied" else "InvalidPropertyValue"
            raise PermanentError(code, exc.message, 400, prefix=_PLAIN) from None

    # -- the connector --------------------------------------------------------------------------------------

    def discover(self) -> Capabilities:
        return Capabilities(etag=False, filter=True, max_results=500, patch=True)

    def test(self) -> None:
        with self.reads() as session:
            if session.get(Tenant, self.target_tenant) is None:
                raise CredentialsError(
                    "InvalidCredentials",
                    f"Tenant '{self.target_tenant}' is not in this deployment. For a tenant of another deployment, "
                    "enter that deployment's address and the client credentials of an app registered in the tenant.",
                    404,
                    prefix=_PLAIN,
                )
        self._call(self.users.check)

    def _wire(self, session: Session, user: User, with_manager: bool = True) -> TargetObject:
        data: dict[str, Any] = {name: getattr(user, attr) for name, attr in _ATTR.items()}
        data[ANCHOR] = user.alt_sec_id
        data[SOFT_DELETED] = user.deleted_at is not None
        data["id"], data[UPN] = user.id, user.user_principal_name
        if user.manager_id and with_manager:
            manager = self.users.by_id(session, user.manager_id)
            data[MANAGER] = _anchor_source(manager.alt_sec_id) if manager and manager.alt_sec_id else None
        return TargetObject(user.id, None, data)

    def _kind(self, kind: str) -> None:
        if kind != "user":
            raise PermanentError("NotSupported", "Cross-tenant synchronization provisions users only", prefix=_PLAIN)

    def find(self, kind: str, path: str, value: Any) -> list[TargetObject]:
        self._kind(kind)
        if path != ANCHOR:
            raise PermanentError("SchemaInvalid", f"Users are matched on {ANCHOR} only", prefix=_PLAIN)
        anchor = str(value)
        with self.reads() as session:
            user = self.users.by_anchor(session, anchor)
            if user is None:
                mail = session.scalar(
                    select(User.mail).where(User.tenant_id == self.source_tenant, User.id == _anchor_source(anchor))
                )
                user = self.users.guest_for_mail(session, mail, _anchor_source(anchor)) if mail else None
            return [self._wire(session, user)] if user is not None else []

    def scan(self, kind: str, paths: list[str]) -> Iterator[TargetObject]:
        self._kind(kind)
        with self.reads() as session:
            found = [self._wire(session, user) for user in self.users.synchronized(session)]
        yield from found

    def get(self, kind: str, target_id: str, paths: list[str] | None = None) -> TargetObject | None:
        self._kind(kind)
        with self.reads() as session:
            user = self.users.by_id(session, target_id)
            return self._wire(session, user) if user is not None else None

    def resource(self, kind: str, values: dict[str, Any]) -> dict[str, Any]:
        return dict(values)

    def _values(self, values: dict[str, Any]) -> dict[str, Any]:
        """Graph values -> storage attributes (the anchor, soft deletion and UPN are handled by the caller)."""
        out: dict[str, Any] = {}
        for name, value in values.items():
            if name in (ANCHOR, SOFT_DELETED, UPN):
                continue
            if name == MANAGER:
                out[MANAGER_ANCHOR] = f"{ANCHOR_PREFIX}{value}" if value else None
                continue
            attr = _ATTR.get(name)
            if attr is None:
                raise PermanentError(
                    "InvalidPropertyValue", f"'{name}' is not a user property synchronization can write", prefix=_PLAIN
                )
            if name == "businessPhones":
                value = [] if value in (None, "") else value if isinstance(value, list) else [str(value)]
            elif name in ("accountEnabled", "showInAddressList") and isinstance(value, str):
                value = value.strip().lower() == "true"
            elif isinstance(value, list):
                value = value[0] if value else None
            out[attr] = value
        if out.get("account_enabled") is None:
            out.pop("account_enabled", None)
        return out

    def create(self, kind: str, resource: dict[str, Any]) -> TargetObject:
        self._kind(kind)
        anchor = resource.get(ANCHOR)
        if not anchor:
            raise PermanentError("InvalidPropertyValue", f"{ANCHOR} is required", prefix=_PLAIN)
        values = self._values(resource)
        values["user_principal_name"] = resource.get(UPN)
        source_id = _anchor_source(str(anchor))
        with self.reads() as session:
            reports = session.scalars(
                select(User.id).where(
                    User.tenant_id == self.source_tenant, User.manager_id == source_id, User.deleted_at.is_(None)
                )
            )
            anchors = [f"{ANCHOR_PREFIX}{report}" for report in reports]
        user = self._call(lambda: self.users.create(str(anchor), source_id, values, anchors))
        return TargetObject(user.id, None, {})

    def update(self, kind: str, target_id: str, changes: list[Change], version: str | None) -> str | None:
        self._kind(kind)
        by_path = {change.path: change.new for change in changes}
        anchor = by_path.get(ANCHOR)
        restore = SOFT_DELETED in by_path and not by_path[SOFT_DELETED]
        values = self._values(by_path)
        if values or anchor or restore:
            self._call(
                lambda: self.users.update(target_id, values, anchor=str(anchor) if anchor else None, restore=restore)
            )
        return None

    def delete(self, kind: str, target_id: str, version: str | None) -> None:
        self._kind(kind)
        self._call(lambda: self.users.soft_delete(target_id))

    def change_members(self, target_id: str, add: list[str], remove: list[str], version: str | None) -> str | None:
        raise PermanentError("NotSupported", "Cross-tenant synchronization provisions users only", prefix=_PLAIN)

    def members(self, target_id: str) -> list[str] | None:
        return None

    def schema_documents(self) -> dict[str, list[dict[str, Any]]] | None:
        return None  # the target's attributes are the Graph user's, known in advance

    def drift(self, kind: str, position: str | None, among: Among | None = None) -> DriftWindow:
        """Synchronized users of the target changed after ``position`` (their manager is not read: a reference,
        resolved by synchronization itself, is not drift). The log names the users before any is loaded, so only
        those ``among`` keeps are: in a mesh, most of a tenant's log is the other jobs' users."""
        self._kind(kind)
        kinds = [ObjectType.USER]
        now = time.time()
        with self.reads() as session:
            head = changelog.head(session, self.target_tenant, kinds)
            if position is None:
                live = [u for u in self.users.synchronized(session) if u.deleted_at is None]
                kept = set(among([u.id for u in live])) if among is not None else None
                objects = [self._wire(session, u, with_manager=False) for u in live if kept is None or u.id in kept]
                return DriftWindow(objects, [], self._position(head, now), full=True)
            if position == LATEST:
                return DriftWindow([], [], self._position(head, now))
            seq, horizon = self._parse(position, head, now)
            rows = changelog.after(session, self.target_tenant, kinds, seq, DRIFT_BATCH, upto=head)
            if len(rows) >= DRIFT_BATCH:  # cut: the rows after the last one read committed after it
                head, now = rows[-1].seq, rows[-1].at.timestamp()
            ids = sorted({row.object_id for row in rows})
            if among is not None and ids:
                ids = sorted(set(among(ids)) & set(ids))
            found: dict[str, User] = {}
            for i in range(0, len(ids), 500):
                chunk = select(User).where(User.tenant_id == self.target_tenant, User.id.in_(ids[i : i + 500]))
                found.update((user.id, user) for user in session.scalars(chunk))
            objects = [self._wire(session, u, with_manager=False) for u in found.values() if u.alt_sec_id is not None]
            gone = [i for i in ids if i not in found]
        return DriftWindow(objects, gone, self._position(head, max(now, horizon)))

    def _position(self, seq: int, horizon: float) -> str:
        return f"log:{self.target_tenant}:{seq}:{int(horizon)}"

    def _parse(self, position: str, head: int, now: float) -> tuple[int, float]:
        kind, tenant, seq, horizon = ([*position.split(":"), "", "", ""])[:4]
        if kind != "log" or tenant != self.target_tenant or not seq.isdigit() or not horizon.isdigit():
            raise PositionExpiredError("SyncStateNotFound", "the saved position is not one of this tenant's log")
        if float(horizon) < now - self.retention_seconds + HORIZON_SKEW:
            raise PositionExpiredError("SyncStateNotFound", "the change log may have been pruned past the position")
        if int(seq) > head:
            raise PositionExpiredError("SyncStateNotFound", "the position names changes this database does not have")
        return int(seq), float(horizon)

    def close(self) -> None:
        return None
