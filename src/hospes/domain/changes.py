"""The change log's vocabulary: which objects change, how, and one change as readers see it.

The values are the strings stored in ``change_log``; a ``StrEnum`` member equals its value, so renaming a member
is free but changing a value orphans the rows already written.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class ObjectType(StrEnum):
    """Directory objects whose changes are logged."""

    USER = "user"
    GROUP = "group"
    # Entitlement management's transitions (``properties`` names the new state), beside the memberships they cause.
    ACCESS_PACKAGE_ASSIGNMENT = "accessPackageAssignment"
    ACCESS_PACKAGE_REQUEST = "accessPackageAssignmentRequest"


class ChangeType(StrEnum):
    CREATED = "created"
    UPDATED = "updated"  # ``properties`` names what changed
    DELETED = "deleted"  # soft delete: the object can be restored
    RESTORED = "restored"
    HARD_DELETED = "hard_deleted"
    MEMBER_ADDED = "member_added"  # on the group; ``related_id`` is the member
    MEMBER_REMOVED = "member_removed"


MEMBER_CHANGES = frozenset({ChangeType.MEMBER_ADDED, ChangeType.MEMBER_REMOVED})


@dataclass(frozen=True)
class ChangeRecord:
    """One committed change-log row."""

    seq: int  # commit order within a tenant
    tenant_id: str
    object_type: ObjectType
    object_id: str
    change_type: ChangeType
    properties: tuple[str, ...]  # Graph property names the change touched, sorted
    related_id: str | None  # the member of a membership change
    related_type: str | None  # its Graph type ("user", "group", "servicePrincipal")
    at: datetime  # start of the writing transaction
