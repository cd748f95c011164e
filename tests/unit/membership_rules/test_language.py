"""The membership-rule language: the documented examples, errors with their positions, semantics."""

from __future__ import annotations

import datetime as dt

import pytest

from hospes.membership_rules import MAX_LENGTH, RuleError, compile_rule
from hospes.membership_rules.parser import parse
from tests.helpers.rule_examples import DEVICE_RULES, DOCUMENTED_RULES


def user(**values: object) -> dict[str, object]:
    base: dict[str, object] = {
        "id": "11111111-1111-1111-1111-111111111111",
        "account_enabled": True,
        "department": None,
        "job_title": None,
        "display_name": "Someone",
        "mail": None,
        "other_mails": [],
        "user_type": "Member",
        "company_name": None,
        "business_phones": [],
        "manager_id": None,
        "member_of": frozenset(),
    }
    base.update(values)
    return base


def test_there_are_at_least_thirty_documented_examples() -> None:
    assert len(DOCUMENTED_RULES) >= 30


@pytest.mark.parametrize("rule", DOCUMENTED_RULES)
def test_every_documented_example_parses(rule: str) -> None:
    parse(rule)


@pytest.mark.parametrize("rule", [r for r in DOCUMENTED_RULES if r not in DEVICE_RULES])
def test_every_documented_user_example_compiles(rule: str) -> None:
    compile_rule(rule)


@pytest.mark.parametrize("rule", DEVICE_RULES)
def test_device_rules_fail_the_property_check(rule: str) -> None:
    with pytest.raises(RuleError) as caught:
        compile_rule(rule)
    assert caught.value.detail == "Attribute not supported."
    assert caught.value.position == rule.index("device") + 1


@pytest.mark.parametrize(
    ("rule", "detail", "position"),
    [
        ('(user.department -eq "a") (user.department -eq "b")', "Query compilation error.", 27),
        ("user.department -eq", "Query compilation error.", 20),
        ('department -eq "Sales"', "Invalid object type.", 1),
        ('user.department -eq "a" -and jobTitle -eq "b"', "Invalid object type.", 30),
        ('user.invalidProperty -eq "Value"', "Attribute not supported.", 1),
        ("user.accountEnabled -contains true", "Operator isn't supported on attribute.", 21),
        ('user.mail -match "*@domain.ext"', "Query compilation error.", 18),
        ('user.department -le "x"', "Operator isn't supported on attribute.", 17),
        ('user.department -any (_ -eq "x")', "Invalid operands found for operator.", 17),
        ("user.department -startsWith null", "Invalid operands found for operator.", 29),
        (
            'user.otherMails -any (user.mail -eq "x")',
            "Wrong property applied. Property 'mail' cannot be applied to object 'user'",
            23,
        ),
        (
            "user.memberOf -any (user.objectid -in ['x'])",
            "Wrong property applied. Property 'objectid' cannot be applied to object 'user'",
            21,
        ),
        ('user.assignedPlans -any (_ -eq "x")', "Invalid operands found for operator.", 26),
        ('group.displayName -eq "x"', "Invalid object type.", 1),
        ("user.accountEnabled -eq 12", "Invalid operands found for operator.", 25),
        ("user.department -in []", "Invalid operands found for operator.", 17),
        (
            "user.memberOf -any (group.objectId -in ['a']) -and user.department -eq \"x\"",
            "memberOf can't be combined with other expressions.",
            1,
        ),
        ("user.department -eq 'x' -or Direct Reports for 'y'", "Query compilation error.", 29),
        ("user.department -not null", "Query compilation error.", 17),
        ("user.employeeHireDate -ge system.now -plus pxd", "Query compilation error.", 45),
        ("", "Query compilation error.", 1),
    ],
)
def test_malformed_rules_give_the_reference_error_and_a_position(rule: str, detail: str, position: int) -> None:
    with pytest.raises(RuleError) as caught:
        compile_rule(rule)
    assert (caught.value.detail, caught.value.position) == (detail, position)
    assert caught.value.message == f"Dynamic membership rule validation error: {detail} (position {position})"


def test_the_length_limit_is_3072_characters() -> None:
    rule = 'user.department -eq "' + "x" * (MAX_LENGTH - len('user.department -eq ""')) + '"'
    assert len(rule) == MAX_LENGTH
    compile_rule(rule)
    with pytest.raises(RuleError) as caught:
        compile_rule(rule + " ")
    assert caught.value.position == MAX_LENGTH + 1


def test_deep_nesting_is_refused_before_any_recursion() -> None:
    compile_rule("(" * 1000 + 'user.department -eq "x"' + ")" * 1000)  # parentheses alone nest nothing
    with pytest.raises(RuleError) as caught:
        compile_rule('(user.mail -eq "x" -or ' * 90 + 'user.department -eq "x"' + ")" * 90)
    assert "nests more than" in caught.value.detail
    with pytest.raises(RuleError):
        compile_rule("-not " * 500 + 'user.department -eq "x"')


def test_strings_and_keywords_ignore_case() -> None:
    rule = compile_rule('USER.Department -EQ "sales" OR user.JOBTITLE -StartsWith "eng"')
    assert rule.matches(user(department="SALES"))
    assert rule.matches(user(job_title="Engineer"))
    assert not rule.matches(user(department="Marketing", job_title="Sales engineer"))
    assert compile_rule('user.displayName -match "^da.*"').matches(user(display_name="David"))
    assert not compile_rule('user.displayName -match "^Da.*"').matches(user(display_name="aDa"))


def test_null_rules() -> None:
    eq_null = compile_rule("user.department -eq null")
    assert eq_null.matches(user(department=None)) and eq_null.matches(user(department=""))
    assert not eq_null.matches(user(department="x"))
    assert compile_rule('user.department -eq "null"').matches(user(department="Null"))
    # On a null property the positive operators are false and the negative ones true.
    for positive, negative in [
        ('-eq "x"', '-ne "x"'),
        ('-startsWith "x"', '-notStartsWith "x"'),
        ('-contains "x"', '-notContains "x"'),
        ('-match "."', '-notMatch "."'),
        ('-in ["x"]', '-notIn ["x"]'),
    ]:
        assert not compile_rule(f"user.department {positive}").matches(user())
        assert compile_rule(f"user.department {negative}").matches(user())
    assert compile_rule("user.otherMails -eq null").matches(user(other_mails=[]))
    assert compile_rule("user.accountEnabled -ne null").matches(user(account_enabled=False))


def test_collections() -> None:
    mails = user(other_mails=["a@contoso.com", "b@fabrikam.com"])
    assert compile_rule('user.otherMails -endsWith "@FABRIKAM.com"').matches(mails)
    assert not compile_rule('user.otherMails -notEndsWith "@fabrikam.com"').matches(mails)
    assert compile_rule('user.otherMails -any (_ -startsWith "a@")').matches(mails)
    assert not compile_rule('user.otherMails -all (_ -startsWith "a@")').matches(mails)
    assert compile_rule('user.otherMails -all (_ -contains "@")').matches(mails)
    assert compile_rule("user.assignedPlans -all (assignedPlan.servicePlanId -eq null)").matches(user())
    assert compile_rule('user.otherMails -any _ -eq "B@FABRIKAM.COM"').matches(mails)


def test_member_of_and_direct_reports() -> None:
    rule = compile_rule("user.memberOf -any (group.objectId -in ['AAAA', 'bbbb'])")
    assert rule.member_of == {"aaaa", "bbbb"}
    assert rule.matches(user(member_of=frozenset({"aaaa"})))
    assert not rule.matches(user(member_of=frozenset({"cccc"})))
    reports = compile_rule('Direct Reports for "M-1"')
    assert reports.direct_reports == "m-1" and reports.reads == {"manager"}
    assert reports.matches(user(manager_id="m-1")) and not reports.matches(user(manager_id="m-2"))


def test_dates_against_system_now() -> None:
    now = dt.datetime(2026, 1, 10, tzinfo=dt.UTC)
    rule = compile_rule("user.employeeHireDate -ge system.now -minus P7D", clock=lambda: now)
    assert rule.unstored == ("employeeHireDate",)
    assert not rule.matches(user())  # Hospes keeps no hire date: null, so false


def test_reads_index_the_change_log_properties() -> None:
    rule = compile_rule('user.department -eq "x" -and user.telephoneNumber -startsWith "+49" -and user.city -ne "B"')
    assert rule.reads == {"department", "businessPhones"}
    assert rule.columns == {"department", "business_phones"}
    assert rule.unstored == ("city",)
    assert rule.matches(user(department="X", business_phones=["+4930", "+1"]))


def test_explain_reports_every_expression_with_the_value_it_read() -> None:
    rule = compile_rule('(user.department -eq "Sales") -and -not (user.jobTitle -startsWith "SDE")')
    detail = rule.explain(user(department="Sales", job_title="SDE II"))
    assert detail.result is False
    assert [c.expression for c in detail.children] == [
        'user.department -eq "Sales"',
        '-not (user.jobTitle -startsWith "SDE")',
    ]
    assert detail.children[0].property_name == "department" and detail.children[0].property_value == "Sales"
    assert detail.children[1].children[0].result is True


def test_regexes_are_bounded_like_the_scoping_filters() -> None:
    from hospes.expressions.scope import REGEX_TIMEOUT as SCOPE_TIMEOUT
    from hospes.membership_rules.errors import RuleEvaluationError
    from hospes.membership_rules.values import REGEX_TIMEOUT

    assert REGEX_TIMEOUT == SCOPE_TIMEOUT
    rule = compile_rule('user.displayName -match "(a|aa)+$"')
    with pytest.raises(RuleEvaluationError):
        rule.matches(user(display_name="a" * 40 + "!"))
