"""What a ``scope`` parameter asks for: the OpenID Connect scopes, and delegated permissions on one resource (the
tenant's Microsoft Graph, or an API the tenant registered). Unqualified names are Graph permissions, as in Entra."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from hospes.auth.tokens import GRAPH_AUDIENCE
from hospes.domain.delegation import GRAPH_SCOPES
from hospes.services.graph_permissions import GRAPH_APP_ID
from hospes.storage.tables import Application, ServicePrincipal

OIDC_SCOPES = ("openid", "profile", "email", "offline_access")
# The delegated Graph permissions an app may ask a user for: those the Graph surface acts on, and two that scripts
# written for Entra commonly ask for and that grant nothing more here. What a token carrying them may do is still
# decided by each Graph endpoint from the user's own rights.
GRAPH_DELEGATED = frozenset(GRAPH_SCOPES) | {"Directory.AccessAsUser.All", "DelegatedPermissionGrant.ReadWrite.All"}
MAX_SCOPE_LENGTH = 2048


class ScopeError(Exception):
    """``code``: the AADSTS number; ``error``: the OAuth error (``invalid_scope`` or ``invalid_resource``)."""

    def __init__(self, error: str, code: int, message: str) -> None:
        super().__init__(message)
        self.error, self.code, self.message = error, code, message


@dataclass(frozen=True)
class Resource:
    kind: Literal["graph", "app"]
    sp_id: str
    audience: str  # the access token's ``aud``: Graph's URL, or the API's app id
    app_id: str
    prefix: str  # how the request qualified its scopes ("" for bare Graph names)


@dataclass(frozen=True)
class RequestedScopes:
    oidc: tuple[str, ...]
    resource: Resource
    values: tuple[str, ...]  # delegated permissions on the resource, short names ("User.Read", "read")
    default: bool  # "{resource}/.default": whatever is consented on that resource

    @property
    def text(self) -> str:
        """The normalized scope string stored with codes and refresh tokens (and parsed back by ``parse``)."""
        prefix = self.resource.prefix
        qualified = [f"{prefix}/{v}" if prefix else v for v in self.values]
        if self.default:
            qualified.append(f"{prefix or GRAPH_AUDIENCE}/.default")
        return " ".join([*self.oidc, *qualified])

    def consent_needed(self) -> dict[str, frozenset[str]]:
        """Resource service principal id -> the permissions someone must have consented to."""
        needed: dict[str, set[str]] = {}
        if self.oidc:
            needed.setdefault(self.graph_sp_id, set()).update(self.oidc)
        if self.values:
            needed.setdefault(self.resource.sp_id, set()).update(self.values)
        return {k: frozenset(v) for k, v in needed.items()}

    graph_sp_id: str = ""


def graph_principal(session: Session, tenant_id: str) -> str:
    sp_id = session.scalar(
        select(ServicePrincipal.id).where(
            ServicePrincipal.tenant_id == tenant_id, ServicePrincipal.app_id == GRAPH_APP_ID
        )
    )
    if sp_id is None:
        raise ScopeError("invalid_resource", 500011, "The tenant has no Microsoft Graph service principal.")
    return sp_id


def _api(session: Session, tenant_id: str, prefix: str) -> tuple[Application, ServicePrincipal] | None:
    app_id = prefix.removeprefix("api://")
    rows = session.execute(
        select(Application, ServicePrincipal)
        .join(ServicePrincipal, ServicePrincipal.application_id == Application.id)
        .where(Application.tenant_id == tenant_id, ServicePrincipal.tenant_id == tenant_id)
    )
    for app, sp in rows:
        if app.app_id == app_id or prefix in (app.identifier_uris or []):
            return app, sp
    return None


_GRAPH_NAMES = frozenset({"", GRAPH_AUDIENCE, GRAPH_APP_ID})


def parse(session: Session | None, tenant_id: str, scope: str, graph_sp: str | None = None) -> RequestedScopes:
    """Raise ScopeError for an unknown permission, an unknown resource or permissions on several resources.
    ``graph_sp``: the tenant's Microsoft Graph principal when the caller knows it; without a ``session`` only
    Graph scopes can be read (LookupError for an API's)."""
    if len(scope) > MAX_SCOPE_LENGTH:
        raise ScopeError("invalid_scope", 70011, "The scope parameter is too long.")
    if graph_sp is None:
        if session is None:
            raise LookupError("no session to find the Graph principal")
        graph_sp = graph_principal(session, tenant_id)
    oidc: list[str] = []
    found: list[tuple[str, str]] = []  # (prefix, value)
    for item in scope.split():
        if item in OIDC_SCOPES:
            if item not in oidc:
                oidc.append(item)
            continue
        prefix, slash, value = item.rpartition("/")
        if not slash:
            prefix, value = "", item
        found.append((prefix.rstrip("/"), value))
    prefixes = {p for p, _ in found}
    graph_names = _GRAPH_NAMES
    if len(prefixes - graph_names) + (1 if prefixes & graph_names else 0) > 1:
        raise ScopeError(
            "invalid_scope", 70011, "The scopes requested name more than one resource; ask for one resource at a time."
        )
    prefix = next(iter(prefixes), "")
    if prefix in graph_names:
        resource = Resource("graph", graph_sp, GRAPH_AUDIENCE, GRAPH_APP_ID, prefix)
        allowed: frozenset[str] = GRAPH_DELEGATED
    else:
        if session is None:
            raise LookupError("an API's scopes need a session")
        api = _api(session, tenant_id, prefix)
        if api is None:
            raise ScopeError(
                "invalid_resource",
                500011,
                f"The resource principal named {prefix} was not found in the tenant.",
            )
        app, sp = api
        resource = Resource("app", sp.id, app.app_id, app.app_id, prefix)
        allowed = frozenset(
            str(s.get("value")) for s in app.oauth2_permission_scopes or [] if s.get("isEnabled", True) is not False
        )
    values: list[str] = []
    default = False
    for _, value in found:
        if value == ".default":
            default = True
        elif value not in allowed:
            raise ScopeError("invalid_scope", 70011, f"The provided value for the scope '{value}' is not valid.")
        elif value not in values:
            values.append(value)
    return RequestedScopes(tuple(oidc), resource, tuple(values), default, graph_sp)
