"""The facts of a sign-in, policies and named locations read into sets, and the decision's shape: what
``hospes.domain.ca_evaluation`` works on. No I/O."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

BLOCKED = 53003  # AADSTS53003 BlockedByConditionalAccess
MFA_REQUIRED = 50076  # AADSTS50076 UserStrongAuthClientAuthNRequired
REAUTH_REQUIRED = 70043  # AADSTS70043 BadTokenDueToSignInFrequency
TERMS_REQUIRED = 50158  # AADSTS50158 ExternalSecurityChallenge: an interrupt (here, terms of use) not yet completed
# The session's method names that are a second factor: an authenticator code (``otp``), a recovery code (``rc``),
# a trusted partner's claim that MFA was done at home (``mfa``). ``pwd`` and an emailed passcode (``email``) are
# first factors only.
SECOND_FACTORS = frozenset({"otp", "rc", "mfa"})
# Entra's prompt order; controls after ``mfa`` that Hospes can't ask for are unsatisfiable unless a fact says so.
PROMPT_ORDER = (
    "mfa",
    "compliantDevice",
    "domainJoinedDevice",
    "approvedApplication",
    "compliantApplication",
    "passwordChange",
    "riskRemediation",
)
TERMS = "termsOfUse:"
EVERY_TIME = timedelta(0)
# The grace Entra gives "every time": a sign-in that just authenticated is not asked again at once.
EVERY_TIME_GRACE = timedelta(minutes=5)


@dataclass(frozen=True)
class Method:
    """An authentication method done in this session, as the session names it: ``pwd``, ``email`` (an emailed
    passcode), ``otp`` (an authenticator code), ``rc`` (a recovery code), ``mfa`` (trusted MFA done at home)."""

    kind: str
    at: datetime


@dataclass(frozen=True)
class SignInFacts:
    """What is known about one sign-in. ``external_user_type``: None for the tenant's own members, else one of
    Graph's guestOrExternalUserTypes (``b2bCollaborationGuest``, ``internalGuest``...). ``app_id`` None with
    ``admin_portal`` True is the Hospes portal itself. ``user_action``: a user action instead of an app
    (``urn:user:registersecurityinfo``)."""

    user_id: str
    now: datetime
    groups: frozenset[str] = frozenset()  # transitive
    roles: frozenset[str] = frozenset()  # directory role template ids
    external_user_type: str | None = None
    home_tenant_id: str | None = None
    app_id: str | None = None
    admin_portal: bool = False
    user_action: str | None = None
    client_app_type: str = "browser"
    ip_address: str | None = None
    country: str | None = None
    platform: str | None = None
    methods: tuple[Method, ...] = ()
    device_compliant: bool = False  # only from a trusted partner's claim
    device_domain_joined: bool = False
    accepted_terms: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Location:
    id: str
    trusted: bool
    networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()
    countries: frozenset[str] = frozenset()
    include_unknown_countries: bool = False


@dataclass(frozen=True)
class Policy:
    """A stored policy (``hospes.domain.conditional_access`` shape), read once into sets."""

    id: str
    display_name: str
    state: str
    conditions: Mapping[str, Any]
    grant: Mapping[str, Any] | None
    session: Mapping[str, Any] | None
    users: Mapping[str, frozenset[str]] = field(default_factory=dict)
    apps: Mapping[str, frozenset[str]] = field(default_factory=dict)
    controls: tuple[str, ...] = ()  # grant controls in prompt order (``termsOfUse:<id>``, ``custom:<name>``)
    session_names: tuple[str, ...] = ()  # the session controls the sign-in log names


@dataclass(frozen=True)
class PolicyResult:
    """One policy's outcome, as the sign-in log (``appliedConditionalAccessPolicies``) and the what-if report it.
    ``not_matched``: the conditions that kept it from applying (what-if's ``analysisReasons``)."""

    policy_id: str
    display_name: str
    state: str
    result: str
    applies: bool
    enforced_grant_controls: tuple[str, ...] = ()
    enforced_session_controls: tuple[str, ...] = ()
    not_matched: tuple[str, ...] = ()


@dataclass(frozen=True)
class Decision:
    """``blocked``: refuse (``error_code`` says why). ``required``: controls to ask for before the sign-in may
    go on, in prompt order (``mfa``, ``termsOfUse:<id>``); ``reauthenticate``: the sign-in frequency ran out.
    ``status``: the sign-in log's conditionalAccessStatus."""

    blocked: bool
    required: tuple[str, ...]
    reauthenticate: bool
    sign_in_frequency: timedelta | None
    persistent_browser: str | None
    results: tuple[PolicyResult, ...]
    status: str
    error_code: int

    @property
    def satisfied(self) -> bool:
        return not self.blocked and not self.required and not self.reauthenticate


def _set(body: Mapping[str, Any] | None, name: str) -> frozenset[str]:
    return frozenset(v.lower() for v in (body or {}).get(name) or ())


def compile_policy(
    policy_id: str,
    display_name: str,
    state: str,
    conditions: Mapping[str, Any],
    grant: Mapping[str, Any] | None,
    session: Mapping[str, Any] | None,
) -> Policy:
    users = conditions.get("users") or {}
    apps = conditions.get("applications") or {}
    return Policy(
        controls=_controls_of(grant),
        session_names=_session_names_of(session),
        id=policy_id,
        display_name=display_name,
        state=state,
        conditions=conditions,
        grant=grant,
        session=session,
        users={
            name: _set(users, name)
            for name in (
                "includeUsers",
                "excludeUsers",
                "includeGroups",
                "excludeGroups",
                "includeRoles",
                "excludeRoles",
            )
        },
        apps={name: _set(apps, name) for name in ("includeApplications", "excludeApplications", "includeUserActions")},
    )


def compile_location(definition: Mapping[str, Any], location_id: str) -> Location:
    networks = tuple(ipaddress.ip_network(r["cidrAddress"], strict=False) for r in definition.get("ipRanges") or ())
    return Location(
        id=location_id,
        trusted=bool(definition.get("isTrusted")),
        networks=networks,
        countries=frozenset(definition.get("countriesAndRegions") or ()),
        include_unknown_countries=bool(definition.get("includeUnknownCountriesAndRegions")),
    )


def _controls_of(grant: Mapping[str, Any] | None) -> tuple[str, ...]:
    grant = grant or {}
    built_in = grant.get("builtInControls") or []
    ordered = [c for c in ("block", *PROMPT_ORDER) if c in built_in]
    return tuple(
        ordered
        + [TERMS + t for t in grant.get("termsOfUse") or ()]
        + ["custom:" + c for c in grant.get("customAuthenticationFactors") or ()]
    )


def _session_names_of(session: Mapping[str, Any] | None) -> tuple[str, ...]:
    session = session or {}
    names = []
    if session.get("signInFrequency") and session["signInFrequency"].get("isEnabled", True):
        names.append("SignInFrequency")
    if session.get("persistentBrowser") and session["persistentBrowser"].get("isEnabled", True):
        names.append("PersistentBrowserSessionMode")
    return tuple(names)
