"""Resource schemas of the cross-tenant access settings (``/policies/crossTenantAccessPolicy``) and of the
multitenant organization (``/tenantRelationships/multiTenantOrganization``): served below them, never listed as
entity sets of their own. Declared like the directory's (``schema.py``) so ``$metadata``
and the OpenAPI document describe them."""

from __future__ import annotations

from hospes.domain.schema import Prop, Resource


def _p(name: str, kind: str = "str", **kw: object) -> Prop:
    return Prop(name, None, kind, **kw)  # type: ignore[arg-type]


def _T(name: str) -> str:  # noqa: N802 - reads as a type constructor
    return f"microsoft.graph.{name}"


def _C(name: str) -> str:  # noqa: N802
    return f"Collection(microsoft.graph.{name})"


_B2B = _T("crossTenantAccessPolicyB2BSetting")
CROSS_TENANT_ACCESS_POLICY = Resource(
    "crossTenantAccessPolicy",
    "crossTenantAccessPolicy",
    (
        _p("id", default=True),
        _p("displayName", default=True, writable=True),
        _p("description", default=True, writable=True),
        _p("allowedCloudEndpoints", "str_list", default=True, writable=True),
        _p("deletedDateTime", "datetime", default=True),
        _p("default", "nav", graph_type=_T("crossTenantAccessPolicyConfigurationDefault")),
        _p("partners", "nav", graph_type=_C("crossTenantAccessPolicyConfigurationPartner")),
    ),
)
_CONFIGURATION = (
    _p("inboundTrust", "json", default=True, writable=True, graph_type=_T("crossTenantAccessPolicyInboundTrust")),
    _p("b2bCollaborationInbound", "json", default=True, writable=True, graph_type=_B2B),
    _p("b2bCollaborationOutbound", "json", default=True, writable=True, graph_type=_B2B),
    _p("b2bDirectConnectInbound", "json", default=True, writable=True, graph_type=_B2B),
    _p("b2bDirectConnectOutbound", "json", default=True, writable=True, graph_type=_B2B),
    _p(
        "automaticUserConsentSettings",
        "json",
        default=True,
        writable=True,
        graph_type=_T("inboundOutboundPolicyConfiguration"),
    ),
    _p(
        "tenantRestrictions",
        "json",
        default=True,
        writable=True,
        graph_type=_T("crossTenantAccessPolicyTenantRestrictions"),
    ),
)
CROSS_TENANT_DEFAULT = Resource(
    "crossTenantAccessPolicyConfigurationDefault",
    "default",
    (
        _p("isServiceDefault", "bool", default=True),
        *_CONFIGURATION,
        _p(
            "invitationRedemptionIdentityProviderConfiguration",
            "json",
            default=True,
            writable=True,
            graph_type=_T("defaultInvitationRedemptionIdentityProviderConfiguration"),
        ),
    ),
)
CROSS_TENANT_PARTNER = Resource(
    "crossTenantAccessPolicyConfigurationPartner",
    "partners",
    (
        _p("tenantId", default=True, writable=True),
        _p("isServiceProvider", "bool", default=True, writable=True),
        _p("isInMultiTenantOrganization", "bool", default=True),
        *_CONFIGURATION,
        _p("identitySynchronization", "nav", graph_type=_T("crossTenantIdentitySyncPolicyPartner")),
    ),
)
CROSS_TENANT_SYNC_POLICY = Resource(
    "crossTenantIdentitySyncPolicyPartner",
    "identitySynchronization",
    (
        _p("tenantId", default=True),
        _p("displayName", default=True, writable=True),
        _p("userSyncInbound", "json", default=True, writable=True, graph_type=_T("crossTenantUserSyncInbound")),
    ),
)
# The multitenant organization (``/tenantRelationships/multiTenantOrganization``), its tenants and join request.
MULTI_TENANT_ORGANIZATION = Resource(
    "multiTenantOrganization",
    "multiTenantOrganization",
    (
        _p("id", default=True),
        _p("createdDateTime", "datetime", default=True),
        _p("displayName", default=True, writable=True),
        _p("description", default=True, writable=True),
        _p("state", default=True),
        _p("tenants", "nav", graph_type=_C("multiTenantOrganizationMember")),
        _p("joinRequest", "nav", graph_type=_T("multiTenantOrganizationJoinRequestRecord")),
    ),
)
MTO_MEMBER = Resource(
    "multiTenantOrganizationMember",
    "tenants",
    (
        _p("id", default=True),
        _p("tenantId", default=True, writable=True),
        _p("displayName", default=True, writable=True),
        _p("addedByTenantId", default=True),
        _p("addedDateTime", "datetime", default=True),
        _p("joinedDateTime", "datetime", default=True),
        _p("role", default=True, writable=True),
        _p("state", default=True),
        _p(
            "transitionDetails",
            "json",
            default=True,
            graph_type=_T("multiTenantOrganizationMemberTransitionDetails"),
        ),
    ),
)
MTO_JOIN_REQUEST = Resource(
    "multiTenantOrganizationJoinRequestRecord",
    "joinRequest",
    (
        _p("id", default=True),
        _p("addedByTenantId", default=True, writable=True),
        _p("memberState", default=True),
        _p("role", default=True),
        _p(
            "transitionDetails",
            "json",
            default=True,
            graph_type=_T("multiTenantOrganizationJoinRequestTransitionDetails"),
        ),
    ),
)

CROSS_TENANT_RESOURCES = (
    CROSS_TENANT_ACCESS_POLICY,
    CROSS_TENANT_DEFAULT,
    CROSS_TENANT_PARTNER,
    CROSS_TENANT_SYNC_POLICY,
    MULTI_TENANT_ORGANIZATION,
    MTO_MEMBER,
    MTO_JOIN_REQUEST,
)
