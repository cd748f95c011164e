"""FastAPI dependencies of the Graph surface: the caller, ready services behind their permission check, JSON
bodies, OData query options.

A route names what it needs by type: ``users: UsersWriter`` is a ``UserService`` acting as the caller, given only
after the bearer token was verified (401 otherwise) and ``permissions.USERS_WRITE`` reaches what the request names
(403 otherwise): an app's granted permissions, or a user token's scopes intersected with the user's own standing.
Routers never build services themselves; the caller is ``users.actor``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

import anyio.to_thread
from fastapi import Depends, Request
from sqlalchemy.orm import Session, sessionmaker

from hospes.digits import ascii_int
from hospes.domain.app_logo import MAX_LOGO_BYTES, too_large
from hospes.domain.delegation import Reach, Standing
from hospes.domain.errors import (
    AuthenticationError,
    DomainError,
    ForbiddenError,
    InvalidInputError,
    PayloadTooLargeError,
    UnsupportedQueryError,
)
from hospes.domain.principals import Principal
from hospes.domain.schema import Resource
from hospes.graph import permissions as perm
from hospes.logs import set_tenant
from hospes.odata import ODataLimitError, ODataSyntaxError, parse_filter, parse_orderby, parse_search, parse_select
from hospes.provisioning import ProvisioningService
from hospes.runtime import Runtime
from hospes.services.access_reviews import AccessReviewService, ReviewHooks
from hospes.services.app_credentials import AppCredentialService
from hospes.services.app_logos import AppLogos
from hospes.services.app_owners import AppOwners
from hospes.services.app_state import is_app_active
from hospes.services.app_views import AppViews
from hospes.services.apps import AppService
from hospes.services.b2b_policy import PolicyService
from hospes.services.conditional_access import ConditionalAccessService
from hospes.services.cross_tenant_invitations import SyncInvitations
from hospes.services.cross_tenant_policy import CrossTenantPolicyService
from hospes.services.delegated import load_standing
from hospes.services.delta import DeltaService
from hospes.services.directory import AuditService, DeletedItemsService, DirectoryObjectService, DirectoryRoleService
from hospes.services.dynamic_groups import DynamicGroupService
from hospes.services.federation import FederationService
from hospes.services.groups import GroupService
from hospes.services.guest_governance import GuestGovernance
from hospes.services.guest_lifecycle import GuestLifecycle
from hospes.services.guest_policy import GuestPolicyService
from hospes.services.invitations.service import InvitationService
from hospes.services.listing import ListQuery
from hospes.services.multi_tenant_org import MultiTenantOrgService
from hospes.services.oidc.consent import PermissionGrantService
from hospes.services.review_decisions import ReviewDecisions
from hospes.services.review_mail import ReviewMail
from hospes.services.sign_in_views import SignInLogService
from hospes.services.tenants import OrganizationService
from hospes.services.terms_of_use import TermsOfUseService
from hospes.services.users import UserService
from hospes.services.what_if import WhatIfService

S = TypeVar("S")


async def app_state(request: Request) -> Runtime:  # async: no blocking, so no thread-pool round trip
    state: Runtime = request.app.state.runtime
    return state


RuntimeDep = Annotated[Runtime, Depends(app_state)]


async def current_principal(request: Request, state: RuntimeDep) -> Principal:
    """Async: the token check is pure CPU and, on SQLite, the service principal lookup is a local indexed read of
    microseconds; a worker-thread round trip per request cost more than both (bench/bench_invitations.py)."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if not header:
        raise AuthenticationError("Access token is empty.")
    if scheme.lower() != "bearer":
        raise AuthenticationError("Access token validation failure: the Authorization scheme must be Bearer.")
    principal = state.issuer.verify(token.strip())
    set_tenant(principal.tenant_id)  # log lines of this request name its tenant
    if principal.kind == "app":
        if state.database.is_sqlite:
            active = is_app_active(state.database.engine, principal)
        else:  # a network round trip: not on the event loop
            active = await anyio.to_thread.run_sync(is_app_active, state.database.engine, principal)
        if not active:
            raise AuthenticationError("The application behind this token is disabled or was removed.")
    return principal


PrincipalDep = Annotated[Principal, Depends(current_principal)]


async def caller_standing(state: RuntimeDep, principal: PrincipalDep) -> Standing | None:
    """The signed-in user's standing for a delegated token (None for an app); read once per request, as FastAPI
    caches a dependency's value within one request."""
    if principal.kind != "user":
        return None
    engine = state.database.engine
    if state.database.is_sqlite:  # local indexed reads of microseconds, as for the app check above
        return load_standing(engine, principal.tenant_id, principal.id)
    return await anyio.to_thread.run_sync(load_standing, engine, principal.tenant_id, principal.id)


StandingDep = Annotated[Standing | None, Depends(caller_standing)]
ME_ONLY_DELEGATED = "/me request is only valid with delegated authentication flow."


def check(request: Request, right: perm.Right, principal: Principal, standing: Standing | None, on_self: bool) -> None:
    """403 unless ``right`` reaches the object the request names: everything, or, for a partial reach, the object
    of the right's path parameter (``on_self``: the caller, for the ``/me`` routes)."""
    if on_self and principal.kind != "user":
        raise InvalidInputError(ME_ONLY_DELEGATED, code="BadRequest")
    reach = perm.reach(right, principal, standing)
    if reach.everything:
        return
    target = principal.id if on_self else request.path_params.get(right.target) if right.target else None
    if not isinstance(target, str) or not reach.covers(target):
        raise ForbiddenError()


def requires(right: perm.Right) -> Callable[..., Awaitable[Principal]]:
    """The caller, once ``right`` reaches what the request names (403 otherwise)."""

    async def allowed(request: Request, principal: PrincipalDep, standing: StandingDep) -> Principal:
        check(request, right, principal, standing, on_self=False)  # async: a pure check needs no worker thread
        return principal

    return allowed


def reach_of(right: perm.Right) -> Callable[..., Awaitable[Reach]]:
    """What ``right`` reaches for the caller, without refusing: for answers that show less to whom may see less."""

    async def of(principal: PrincipalDep, standing: StandingDep) -> Reach:
        return perm.reach(right, principal, standing)

    return of


def provider(
    build: Callable[[Runtime, Principal], S], right: perm.Right, *, on_self: bool = False
) -> Callable[..., Awaitable[S]]:
    """A dependency giving ``build(runtime, caller)`` once ``right`` reaches what the request names."""

    async def provide(
        request: Request, runtime: RuntimeDep, principal: PrincipalDep, standing: StandingDep
    ) -> S:  # async: a check and a constructor
        check(request, right, principal, standing, on_self)
        return build(runtime, principal)

    return provide


def service(
    cls: Callable[[sessionmaker[Session], Principal], S], right: perm.Right, *, on_self: bool = False
) -> Callable[..., Awaitable[S]]:
    """``provider`` of a service that needs only the database and its actor (the ``Services`` subclasses)."""
    return provider(lambda runtime, principal: cls(runtime.sessions, principal), right, on_self=on_self)


def eventual_service(
    cls: Callable[[sessionmaker[Session], Principal], S], right: perm.Right
) -> Callable[..., Awaitable[S]]:
    """``service`` for readers whose GET requests may opt into staleness with ``ConsistencyLevel: eventual``
    (Graph's own opt-in): those read from a streaming replica within the lag limit, when one is configured. Never
    for delta, whose rounds continue from a position a lagging replica may not have reached."""

    async def provide(request: Request, runtime: RuntimeDep, principal: PrincipalDep, standing: StandingDep) -> S:
        check(request, right, principal, standing, False)
        database = runtime.database
        eventual = request.headers.get("consistencylevel", "").lower() == "eventual"
        if database.replicas is None or not eventual or request.method not in ("GET", "HEAD"):
            return cls(runtime.sessions, principal)
        # Choosing may measure the replicas' lag (a query each, once a second): off the event loop.
        return cls(await anyio.to_thread.run_sync(database.eventual_sessions), principal)

    return provide


def _federation(runtime: Runtime, principal: Principal) -> FederationService:
    return FederationService(runtime.sessions, principal, box=runtime.box)


def _invitations(runtime: Runtime, principal: Principal) -> InvitationService:
    return InvitationService(runtime.database, principal, runtime.invite_config)


UsersReader = Annotated[UserService, Depends(eventual_service(UserService, perm.USERS_READ))]
UsersWriter = Annotated[UserService, Depends(service(UserService, perm.USERS_WRITE))]
# The signed-in user's own object (``/me``): the same right, its target the caller (400 for an app-only token).
MeReader = Annotated[UserService, Depends(service(UserService, perm.USERS_READ, on_self=True))]
Inviter = Annotated[InvitationService, Depends(provider(_invitations, perm.INVITE))]
# Invitations redeemed automatically for cross-tenant synchronization from another deployment (same right; the
# service also requires an application with User.ReadWrite.All).
SyncInviter = Annotated[SyncInvitations, Depends(service(SyncInvitations, perm.INVITE))]
GroupsReader = Annotated[GroupService, Depends(eventual_service(GroupService, perm.GROUPS_READ))]
GroupsWriter = Annotated[GroupService, Depends(service(GroupService, perm.GROUPS_WRITE))]
MembersWriter = Annotated[GroupService, Depends(service(GroupService, perm.MEMBERS_WRITE))]
DynamicGroupsReader = Annotated[DynamicGroupService, Depends(service(DynamicGroupService, perm.GROUPS_READ))]
DynamicGroupsWriter = Annotated[DynamicGroupService, Depends(service(DynamicGroupService, perm.GROUPS_WRITE))]
# Which groups the caller may see in full where a listing names groups (memberOf).
GroupsReach = Annotated[Reach, Depends(reach_of(perm.GROUPS_READ))]
AppsReader = Annotated[AppService, Depends(service(AppService, perm.APPS_READ))]
AppsWriter = Annotated[AppService, Depends(service(AppService, perm.APPS_WRITE))]
AppOwnersReader = Annotated[AppOwners, Depends(service(AppOwners, perm.APPS_READ))]
AppOwnersWriter = Annotated[AppOwners, Depends(service(AppOwners, perm.APPS_WRITE))]
AppViewsReader = Annotated[AppViews, Depends(service(AppViews, perm.APPS_READ))]
AppLogosReader = Annotated[AppLogos, Depends(service(AppLogos, perm.APPS_READ))]
AppLogosWriter = Annotated[AppLogos, Depends(service(AppLogos, perm.APPS_WRITE))]


def _credentials(runtime: Runtime, principal: Principal) -> AppCredentialService:
    return AppCredentialService(runtime.sessions, principal, box=runtime.box)


AppCredentialsWriter = Annotated[AppCredentialService, Depends(provider(_credentials, perm.APPS_WRITE))]
# App role assignments, read under the permission of the object they are listed under, written under their own.
UserAssignmentsReader = Annotated[AppService, Depends(service(AppService, perm.USERS_READ))]
MyAssignmentsReader = Annotated[AppService, Depends(service(AppService, perm.USERS_READ, on_self=True))]
GroupAssignmentsReader = Annotated[AppService, Depends(service(AppService, perm.GROUPS_READ))]
AssignmentsWriter = Annotated[AppService, Depends(service(AppService, perm.ASSIGNMENTS_WRITE))]
UsersDelta = Annotated[DeltaService, Depends(service(DeltaService, perm.USERS_READ))]
GroupsDelta = Annotated[DeltaService, Depends(service(DeltaService, perm.GROUPS_READ))]
OrganizationReader = Annotated[OrganizationService, Depends(service(OrganizationService, perm.ORG_READ))]
OrganizationWriter = Annotated[OrganizationService, Depends(service(OrganizationService, perm.ORG_WRITE))]
DirectoryObjectsReader = Annotated[
    DirectoryObjectService, Depends(service(DirectoryObjectService, perm.DIRECTORY_OBJECTS_READ))
]
DeletedItemsReader = Annotated[DeletedItemsService, Depends(service(DeletedItemsService, perm.DELETED_READ))]
DeletedItemsWriter = Annotated[DeletedItemsService, Depends(service(DeletedItemsService, perm.DELETED_WRITE))]
RolesReader = Annotated[DirectoryRoleService, Depends(service(DirectoryRoleService, perm.ROLES_READ))]
RolesWriter = Annotated[DirectoryRoleService, Depends(service(DirectoryRoleService, perm.ROLES_WRITE))]
AuditReader = Annotated[AuditService, Depends(eventual_service(AuditService, perm.AUDIT_READ))]
SignInsReader = Annotated[SignInLogService, Depends(eventual_service(SignInLogService, perm.AUDIT_READ))]
TermsReader = Annotated[TermsOfUseService, Depends(service(TermsOfUseService, perm.TERMS_READ))]
TermsWriter = Annotated[TermsOfUseService, Depends(service(TermsOfUseService, perm.TERMS_WRITE))]
PoliciesReader = Annotated[PolicyService, Depends(service(PolicyService, perm.POLICY_READ))]
PoliciesWriter = Annotated[PolicyService, Depends(service(PolicyService, perm.POLICY_WRITE))]
CrossTenantReader = Annotated[
    CrossTenantPolicyService, Depends(service(CrossTenantPolicyService, perm.CROSS_TENANT_READ))
]
CrossTenantWriter = Annotated[
    CrossTenantPolicyService, Depends(service(CrossTenantPolicyService, perm.CROSS_TENANT_WRITE))
]
MtoReader = Annotated[MultiTenantOrgService, Depends(service(MultiTenantOrgService, perm.MTO_READ))]
MtoWriter = Annotated[MultiTenantOrgService, Depends(service(MultiTenantOrgService, perm.MTO_WRITE))]
FederationReader = Annotated[FederationService, Depends(provider(_federation, perm.FEDERATION_READ))]
FederationWriter = Annotated[FederationService, Depends(provider(_federation, perm.FEDERATION_WRITE))]
CAReader = Annotated[ConditionalAccessService, Depends(service(ConditionalAccessService, perm.CA_READ))]
WhatIfReader = Annotated[WhatIfService, Depends(service(WhatIfService, perm.CA_READ))]
CAWriter = Annotated[ConditionalAccessService, Depends(service(ConditionalAccessService, perm.CA_WRITE))]
GuestPolicyReader = Annotated[GuestPolicyService, Depends(service(GuestPolicyService, perm.AUTH_METHOD_READ))]
GrantsReader = Annotated[PermissionGrantService, Depends(service(PermissionGrantService, perm.GRANTS_READ))]
GrantsWriter = Annotated[PermissionGrantService, Depends(service(PermissionGrantService, perm.GRANTS_WRITE))]
GuestPolicyWriter = Annotated[GuestPolicyService, Depends(service(GuestPolicyService, perm.AUTH_METHOD_WRITE))]


def review_hooks(runtime: Runtime) -> ReviewHooks:
    return ReviewHooks(notify=ReviewMail(runtime.settings).notify, base_url=runtime.settings.public_url)


def _reviews(runtime: Runtime, principal: Principal) -> AccessReviewService:
    return AccessReviewService(runtime.sessions, principal, review_hooks(runtime))


def _decisions(runtime: Runtime, principal: Principal) -> ReviewDecisions:
    return ReviewDecisions(runtime.sessions, principal, review_hooks(runtime))


LifecycleReader = Annotated[GuestLifecycle, Depends(service(GuestLifecycle, perm.POLICY_READ))]
LifecycleWriter = Annotated[GuestLifecycle, Depends(service(GuestLifecycle, perm.POLICY_WRITE))]
GovernanceReader = Annotated[GuestGovernance, Depends(service(GuestGovernance, perm.USERS_READ))]
ReviewsReader = Annotated[AccessReviewService, Depends(provider(_reviews, perm.ACCESS_REVIEWS_READ))]
ReviewsWriter = Annotated[AccessReviewService, Depends(provider(_reviews, perm.ACCESS_REVIEWS_WRITE))]
DecisionsReader = Annotated[ReviewDecisions, Depends(provider(_decisions, perm.ACCESS_REVIEWS_READ))]
DecisionsWriter = Annotated[ReviewDecisions, Depends(provider(_decisions, perm.ACCESS_REVIEWS_WRITE))]


async def provisioning(runtime: RuntimeDep) -> ProvisioningService:
    return runtime.provisioning


# The synchronization API and provisioning logs: the facade serves every tenant (``Runtime.provisioning``) and
# takes the caller's tenant per call, so their routes receive the checked caller beside it.
Provisioning = Annotated[ProvisioningService, Depends(provisioning)]
SyncReader = Annotated[Principal, Depends(requires(perm.SYNC_READ))]
SyncWriter = Annotated[Principal, Depends(requires(perm.SYNC_WRITE))]
# A synchronization template names the application of its service principal.
SyncAppsReader = Annotated[AppService, Depends(service(AppService, perm.SYNC_READ))]
ProvisioningLogsReader = Annotated[Principal, Depends(requires(perm.AUDIT_READ))]


MAX_JSON_DEPTH = 64


async def _read_json(request: Request, limit: int, *, required: bool) -> Any:
    declared = ascii_int(request.headers.get("content-length"))
    if declared is not None and declared > limit:
        raise PayloadTooLargeError(f"The request body is larger than the limit of {limit} bytes.")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLargeError(f"The request body is larger than the limit of {limit} bytes.")
        chunks.append(chunk)
    raw = b"".join(chunks)
    if not raw.strip():
        if required:
            raise InvalidInputError("The request body is empty: a JSON object is required.")
        return {}
    try:
        # NaN, Infinity and numbers past the float range would be stored, then fail every JSON answer.
        body = json.loads(raw, parse_constant=_no_constant, parse_float=_finite_float)
    except RecursionError:
        raise InvalidInputError(f"The JSON payload is nested deeper than {MAX_JSON_DEPTH} levels.") from None
    except (ValueError, UnicodeDecodeError):
        raise InvalidInputError(
            "Unable to read JSON request payload. Please ensure Content-Type header is set and "
            "payload is of valid JSON format."
        ) from None
    _check_json(body)
    return body


def _no_constant(name: str) -> Any:
    raise ValueError(name)


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(text)
    return value


def _check_json(body: Any) -> None:
    """Refuse what would fail later: nesting past ``MAX_JSON_DEPTH`` (the services, the validation and the
    response walk bodies recursively), lone surrogates such as ``"\\ud800"`` (valid JSON escapes, but no
    database or UTF-8 encoder takes them) and NUL characters. Iterative, so the check does not recurse itself."""
    stack: list[tuple[Any, int]] = [(body, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, str):
            _check_text(value)
        elif isinstance(value, dict | list):
            if depth > MAX_JSON_DEPTH:
                raise InvalidInputError(f"The JSON payload is nested deeper than {MAX_JSON_DEPTH} levels.")
            items = value.items() if isinstance(value, dict) else ((None, v) for v in value)
            for key, item in items:
                if key is not None:
                    _check_text(key)
                stack.append((item, depth + 1))


def _check_text(text: str) -> None:
    if "\x00" in text:  # PostgreSQL takes no NUL in text
        raise InvalidInputError("The JSON payload contains a NUL character (\\u0000) in a string.")
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise InvalidInputError(
                "The JSON payload contains an invalid Unicode string (an unpaired surrogate)."
            ) from None


async def json_body(request: Request, state: RuntimeDep) -> Any:
    return await _read_json(request, state.settings.max_body_bytes, required=True)


async def optional_body(request: Request, state: RuntimeDep) -> Any:
    """A JSON body that may be absent (``start``, ``pause``, and ``restart`` sent without criteria): ``{}``."""
    return await _read_json(request, state.settings.max_body_bytes, required=False)


@dataclass(frozen=True)
class ImageBody:
    data: bytes
    content_type: str | None


async def image_body(request: Request) -> ImageBody:
    """An image sent as the whole body (``PUT .../logo``), read up to one byte past the logo limit: a larger one
    is refused without reading the rest."""
    declared = ascii_int(request.headers.get("content-length"))
    if declared is not None and declared > MAX_LOGO_BYTES:
        raise too_large()
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_LOGO_BYTES:
            raise too_large()
        chunks.append(chunk)
    return ImageBody(b"".join(chunks), request.headers.get("content-type"))


BodyDep = Annotated[Any, Depends(json_body)]
ImageBodyDep = Annotated[ImageBody, Depends(image_body)]
OptionalBodyDep = Annotated[Any, Depends(optional_body)]


def odata_error(exc: ODataSyntaxError) -> DomainError:
    """The Graph error of a query option that could not be read: a query past the stated limits is an
    unsupported query, anything else a bad request."""
    if isinstance(exc, ODataLimitError):
        return UnsupportedQueryError(str(exc))
    return InvalidInputError(str(exc))


class QueryOptions:
    """Parsed OData options of a collection request; ``$skiptoken`` restores the first request's options."""

    def __init__(self, request: Request, state: Runtime, resource: Resource, principal: Principal) -> None:
        params = request.query_params
        self.resource = resource
        token = params.get("$skiptoken")
        if token is not None:
            try:
                saved = state.keys.unseal(f"page:{resource.collection}", token)
                if saved.get("t") != principal.tenant_id:
                    raise ValueError("tenant")
            except (ValueError, AttributeError):
                raise InvalidInputError("Invalid $skiptoken.") from None
            self.raw: dict[str, Any] = saved["o"]
            self.after: list[Any] | None = saved["a"]
        else:
            self.raw = {
                k: params[k]
                for k in ("$filter", "$select", "$orderby", "$top", "$search", "$count", "$expand")
                if k in params
            }
            self.raw["eventual"] = request.headers.get("consistencylevel", "").lower() == "eventual"
            self.after = None
        if "$expand" in self.raw:
            raise InvalidInputError("$expand is not supported on this resource.")
        try:
            self.filter = parse_filter(self.raw["$filter"]) if "$filter" in self.raw else None
            self.orderby = parse_orderby(self.raw.get("$orderby"))
            self.search = parse_search(self.raw["$search"].strip()) if "$search" in self.raw else []
        except ODataSyntaxError as exc:
            raise odata_error(exc) from None
        self.select = parse_select(self.raw.get("$select"))
        if self.select:
            for name in self.select:
                if resource.get(name) is None:
                    raise InvalidInputError(
                        "Parsing OData Select and Expand failed: Could not find a property "
                        f"named '{name}' on type 'microsoft.graph.{resource.name}'."
                    )
        top_text = self.raw.get("$top", str(state.settings.page_size_default))
        top = ascii_int(top_text)
        if top is None:
            raise InvalidInputError(f"Invalid page size specified: '{top_text}'. Must be between 1 and 999 inclusive.")
        count = self.raw.get("$count", "false").lower()
        if count not in ("true", "false"):
            raise InvalidInputError("Invalid value for $count: expected true or false.")
        self.query = ListQuery(
            filter=self.filter,
            search=self.search,
            orderby=self.orderby,
            top=top,
            after=self.after,
            count=count == "true",
            eventual=bool(self.raw.get("eventual")),
        )

    def skiptoken(self, tenant_id: str, after: list[Any], state: Runtime) -> str:
        return state.keys.seal(f"page:{self.resource.collection}", {"t": tenant_id, "o": self.raw, "a": after})
