"""The directory's resource schemas: Graph property name, storage attribute, type, and what OData may do with it.

One table per resource serves serialization, ``$select``, ``$filter``/``$orderby`` compilation and input
validation, so the four can never disagree about a property.
"""

from __future__ import annotations

from dataclasses import dataclass

EQ = frozenset({"eq", "in"})
EQ_NE = frozenset({"eq", "ne", "in", "not"})
STRING_OPS = frozenset({"eq", "ne", "in", "not", "ge", "le", "startswith", "endswith"})
ORDER_OPS = frozenset({"eq", "ne", "in", "not", "ge", "le", "gt", "lt"})
ANY_OPS = frozenset({"any"})
RULE_OPS = frozenset({"eq", "ne", "not", "ge", "le", "startswith"})
NONE: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Prop:
    name: str  # Graph wire name
    attr: str | None  # attribute on the storage row; None for computed properties
    kind: str  # "str" | "bool" | "datetime" | "str_list" | "obj_list" | "guid" | "json" | "nav"
    default: bool = False  # returned when there is no $select
    writable: bool = False
    max_len: int | None = None
    ops: frozenset[str] = NONE  # $filter operators the property supports
    orderable: bool = False
    searchable: bool = False
    key_attr: str | None = None  # lower-cased shadow column used for case-insensitive filters
    # Operators that Graph only allows as "advanced queries" (ConsistencyLevel: eventual + $count=true).
    advanced_ops: frozenset[str] = frozenset({"ne", "not", "endswith"})
    # The Graph type of a structured value ("json", "obj_list") or of a related object returned inline ("nav"),
    # as $metadata names it: "microsoft.graph.webApplication", "Collection(microsoft.graph.appRole)".
    graph_type: str | None = None


@dataclass(frozen=True)
class Resource:
    name: str  # e.g. "user"
    collection: str  # e.g. "users"
    props: tuple[Prop, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_lower", {p.name.lower(): p for p in self.props})

    def get(self, name: str) -> Prop | None:
        by_lower: dict[str, Prop] = self._by_lower  # type: ignore[attr-defined]
        return by_lower.get(name.lower())

    @property
    def odata_type(self) -> str:
        return f"#microsoft.graph.{self.name}"

    @property
    def default_props(self) -> tuple[Prop, ...]:
        return tuple(p for p in self.props if p.default)


def _p(name: str, attr: str | None, kind: str = "str", **kw: object) -> Prop:
    return Prop(name, attr, kind, **kw)  # type: ignore[arg-type]


def _T(name: str) -> str:  # noqa: N802 - reads as a type constructor
    return f"microsoft.graph.{name}"


def _C(name: str) -> str:  # noqa: N802
    return f"Collection(microsoft.graph.{name})"


USER = Resource(
    "user",
    "users",
    (
        _p("id", "id", "guid", default=True, ops=EQ_NE),
        _p("businessPhones", "business_phones", "str_list", default=True, writable=True, ops=ANY_OPS),
        _p(
            "displayName",
            "display_name",
            default=True,
            writable=True,
            max_len=256,
            ops=STRING_OPS,
            orderable=True,
            searchable=True,
        ),
        _p(
            "givenName",
            "given_name",
            default=True,
            writable=True,
            max_len=64,
            ops=STRING_OPS,
            searchable=True,
        ),
        _p("jobTitle", "job_title", default=True, writable=True, max_len=128, ops=STRING_OPS),
        _p(
            "mail",
            "mail",
            default=True,
            writable=True,
            max_len=256,
            ops=STRING_OPS,
            searchable=True,
            key_attr="mail_key",
        ),
        _p("mobilePhone", "mobile_phone", default=True, writable=True, max_len=64, ops=STRING_OPS),
        _p("officeLocation", "office_location", default=True, writable=True, max_len=128, ops=STRING_OPS),
        _p("preferredLanguage", "preferred_language", default=True, writable=True, max_len=16, ops=STRING_OPS),
        _p("surname", "surname", default=True, writable=True, max_len=64, ops=STRING_OPS, searchable=True),
        _p(
            "userPrincipalName",
            "user_principal_name",
            default=True,
            writable=True,
            max_len=113,
            ops=STRING_OPS,
            orderable=True,
            searchable=True,
            key_attr="upn_key",
        ),
        _p("accountEnabled", "account_enabled", "bool", writable=True, ops=EQ_NE),
        _p("companyName", "company_name", writable=True, max_len=64, ops=STRING_OPS),
        _p("createdDateTime", "created_at", "datetime", ops=ORDER_OPS, orderable=True),
        _p("creationType", "creation_type", ops=EQ_NE),
        _p("deletedDateTime", "deleted_at", "datetime"),
        # Derived from the sign-in columns (``graph/wire.DERIVED``); only with $select, as Graph returns it.
        _p("signInActivity", None, "json", graph_type=_T("signInActivity")),
        _p("department", "department", writable=True, max_len=64, ops=STRING_OPS),
        _p("employeeId", "employee_id", writable=True, max_len=16, ops=STRING_OPS),
        _p("externalUserState", "external_user_state", ops=EQ_NE),
        _p("externalUserStateChangeDateTime", "external_user_state_changed_at", "datetime", ops=ORDER_OPS),
        _p("identities", "identities", "obj_list", writable=True, ops=ANY_OPS, graph_type=_C("objectIdentity")),
        # Cross-tenant synchronization's anchor (domain/alt_sec_id.py); filtered as
        # alternativeSecurityIds/any(x:x/type eq 5 and x/key eq '<base64>').
        _p(
            "alternativeSecurityIds",
            "alternative_security_ids",
            "obj_list",
            ops=ANY_OPS,
            graph_type=_C("alternativeSecurityId"),
        ),
        _p("mailNickname", "mail_nickname", writable=True, max_len=64, ops=STRING_OPS),
        _p("otherMails", "other_mails", "str_list", writable=True, ops=ANY_OPS),
        _p("showInAddressList", "show_in_address_list", "bool", writable=True, ops=EQ_NE),
        _p("usageLocation", "usage_location", writable=True, max_len=2, ops=EQ_NE),
        _p("userType", "user_type", writable=True, ops=EQ_NE),
    ),
)

GROUP = Resource(
    "group",
    "groups",
    (
        _p("id", "id", "guid", default=True, ops=EQ_NE),
        _p("createdDateTime", "created_at", "datetime", default=True, ops=ORDER_OPS, orderable=True),
        _p("deletedDateTime", "deleted_at", "datetime", default=True),
        _p(
            "description",
            "description",
            default=True,
            writable=True,
            max_len=1024,
            ops=STRING_OPS,
            searchable=True,
        ),
        _p(
            "displayName",
            "display_name",
            default=True,
            writable=True,
            max_len=256,
            ops=STRING_OPS,
            orderable=True,
            searchable=True,
        ),
        _p("groupTypes", "group_types", "str_list", default=True, writable=True, ops=ANY_OPS),
        _p("mail", "mail", default=True, ops=STRING_OPS),
        _p("mailEnabled", "mail_enabled", "bool", default=True, writable=True, ops=EQ_NE),
        _p("mailNickname", "mail_nickname", default=True, writable=True, max_len=64, ops=STRING_OPS),
        # The rule's own checks (length, syntax, properties) answer for it, with a position, not max_len.
        _p("membershipRule", "membership_rule", default=True, writable=True, ops=RULE_OPS),
        _p("membershipRuleProcessingState", "membership_rule_processing_state", default=True, writable=True, ops=EQ_NE),
        # Beta in Graph, served at v1.0 too: whether processing ran, and when the membership last changed.
        _p(
            "membershipRuleProcessingStatus",
            None,
            "json",
            graph_type=_T("membershipRuleProcessingStatus"),
        ),
        _p("securityEnabled", "security_enabled", "bool", default=True, writable=True, ops=EQ_NE),
        _p("visibility", "visibility", default=True, writable=True, ops=EQ_NE),
    ),
)

APPLICATION = Resource(
    "application",
    "applications",
    (
        _p("id", "id", "guid", default=True, ops=EQ_NE),
        _p("appId", "app_id", "guid", default=True, ops=EQ_NE),
        _p(
            "displayName",
            "display_name",
            default=True,
            writable=True,
            max_len=256,
            ops=STRING_OPS,
            orderable=True,
            searchable=True,
        ),
        _p("description", "description", default=True, writable=True, max_len=1024, ops=STRING_OPS),
        _p("signInAudience", "sign_in_audience", default=True, writable=True, ops=EQ_NE),
        _p("appRoles", "app_roles", "json", default=True, writable=True, graph_type=_C("appRole")),
        _p("createdDateTime", "created_at", "datetime", default=True, ops=ORDER_OPS, orderable=True),
        _p("passwordCredentials", None, "json", default=True, graph_type=_C("passwordCredential")),
        _p("keyCredentials", None, "json", default=True, writable=True, graph_type=_C("keyCredential")),
        _p("web", None, "json", default=True, writable=True, graph_type=_T("webApplication")),
        _p("spa", None, "json", default=True, writable=True, graph_type=_T("spaApplication")),
        _p("publicClient", None, "json", default=True, writable=True, graph_type=_T("publicClientApplication")),
        _p("identifierUris", "identifier_uris", "str_list", default=True, writable=True, ops=ANY_OPS),
        _p("isFallbackPublicClient", "is_fallback_public_client", "bool", default=True, writable=True, ops=EQ_NE),
        _p("groupMembershipClaims", "group_membership_claims", default=True, writable=True, max_len=64),
        _p(
            "requiredResourceAccess",
            "required_resource_access",
            "json",
            default=True,
            writable=True,
            graph_type=_C("requiredResourceAccess"),
        ),
        _p("api", None, "json", default=True, writable=True, graph_type=_T("apiApplication")),
        _p("optionalClaims", "optional_claims", "json", default=True, writable=True, graph_type=_T("optionalClaims")),
        _p("info", None, "json", default=True, graph_type=_T("informationalUrl")),
    ),
)

SERVICE_PRINCIPAL = Resource(
    "servicePrincipal",
    "servicePrincipals",
    (
        _p("id", "id", "guid", default=True, ops=EQ_NE),
        _p("appId", "app_id", "guid", default=True, ops=EQ_NE),
        _p(
            "displayName",
            "display_name",
            default=True,
            writable=True,
            max_len=256,
            ops=STRING_OPS,
            orderable=True,
            searchable=True,
        ),
        _p("accountEnabled", "account_enabled", "bool", default=True, writable=True, ops=EQ_NE),
        _p(
            "appRoleAssignmentRequired",
            "app_role_assignment_required",
            "bool",
            default=True,
            writable=True,
            ops=EQ_NE,
        ),
        _p("servicePrincipalType", None, default=True),
        _p("applicationTemplateId", "application_template_id", default=True, ops=EQ_NE),
        _p("tags", "tags", "str_list", default=True, writable=True, ops=ANY_OPS),
        _p("loginUrl", "login_url", default=True, writable=True, max_len=1024),
        _p("logoutUrl", "logout_url", default=True, writable=True, max_len=1024),
        _p("preferredSingleSignOnMode", "preferred_single_sign_on_mode", default=True, writable=True, ops=EQ_NE),
        _p(
            "samlSingleSignOnSettings",
            "saml_single_sign_on_settings",
            "json",
            default=True,
            writable=True,
            graph_type=_T("samlSingleSignOnSettings"),
        ),
        _p(
            "preferredTokenSigningKeyThumbprint",
            "preferred_token_signing_key_thumbprint",
            default=True,
            writable=True,
            max_len=40,
        ),
        _p("replyUrls", None, "str_list", default=True),
        _p("servicePrincipalNames", None, "str_list", default=True),
        _p("info", None, "json", default=True, graph_type=_T("informationalUrl")),
        _p("keyCredentials", None, "json", default=True, graph_type=_C("keyCredential")),
        _p("oauth2PermissionScopes", None, "json", default=True, graph_type=_C("permissionScope")),
        _p("appRoles", None, "json", default=True, graph_type=_C("appRole")),
        _p("createdDateTime", "created_at", "datetime", default=True),
    ),
)

APP_ROLE_ASSIGNMENT = Resource(
    "appRoleAssignment",
    "appRoleAssignments",
    (
        _p("id", "id", default=True, ops=EQ),
        _p("appRoleId", "app_role_id", "guid", default=True, ops=EQ),
        _p("createdDateTime", "created_at", "datetime", default=True),
        _p("deletedDateTime", None, "datetime", default=True),
        _p("principalDisplayName", None, default=True),
        _p("principalId", "principal_id", "guid", default=True, ops=EQ),
        _p("principalType", "principal_type", default=True, ops=EQ),
        _p("resourceDisplayName", None, default=True),
        _p("resourceId", "resource_id", "guid", default=True, ops=EQ),
    ),
)

DIRECTORY_AUDIT = Resource(
    "directoryAudit",
    "directoryAudits",
    (
        _p("id", "id", default=True, ops=EQ),
        _p("activityDateTime", "at", "datetime", default=True, ops=ORDER_OPS, orderable=True),
        _p("activityDisplayName", "activity", default=True, ops=STRING_OPS),
        _p("category", "category", default=True, ops=EQ),
        _p("result", "result", default=True, ops=EQ),
        _p("resultReason", "result_reason", default=True),
        _p("loggedByService", None, default=True),
        _p("operationType", None, default=True),
        _p("correlationId", None, default=True),
        _p("initiatedBy", None, "json", default=True, graph_type=_T("auditActivityInitiator")),
        _p("targetResources", None, "json", default=True, graph_type=_C("targetResource")),
        _p("additionalDetails", None, "json", default=True, graph_type=_C("keyValue")),
    ),
)

# Resources the routers shape by hand (no storage row maps to them one to one); declared here all the same, so the
# service's $metadata describes them from the same table as the others.
DIRECTORY_OBJECT = Resource(
    "directoryObject",
    "directoryObjects",
    (_p("id", None, default=True), _p("deletedDateTime", None, "datetime", default=True)),
)

DIRECTORY_ROLE = Resource(
    "directoryRole",
    "directoryRoles",
    (
        _p("id", None, default=True),
        _p("deletedDateTime", None, "datetime", default=True),
        _p("description", None, default=True),
        _p("displayName", None, default=True),
        _p("roleTemplateId", None, default=True),
    ),
)

INVITATION = Resource(
    "invitation",
    "invitations",
    (
        _p("id", None, default=True),
        _p("invitedUserDisplayName", None, default=True, writable=True),
        _p("invitedUserEmailAddress", None, default=True, writable=True),
        _p(
            "invitedUserMessageInfo", None, "json", default=True, writable=True, graph_type=_T("invitedUserMessageInfo")
        ),
        _p("invitedUserType", None, default=True, writable=True),
        _p("inviteRedeemUrl", None, default=True),
        _p("inviteRedirectUrl", None, default=True, writable=True),
        _p("resetRedemption", None, "bool", default=True, writable=True),
        _p("sendInvitationMessage", None, "bool", default=True, writable=True),
        _p("status", None, default=True),
        _p("invitedUser", None, "nav", default=True, writable=True, graph_type=_T("user")),
        _p("invitedUserSponsors", None, "nav", default=True, writable=True, graph_type=_C("directoryObject")),
    ),
)

ORGANIZATION = Resource(
    "organization",
    "organization",
    (
        _p("id", None, default=True),
        _p("countryLetterCode", None, default=True),
        _p("createdDateTime", None, "datetime", default=True),
        _p("displayName", None, default=True),
        _p("marketingNotificationEmails", None, "str_list", default=True),
        _p("preferredLanguage", None, default=True),
        _p("privacyProfile", None, "json", default=True, writable=True, graph_type=_T("privacyProfile")),
        _p("securityComplianceNotificationMails", None, "str_list", default=True),
        _p("technicalNotificationMails", None, "str_list", default=True, writable=True),
        _p("tenantType", None, default=True),
        _p("verifiedDomains", None, "json", default=True, graph_type=_C("verifiedDomain")),
    ),
)

OAUTH2_PERMISSION_GRANT = Resource(
    "oAuth2PermissionGrant",
    "oauth2PermissionGrants",
    (
        _p("id", "id", default=True, ops=EQ),
        _p("clientId", "client_id", default=True, writable=True, ops=EQ),
        _p("consentType", "consent_type", default=True, writable=True, ops=EQ),
        _p("principalId", "principal_id", default=True, writable=True, ops=EQ),
        _p("resourceId", "resource_id", default=True, writable=True, ops=EQ),
        _p("scope", "scope", default=True, writable=True),
    ),
)

CONDITIONAL_ACCESS_POLICY = Resource(
    "conditionalAccessPolicy",
    "policies",
    (
        _p("id", None, default=True),
        _p("displayName", None, default=True, writable=True, max_len=256),
        _p("description", None, default=True, writable=True),
        _p("state", None, default=True, writable=True),
        _p("templateId", None, default=True, writable=True),
        _p("createdDateTime", None, "datetime", default=True),
        _p("modifiedDateTime", None, "datetime", default=True),
        _p("conditions", None, "json", default=True, writable=True, graph_type=_T("conditionalAccessConditionSet")),
        _p("grantControls", None, "json", default=True, writable=True, graph_type=_T("conditionalAccessGrantControls")),
        _p(
            "sessionControls",
            None,
            "json",
            default=True,
            writable=True,
            graph_type=_T("conditionalAccessSessionControls"),
        ),
    ),
)

_LOCATION_PROPS = (
    _p("id", None, default=True),
    _p("displayName", None, default=True, writable=True, max_len=256),
    _p("createdDateTime", None, "datetime", default=True),
    _p("modifiedDateTime", None, "datetime", default=True),
)
IP_NAMED_LOCATION = Resource(
    "ipNamedLocation",
    "namedLocations",
    (
        *_LOCATION_PROPS,
        _p("ipRanges", None, "json", default=True, writable=True, graph_type=_C("ipRange")),
        _p("isTrusted", None, "bool", default=True, writable=True),
    ),
)
COUNTRY_NAMED_LOCATION = Resource(
    "countryNamedLocation",
    "namedLocations",
    (
        *_LOCATION_PROPS,
        _p("countriesAndRegions", None, "str_list", default=True, writable=True),
        _p("countryLookupMethod", None, default=True, writable=True),
        _p("includeUnknownCountriesAndRegions", None, "bool", default=True, writable=True),
    ),
)

_STR_FILTER = frozenset({"eq", "in", "startswith"})
SIGN_IN = Resource(
    "signIn",
    "signIns",
    (
        _p("id", "id", default=True, ops=EQ),
        _p("createdDateTime", "created_at", "datetime", default=True, ops=ORDER_OPS, orderable=True),
        _p("userDisplayName", "user_display_name", default=True, ops=_STR_FILTER),
        _p("userPrincipalName", "user_principal_name", default=True, ops=_STR_FILTER),
        _p("userId", "user_id", "guid", default=True, ops=EQ),
        _p("userType", "user_type", default=True, ops=EQ),
        _p("homeTenantId", "home_tenant_id", "guid", default=True, ops=EQ),
        _p("resourceTenantId", "tenant_id", "guid", default=True),
        _p("appId", "app_id", "guid", default=True, ops=EQ),
        _p("appDisplayName", "app_display_name", default=True, ops=_STR_FILTER),
        _p("resourceDisplayName", "resource_display_name", default=True, ops=_STR_FILTER),
        _p("resourceId", None, default=True),
        _p("servicePrincipalId", None, default=True),
        _p("ipAddress", "ip_address", default=True, ops=_STR_FILTER),
        _p("clientAppUsed", None, default=True),
        _p("userAgent", "user_agent", default=True),
        _p("correlationId", "correlation_id", default=True, ops=EQ),
        _p("isInteractive", "is_interactive", "bool", default=True, ops=EQ),
        _p("conditionalAccessStatus", "conditional_access_status", default=True, ops=EQ),
        _p("status", None, "json", default=True, graph_type=_T("signInStatus")),
        _p(
            "appliedConditionalAccessPolicies",
            None,
            "json",
            default=True,
            graph_type=_C("appliedConditionalAccessPolicy"),
        ),
        _p("authenticationMethodsUsed", None, "str_list", default=True),
        _p("deviceDetail", None, "json", default=True, graph_type=_T("deviceDetail")),
        _p("location", None, "json", default=True, graph_type=_T("signInLocation")),
    ),
)
# The sign-in log's filter and order: the properties above plus ``status/errorCode``, which Graph filters on as a
# path (``status/errorCode eq 53003``); the service rewrites that path to this flat property.
SIGN_IN_QUERY = Resource(
    "signIn",
    "signIns",
    (*SIGN_IN.props, _p("errorCode", "error_code", "int", ops=ORDER_OPS)),
)
