"""The conditional-access decision (``hospes.domain.ca_evaluation``): each condition, exclusions over inclusions,
block wins, AND/OR, report-only results, sign-in frequency, named locations; and, as properties over generated
policy sets, the invariants every sign-in relies on."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hospes.domain.ca_evaluation import (
    BLOCKED,
    MFA_REQUIRED,
    REAUTH_REQUIRED,
    Method,
    Policy,
    SignInFacts,
    compile_location,
    compile_policy,
    compile_rules,
    evaluate,
)
from hospes.domain.conditional_access import parse_location, parse_policy

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
ANA, BEA = "aaaaaaaa-0000-4000-8000-000000000001", "aaaaaaaa-0000-4000-8000-000000000002"
HR, SALES = "bbbbbbbb-0000-4000-8000-000000000001", "bbbbbbbb-0000-4000-8000-000000000002"
PAYROLL, WIKI = "cccccccc-0000-4000-8000-000000000001", "cccccccc-0000-4000-8000-000000000002"
PARTNER, OTHER = "dddddddd-0000-4000-8000-000000000001", "dddddddd-0000-4000-8000-000000000002"
ADMIN_ROLE = "62e90394-69f5-4237-9190-012177145e10"
OFFICE = "eeeeeeee-0000-4000-8000-000000000001"
PWD = (Method("pwd", NOW),)
PWD_TOTP = (Method("pwd", NOW), Method("otp", NOW))


def policy(
    users: dict[str, Any] | None = None,
    apps: list[str] | None = None,
    controls: list[str] | None = None,
    *,
    state: str = "enabled",
    operator: str = "OR",
    pid: str = "p1",
    **conditions: Any,
) -> Policy:
    body: dict[str, Any] = {
        "displayName": pid,
        "state": state,
        "conditions": {
            "users": users or {"includeUsers": ["All"]},
            "applications": {"includeApplications": apps or ["All"]},
            **conditions,
        },
        "grantControls": {"operator": operator, "builtInControls": controls if controls is not None else ["mfa"]},
    }
    if controls == []:
        body["grantControls"] = None
        body["sessionControls"] = {"signInFrequency": {"type": "hours", "value": 1}}
    form = parse_policy(body)
    return compile_policy(pid, pid, form["state"], form["conditions"], form["grantControls"], form["sessionControls"])


def facts(**kw: Any) -> SignInFacts:
    return SignInFacts(**{"user_id": ANA, "now": NOW, "app_id": PAYROLL, "methods": PWD, **kw})


LOCATIONS = {
    OFFICE: compile_location(
        parse_location(
            {
                "@odata.type": "#microsoft.graph.ipNamedLocation",
                "displayName": "Office",
                "isTrusted": True,
                "ipRanges": [{"cidrAddress": "192.0.2.0/24"}, {"cidrAddress": "2001:db8::/48"}],
            }
        ),
        OFFICE,
    )
}

# (name, policies, facts, expected (blocked, required, status), expected result of policy p1)
TABLE: list[tuple[str, list[Policy], SignInFacts, tuple[bool, tuple[str, ...], str], str]] = [
    ("no policy", [], facts(), (False, (), "notApplied"), ""),
    ("all users need mfa", [policy()], facts(), (False, ("mfa",), "failure"), "failure"),
    ("mfa done", [policy()], facts(methods=PWD_TOTP), (False, (), "success"), "success"),
    (
        "email otp alone is one factor",
        [policy()],
        facts(methods=(Method("email", NOW),)),
        (False, ("mfa",), "failure"),
        "failure",
    ),
    ("trusted home mfa", [policy()], facts(methods=(*PWD, Method("mfa", NOW))), (False, (), "success"), "success"),
    ("user listed", [policy({"includeUsers": [ANA]})], facts(), (False, ("mfa",), "failure"), "failure"),
    ("other user listed", [policy({"includeUsers": [BEA]})], facts(), (False, (), "notApplied"), "notApplied"),
    ("None applies to nobody", [policy({"includeUsers": ["None"]})], facts(), (False, (), "notApplied"), "notApplied"),
    (
        "excluded user beats All",
        [policy({"includeUsers": ["All"], "excludeUsers": [ANA]})],
        facts(),
        (False, (), "notApplied"),
        "notApplied",
    ),
    (
        "group included",
        [policy({"includeGroups": [HR]})],
        facts(groups=frozenset({HR})),
        (False, ("mfa",), "failure"),
        "failure",
    ),
    (
        "group excluded beats user included",
        [policy({"includeUsers": [ANA], "excludeGroups": [HR]})],
        facts(groups=frozenset({HR})),
        (False, (), "notApplied"),
        "notApplied",
    ),
    (
        "role included",
        [policy({"includeRoles": [ADMIN_ROLE]})],
        facts(roles=frozenset({ADMIN_ROLE})),
        (False, ("mfa",), "failure"),
        "failure",
    ),
    (
        "role excluded",
        [policy({"includeUsers": ["All"], "excludeRoles": [ADMIN_ROLE]})],
        facts(roles=frozenset({ADMIN_ROLE})),
        (False, (), "notApplied"),
        "notApplied",
    ),
    (
        "all guests switch, member",
        [policy({"includeUsers": ["GuestsOrExternalUsers"]})],
        facts(),
        (False, (), "notApplied"),
        "notApplied",
    ),
    (
        "all guests switch, guest",
        [policy({"includeUsers": ["GuestsOrExternalUsers"]})],
        facts(external_user_type="b2bCollaborationGuest"),
        (False, ("mfa",), "failure"),
        "failure",
    ),
    (
        "guests of one partner: from it",
        [
            policy(
                {
                    "includeGuestsOrExternalUsers": {
                        "guestOrExternalUserTypes": "b2bCollaborationGuest",
                        "externalTenants": {"membershipKind": "enumerated", "members": [PARTNER]},
                    }
                }
            )
        ],
        facts(external_user_type="b2bCollaborationGuest", home_tenant_id=PARTNER),
        (False, ("mfa",), "failure"),
        "failure",
    ),
    (
        "guests of one partner: from another",
        [
            policy(
                {
                    "includeGuestsOrExternalUsers": {
                        "guestOrExternalUserTypes": "b2bCollaborationGuest",
                        "externalTenants": {"membershipKind": "enumerated", "members": [PARTNER]},
                    }
                }
            )
        ],
        facts(external_user_type="b2bCollaborationGuest", home_tenant_id=OTHER),
        (False, (), "notApplied"),
        "notApplied",
    ),
    (
        "guest type not listed",
        [policy({"includeGuestsOrExternalUsers": {"guestOrExternalUserTypes": "internalGuest"}})],
        facts(external_user_type="b2bCollaborationGuest"),
        (False, (), "notApplied"),
        "notApplied",
    ),
    (
        "guests excluded by type",
        [
            policy(
                {
                    "includeUsers": ["All"],
                    "excludeGuestsOrExternalUsers": {"guestOrExternalUserTypes": "b2bCollaborationGuest"},
                }
            )
        ],
        facts(external_user_type="b2bCollaborationGuest"),
        (False, (), "notApplied"),
        "notApplied",
    ),
    ("app listed", [policy(apps=[PAYROLL])], facts(), (False, ("mfa",), "failure"), "failure"),
    ("other app", [policy(apps=[WIKI])], facts(), (False, (), "notApplied"), "notApplied"),
    (
        "the portal",
        [policy(apps=["MicrosoftAdminPortals"])],
        facts(app_id=None, admin_portal=True),
        (False, ("mfa",), "failure"),
        "failure",
    ),
    (
        "client type not listed",
        [policy(clientAppTypes=["mobileAppsAndDesktopClients"])],
        facts(),
        (False, (), "notApplied"),
        "notApplied",
    ),
    (
        "block wins over a satisfied policy",
        [policy(pid="p1"), policy(controls=["block"], pid="p2")],
        facts(methods=PWD_TOTP),
        (True, (), "failure"),
        "success",
    ),
    (
        "AND: mfa and device, device unknown",
        [policy(controls=["mfa", "compliantDevice"], operator="AND")],
        facts(methods=PWD_TOTP),
        (True, (), "failure"),
        "failure",
    ),
    (
        "OR: mfa or device, nothing done",
        [policy(controls=["compliantDevice", "mfa"])],
        facts(),
        (False, ("mfa",), "failure"),
        "failure",
    ),
    (
        "OR: device claim suffices",
        [policy(controls=["compliantDevice", "mfa"])],
        facts(device_compliant=True),
        (False, (), "success"),
        "success",
    ),
    (
        "device only, no claim: blocked",
        [policy(controls=["compliantDevice"])],
        facts(),
        (True, (), "failure"),
        "failure",
    ),
    (
        "report-only never blocks",
        [policy(controls=["block"], state="enabledForReportingButNotEnforced")],
        facts(),
        (False, (), "notApplied"),
        "reportOnlyFailure",
    ),
    (
        "report-only would ask",
        [policy(state="enabledForReportingButNotEnforced")],
        facts(),
        (False, (), "notApplied"),
        "reportOnlyInterrupted",
    ),
    (
        "report-only satisfied",
        [policy(state="enabledForReportingButNotEnforced")],
        facts(methods=PWD_TOTP),
        (False, (), "notApplied"),
        "reportOnlySuccess",
    ),
    (
        "report-only not applying",
        [policy({"includeUsers": [BEA]}, state="enabledForReportingButNotEnforced")],
        facts(),
        (False, (), "notApplied"),
        "reportOnlyNotApplied",
    ),
    ("disabled", [policy(controls=["block"], state="disabled")], facts(), (False, (), "notApplied"), "notEnabled"),
    (
        "outside trusted: block",
        [policy(controls=["block"], locations={"includeLocations": ["All"], "excludeLocations": ["AllTrusted"]})],
        facts(ip_address="198.51.100.9"),
        (True, (), "failure"),
        "failure",
    ),
    (
        "inside trusted: not applied",
        [policy(controls=["block"], locations={"includeLocations": ["All"], "excludeLocations": ["AllTrusted"]})],
        facts(ip_address="192.0.2.44"),
        (False, (), "notApplied"),
        "notApplied",
    ),
    (
        "inside named v6 range",
        [policy(locations={"includeLocations": [OFFICE]})],
        facts(ip_address="2001:db8::1"),
        (False, ("mfa",), "failure"),
        "failure",
    ),
    (
        "no address: named location can't match",
        [policy(locations={"includeLocations": [OFFICE]})],
        facts(ip_address=None),
        (False, (), "notApplied"),
        "notApplied",
    ),
    (
        "platform listed",
        [policy(platforms={"includePlatforms": ["android"]})],
        facts(platform="android"),
        (False, ("mfa",), "failure"),
        "failure",
    ),
    (
        "platform unknown",
        [policy(platforms={"includePlatforms": ["android"]})],
        facts(),
        (False, (), "notApplied"),
        "notApplied",
    ),
    (
        "risk conditions never match",
        [policy(signInRiskLevels=["high"])],
        facts(),
        (False, (), "notApplied"),
        "notApplied",
    ),
]


@pytest.mark.parametrize(("name", "policies", "sign_in", "expected", "p1"), TABLE, ids=[row[0] for row in TABLE])
def test_decision_table(
    name: str, policies: list[Policy], sign_in: SignInFacts, expected: tuple[bool, tuple[str, ...], str], p1: str
) -> None:
    decision = evaluate(sign_in, policies, LOCATIONS)
    assert (decision.blocked, decision.required, decision.status) == expected
    if p1:
        assert decision.results[0].result == p1
    assert decision.error_code == (BLOCKED if decision.blocked else MFA_REQUIRED if decision.required else 0)


def test_terms_of_use_are_asked_after_mfa() -> None:
    form = parse_policy(
        {
            "displayName": "t",
            "state": "enabled",
            "conditions": {"users": {"includeUsers": ["All"]}, "applications": {"includeApplications": ["All"]}},
            "grantControls": {"operator": "AND", "builtInControls": ["mfa"], "termsOfUse": [WIKI]},
        }
    )
    terms = compile_policy("t", "t", "enabled", form["conditions"], form["grantControls"], None)
    assert evaluate(facts(), [terms]).required == ("mfa", f"termsOfUse:{WIKI}")
    done = facts(methods=PWD_TOTP, accepted_terms=frozenset({WIKI}))
    assert evaluate(done, [terms]).satisfied


def test_what_if_reasons_name_the_conditions_that_did_not_match() -> None:
    result = evaluate(facts(), [policy({"includeUsers": [BEA]}, apps=[WIKI])]).results[0]
    assert result.not_matched == ("users", "application") and not result.applies


def test_sign_in_frequency() -> None:
    hourly = policy(controls=[])
    fresh = evaluate(facts(methods=(Method("pwd", NOW - timedelta(minutes=30)),)), [hourly])
    assert fresh.satisfied and fresh.sign_in_frequency == timedelta(hours=1) and fresh.status == "success"
    stale = evaluate(facts(methods=(Method("pwd", NOW - timedelta(hours=2)),)), [hourly])
    assert stale.reauthenticate and stale.error_code == REAUTH_REQUIRED and not stale.satisfied
    # MFA done before the window does not count once the frequency applies.
    both = [hourly, policy(pid="p2")]
    old_mfa = (Method("pwd", NOW), Method("otp", NOW - timedelta(hours=3)))
    assert evaluate(facts(methods=old_mfa), both).required == ("mfa",)
    # The strictest frequency wins.
    daily = parse_policy(
        {
            "displayName": "d",
            "state": "enabled",
            "conditions": {"users": {"includeUsers": ["All"]}, "applications": {"includeApplications": ["All"]}},
            "sessionControls": {"signInFrequency": {"type": "days", "value": 1}},
        }
    )
    day = compile_policy("d", "d", "enabled", daily["conditions"], None, daily["sessionControls"])
    assert evaluate(facts(), [day, hourly]).sign_in_frequency == timedelta(hours=1)


# ---- properties -------------------------------------------------------------------------------------------------

USERS, GROUPS, APPS = [ANA, BEA], [HR, SALES], [PAYROLL, WIKI]
STATES = ["enabled", "disabled", "enabledForReportingButNotEnforced"]


@st.composite
def policies(draw: st.DrawFn, pid: str) -> Policy:
    users: dict[str, Any] = {
        "includeUsers": draw(st.lists(st.sampled_from([*USERS, "All", "GuestsOrExternalUsers"]), max_size=2)),
        "excludeUsers": draw(st.lists(st.sampled_from(USERS), max_size=1)),
        "includeGroups": draw(st.lists(st.sampled_from(GROUPS), max_size=1)),
        "excludeGroups": draw(st.lists(st.sampled_from(GROUPS), max_size=1)),
    }
    if not (users["includeUsers"] or users["includeGroups"]):
        users["includeUsers"] = ["All"]
    apps = draw(st.lists(st.sampled_from([*APPS, "All"]), min_size=1, max_size=2))
    controls = draw(st.sampled_from([["block"], ["mfa"], ["compliantDevice"], ["mfa", "compliantDevice"], ["mfa"]]))
    if draw(st.booleans()):
        users["includeGuestsOrExternalUsers"] = {
            "guestOrExternalUserTypes": draw(st.sampled_from(["b2bCollaborationGuest", "internalGuest"])),
            "externalTenants": draw(
                st.sampled_from(
                    [
                        {
                            "@odata.type": "#microsoft.graph.conditionalAccessAllExternalTenants",
                            "membershipKind": "all",
                        },
                        {
                            "@odata.type": "#microsoft.graph.conditionalAccessEnumeratedExternalTenants",
                            "membershipKind": "enumerated",
                            "members": [PARTNER],
                        },
                    ]
                )
            ),
        }
    more: dict[str, Any] = {}
    where = draw(st.sampled_from([None, (["All"], ["AllTrusted"]), ([OFFICE], []), (["All"], [OFFICE])]))
    if where is not None:
        more["locations"] = {"includeLocations": where[0], "excludeLocations": where[1]}
    platforms = draw(st.sampled_from([None, (["all"], ["iOS"]), (["android"], [])]))
    if platforms is not None:
        more["platforms"] = {"includePlatforms": platforms[0], "excludePlatforms": platforms[1]}
    return policy(
        users,
        apps,
        controls,
        state=draw(st.sampled_from(STATES)),
        operator=draw(st.sampled_from(["AND", "OR"])),
        pid=pid,
        clientAppTypes=draw(st.sampled_from([["all"], ["browser"], ["mobileAppsAndDesktopClients"]])),
        **more,
    )


policy_sets = st.integers(min_value=0, max_value=6).flatmap(lambda n: st.tuples(*(policies(f"p{i}") for i in range(n))))
sign_ins = st.builds(
    lambda user, groups, app, guest, mfa, client, home, ip, platform: facts(
        user_id=user,
        groups=frozenset(groups),
        app_id=app,
        external_user_type="b2bCollaborationGuest" if guest else None,
        home_tenant_id=home if guest else None,
        methods=PWD_TOTP if mfa else PWD,
        client_app_type=client,
        ip_address=ip,
        platform=platform,
    ),
    st.sampled_from(USERS),
    st.lists(st.sampled_from(GROUPS), max_size=2),
    st.sampled_from(APPS),
    st.booleans(),
    st.booleans(),
    st.sampled_from(["browser", "mobileAppsAndDesktopClients"]),
    st.sampled_from([PARTNER, OTHER]),
    st.sampled_from([None, "192.0.2.9", "198.51.100.1", "2001:db8::5"]),
    st.sampled_from([None, "iOS", "android"]),
)


@settings(max_examples=300, deadline=None)
@given(policy_sets, sign_ins)
def test_block_wins(found: tuple[Policy, ...], sign_in: SignInFacts) -> None:
    decision = evaluate(sign_in, found)
    blocking = [
        r for r in decision.results if r.state == "enabled" and r.applies and "block" in r.enforced_grant_controls
    ]
    if blocking:
        assert decision.blocked and decision.error_code == BLOCKED and not decision.required


@settings(max_examples=300, deadline=None)
@given(policy_sets, sign_ins)
def test_an_excluded_user_is_never_subject_to_that_policy(found: tuple[Policy, ...], sign_in: SignInFacts) -> None:
    decision = evaluate(sign_in, found)
    for policy_, result in zip(found, decision.results, strict=True):
        excluded = sign_in.user_id in policy_.users["excludeUsers"] or bool(
            {g.lower() for g in sign_in.groups} & policy_.users["excludeGroups"]
        )
        if excluded:
            assert not result.applies and result.result in ("notApplied", "reportOnlyNotApplied", "notEnabled")
            # Removing the policy changes nothing: it could not have been why the user was blocked.
            others = [p for p in found if p is not policy_]
            assert evaluate(sign_in, others).blocked == decision.blocked


@settings(max_examples=300, deadline=None)
@given(policy_sets, sign_ins)
def test_report_only_never_changes_the_decision(found: tuple[Policy, ...], sign_in: SignInFacts) -> None:
    decision = evaluate(sign_in, found)
    enforced = [p for p in found if p.state != "enabledForReportingButNotEnforced"]
    alone = evaluate(sign_in, enforced)
    assert (decision.blocked, decision.required, decision.status, decision.error_code) == (
        alone.blocked,
        alone.required,
        alone.status,
        alone.error_code,
    )
    # Turning every policy report-only lets everyone in.
    relaxed = [replace(p, state="enabledForReportingButNotEnforced") for p in found]
    assert evaluate(sign_in, relaxed).satisfied


@settings(max_examples=200, deadline=None)
@given(policy_sets, sign_ins)
def test_doing_mfa_never_makes_things_worse(found: tuple[Policy, ...], sign_in: SignInFacts) -> None:
    before = evaluate(replace(sign_in, methods=PWD), found)
    after = evaluate(replace(sign_in, methods=PWD_TOTP), found)
    assert after.blocked == before.blocked
    assert set(after.required) <= set(before.required)
    assert "mfa" not in after.required


@settings(max_examples=300, deadline=None)
@given(policy_sets, sign_ins)
def test_compiled_rules_decide_the_same_as_the_explained_list(found: tuple[Policy, ...], sign_in: SignInFacts) -> None:
    plain, compiled = evaluate(sign_in, found, LOCATIONS), evaluate(sign_in, compile_rules(found, LOCATIONS))
    assert (compiled.blocked, compiled.required, compiled.status, compiled.error_code) == (
        plain.blocked,
        plain.required,
        plain.status,
        plain.error_code,
    )
    assert compiled.sign_in_frequency == plain.sign_in_frequency
    assert [(r.policy_id, r.result, r.applies, r.enforced_grant_controls) for r in compiled.results] == [
        (r.policy_id, r.result, r.applies, r.enforced_grant_controls) for r in plain.results
    ]
    # Explaining is the what-if's extra; it never changes a result.
    assert evaluate(sign_in, compile_rules(found, LOCATIONS), explain=True) == plain


def test_compiled_rules_know_whether_groups_and_roles_matter() -> None:
    by_user = compile_rules([policy({"includeUsers": [ANA]}, pid="user")])
    assert not by_user.needs_groups and not by_user.needs_roles
    by_group = compile_rules([policy({"includeUsers": ["All"], "excludeGroups": [HR]}, pid="g")])
    assert by_group.needs_groups and not by_group.needs_roles
    by_role = compile_rules([policy({"includeRoles": [ADMIN_ROLE]}, pid="role")])
    assert by_role.needs_roles and not by_role.needs_groups
