"""What the engine needs from a target system. SCIM 2.0 is one connector (``scim.py``); cross-tenant
synchronization into a tenant of the same deployment is another (``directory.py``). The engine speaks in target
*paths* (``userName``, ``emails[type eq "work"].value``, ``urn:...:enterprise:2.0:User:department``; Graph property
names for a directory) and lets the connector decide the wire shape (``resource``)."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable


class ConnectorError(Exception):
    """A failed request. ``code`` follows the provisioning-log error codes (``SystemForCrossDomainIdentity
    Management<Reason>`` shortened to the reason), ``transient`` says whether trying again later may work."""

    transient = False
    prefix = "SystemForCrossDomainIdentityManagement"

    def __init__(
        self,
        code: str,
        message: str,
        status: int | None = None,
        retry_after: float | None = None,
        *,
        prefix: str | None = None,
    ):
        super().__init__(message)
        self.code, self.message, self.status, self.retry_after = code, message, status, retry_after
        if prefix is not None:
            self.prefix = prefix

    @property
    def error_code(self) -> str:
        """The code the provisioning logs and Test Connection show (SCIM codes carry the SCIM prefix)."""
        return f"{self.prefix}{self.code}"


class TransientError(ConnectorError):
    """429, 5xx, timeouts, dropped connections: retried (then escrowed), never a reason for quarantine by itself."""

    transient = True


class PermanentError(ConnectorError):
    """A 4xx the same request will get again: logged as a failure of this object and escrowed with backoff."""


class CredentialsError(PermanentError):
    """401/403 or a token that cannot be obtained: the whole job is quarantined at once."""


class ComplianceError(PermanentError):
    """The target does not behave like a SCIM service (e.g. 404 on a query): quarantine at once."""


class TargetNotFoundError(PermanentError):
    """The cached target id is gone (``InvalidAnchor``)."""


class ConflictError(PermanentError):
    """409 on create: the object exists; the engine re-matches and links it."""


class PositionExpiredError(PermanentError):
    """The target no longer honours a change-feed position (Graph's 410 ``syncStateNotFound``, a token it cannot
    read, a change log pruned past it): the reader starts over with a full window."""


@dataclass
class TargetObject:
    id: str
    version: str | None = None
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Change:
    """One attribute to change: ``old`` is what was last exported (None: absent), ``new`` None means clear it."""

    path: str
    old: Any
    new: Any


@dataclass
class Capabilities:
    etag: bool = False
    filter: bool = True
    max_results: int = 100
    patch: bool = True
    member_chunk: int = 100
    raw: dict[str, Any] = field(default_factory=dict)


class Connector(Protocol):
    name: str

    def discover(self) -> Capabilities: ...

    def test(self) -> None:
        """Raise CredentialsError / ComplianceError / TransientError when the target cannot be used."""

    def find(self, kind: str, path: str, value: Any) -> list[TargetObject]: ...

    def scan(self, kind: str, paths: list[str]) -> Iterator[TargetObject]:
        """Every object of ``kind`` with (at least) ``paths`` — used to match many objects at once."""
        ...

    def get(self, kind: str, target_id: str, paths: list[str] | None = None) -> TargetObject | None: ...

    def resource(self, kind: str, values: dict[str, Any]) -> dict[str, Any]:
        """The body of a create from target paths -> values."""
        ...

    def create(self, kind: str, resource: dict[str, Any]) -> TargetObject: ...

    def update(self, kind: str, target_id: str, changes: list[Change], version: str | None) -> str | None:
        """Apply ``changes``; returns the new version (ETag) when the target gives one."""
        ...

    def delete(self, kind: str, target_id: str, version: str | None) -> None: ...

    def change_members(self, target_id: str, add: list[str], remove: list[str], version: str | None) -> str | None:
        """Add and remove members (target ids) of a group, as deltas, chunked to the target's limits."""
        ...

    def members(self, target_id: str) -> list[str] | None:
        """Current member target ids of a group (drift repair); None when the target does not return them."""
        ...

    def schema_documents(self) -> dict[str, list[dict[str, Any]]] | None:
        """The target's own description of its resources (SCIM ``/Schemas`` and ``/ResourceTypes``):
        ``{"schemas": [...], "resourceTypes": [...]}``; None when it offers none."""
        ...

    def close(self) -> None: ...


@dataclass
class DriftWindow:
    """What a target changed after a position: ``objects`` in their current state (a soft-deleted one carries
    ``IsSoftDeleted`` true), ``gone`` the ids removed for good, ``position`` where the next read starts. A
    ``full`` window (no position yet, or an expired one) holds every live synchronized object instead."""

    objects: list[TargetObject]
    gone: list[str]
    position: str
    full: bool = False


#: Which of the given target ids a drift reader cares about (the users its job links).
Among = Callable[[list[str]], Collection[str]]

LATEST = "latest"  # a position: from now on (an empty window whose position is the feed's end)


@runtime_checkable
class DriftFeed(Protocol):
    """An optional capability: a connector whose target offers a change feed of its objects (another Hospes
    deployment's ``/users/delta``, a tenant's change log). The engine reads it to repair what the target's own
    administrators changed in synchronized objects; SCIM connectors have none."""

    def drift(self, kind: str, position: str | None, among: Among | None = None) -> DriftWindow:
        """The changes after ``position`` (None: a full window; ``LATEST``: none, only the current position).
        ``among``: which of some target ids the reader cares about; a feed that can tell the ids before loading
        the objects (a change log) loads only those, one that cannot may return more. Raise
        ``PositionExpiredError`` for a position the target no longer honours."""
        ...
