"""Domain errors. Each HTTP surface maps them to its own error format (Graph envelope, SCIM error, page)."""

from __future__ import annotations


class DomainError(Exception):
    """Base class. ``code`` is a Graph-style code that surfaces may reuse."""

    code = "Request_BadRequest"

    def __init__(self, message: str, *, code: str | None = None, target: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.target = target
        if code:
            self.code = code


class InvalidInputError(DomainError):
    code = "Request_BadRequest"


class PayloadTooLargeError(DomainError):
    code = "Request_EntityTooLarge"


class UnsupportedQueryError(DomainError):
    code = "Request_UnsupportedQuery"


class NotFoundError(DomainError):
    code = "Request_ResourceNotFound"

    def __init__(self, object_id: str) -> None:
        super().__init__(
            f"Resource '{object_id}' does not exist or one of its queried reference-property objects are not present."
        )
        self.object_id = object_id


class ConflictError(DomainError):
    """A uniqueness rule failed (duplicate userPrincipalName, existing member reference, ...)."""

    code = "Request_BadRequest"


class ForbiddenError(DomainError):
    code = "Authorization_RequestDenied"

    def __init__(self, message: str = "Insufficient privileges to complete the operation.") -> None:
        super().__init__(message)


class AuthenticationError(DomainError):
    code = "InvalidAuthenticationToken"


class SyncStateNotFoundError(DomainError):
    code = "syncStateNotFound"


class InvitationError(DomainError):
    """The invitation service answers with generic PascalCase codes, unlike the directory's ``Request_*``."""

    code = "BadRequest"
