"""Function semantics beyond the reference examples: nulls, empty strings, ranges, Unicode, dates, regexes."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from hospes.expressions import (
    NO_FLOW,
    ExpressionEvaluationError,
    NoUniqueValueError,
    compile_expression,
    source_view,
)
from hospes.expressions.functions import generators, replace


def ev(text: str, **source: Any) -> Any:
    return compile_expression(text).evaluate(source)


# ------------------------------------------------------------------------------------------ nulls and flow


def test_null_attribute_does_not_flow() -> None:
    assert ev("[mail]") is NO_FLOW
    assert ev("[mail]", mail=None) is NO_FLOW
    assert ev("[proxyAddresses]", proxyAddresses=[]) is NO_FLOW
    assert ev("[mail]", mail="") == ""  # empty is a value; IgnoreFlowIfNullOrEmpty drops it


def test_default_value_applies_to_null_but_not_to_an_ignored_flow() -> None:
    assert compile_expression("[jobTitle]").evaluate({}, default="Staff") == "Staff"
    assert compile_expression("[jobTitle]").evaluate({"jobTitle": "Dev"}, default="Staff") == "Dev"
    assert compile_expression("IgnoreFlowIfNullOrEmpty([jobTitle])").evaluate({}, default="Staff") is NO_FLOW


def test_attribute_lookup_is_case_insensitive() -> None:
    assert ev("[UserPrincipalName]", userPrincipalName="a@b") == "a@b"
    expr = compile_expression('Join(" ", [GIVENNAME], [surname])')
    src = {"givenName": "Ana", "Surname": "Lopez"}
    assert expr.evaluate(src) == expr.evaluate(source_view(src)) == "Ana Lopez"


def test_ignore_flow_nested_drops_the_whole_mapping() -> None:
    assert ev('Join(" ", IgnoreFlowIfNullOrEmpty([a]), "x")', a="") is NO_FLOW
    assert ev('Join(" ", IgnoreFlowIfNullOrEmpty([a]), "x")', a="y") == "y x"
    assert ev("IgnoreFlowIfNullOrEmpty([a])", a=[]) is NO_FLOW


def test_null_handling_of_string_functions() -> None:
    assert ev('Append([a], "x")') is NO_FLOW
    assert ev("Append([a], [b])", a="x") == "x"
    assert ev("Left([a], 3)") == ""  # documented: null string gives ""
    assert ev("Mid([a], 1, 3)") is NO_FLOW
    assert ev('Word([a], 1, " ")') == ""
    assert ev("ToLower([a])") is NO_FLOW
    assert ev("StripSpaces([a])") is NO_FLOW
    assert ev("NormalizeDiacritics([a])") is NO_FLOW
    assert ev("CStr([a])") is NO_FLOW
    assert ev('Replace([a], "x", , , "y", , )') is NO_FLOW
    assert ev('Split([a], ",")') is NO_FLOW
    assert ev("ConvertToBase64([a])") is NO_FLOW
    assert ev('InStr([a], "x")') is NO_FLOW


def test_empty_strings() -> None:
    assert ev('Append([a], "x")', a="") == "x"
    assert ev("Left([a], 3)", a="") == ""
    assert ev("Mid([a], 2, 3)", a="") == ""
    assert ev('Word([a], 1, " ")', a="") == ""
    assert ev('Split([a], ",")', a="") == [""]
    assert ev('InStr([a], "")', a="abc") == 1
    assert ev("ConvertToBase64([a])", a="") == ""


# ---------------------------------------------------------------------------------------- indexes, ranges


@pytest.mark.parametrize(
    ("text", "result"),
    [
        ('Left("John Doe", 0)', ""),
        ('Left("John Doe", -1)', "John Doe"),
        ('Left("John Doe", 50)', "John Doe"),
        ('Mid("abcdef", 1, 3)', "abc"),
        ('Mid("abcdef", 4, 100)', "def"),
        ('Mid("abcdef", 7, 2)', ""),
        ('Mid("abcdef", 2, 0)', ""),
        ('Word("The quick brown fox", 0, " ")', ""),
        ('Word("The quick brown fox", 5, " ")', ""),
        ('Word("a,,b", 2, ",")', "b"),
        ('InStr("abc", "c", 4)', 0),
        ('InStr("abc", "c", 99)', 0),
        ('InStr("abc", "z")', 0),
        ('InStr("ABC", "b", 1, "vbTextCompare")', 2),
    ],
)
def test_ranges(text: str, result: Any) -> None:
    assert ev(text) == result


def test_item_is_one_based_and_null_out_of_range() -> None:
    src = {"proxyAddresses": ["a", "b", "c"]}
    assert compile_expression("Item([proxyAddresses], 3)").evaluate(src) == "c"
    assert compile_expression("Item([proxyAddresses], 4)").evaluate(src) is NO_FLOW
    assert compile_expression("Item([proxyAddresses], [i])").evaluate({**src, "i": 0}) is NO_FLOW
    assert compile_expression("Item([mail], 1)").evaluate({"mail": "x"}) == "x"  # single value = one item


def test_runtime_index_errors() -> None:
    with pytest.raises(ExpressionEvaluationError):
        ev("Mid([a], [s], 2)", a="abc", s=0)
    with pytest.raises(ExpressionEvaluationError):
        ev("Left([a], [n])", a="abc", n="three")


def test_count_and_remove_duplicates() -> None:
    assert ev("Count([a])") == 0
    assert ev("Count([a])", a="x") == 1
    assert ev("Count([a])", a=["x", "y"]) == 2
    assert ev("RemoveDuplicates([a])", a=["x", "y", "x", "X"]) == ["x", "y", "X"]
    assert ev("RemoveDuplicates([a])") is NO_FLOW


# -------------------------------------------------------------------------------------------- Unicode


def test_diacritics_table_and_beyond() -> None:
    assert ev("NormalizeDiacritics([a])", a="Zoë Ærøskøbing Straße Łódź İpek ǣ ḗ") == (
        "Zoe AEroeskoebing Strasse Lodz Ipek ae e"
    )
    assert ev("NormalizeDiacritics([a])", a="Ĉu ŝi?") == "Cu si?"  # not in the table: marks stripped too
    assert ev("NormalizeDiacritics([a])", a="東京 😀") == "東京 😀"
    # decomposed input normalizes the same as precomposed
    assert ev("NormalizeDiacritics([a])", a="e\u0301") == "e"


def test_unicode_case_and_encodings() -> None:
    assert ev('ToUpper("straße")') == "STRASSE"
    assert ev('ToLower("İSTANBUL", "tr-TR")') == "istanbul"
    assert ev('ToLower("TITLE")') == "title"
    assert ev('ToUpper("ı", "az-AZ")') == "I"
    assert ev('ConvertToUTF8Hex("é")') == "C3A9"
    assert ev('ConvertToBase64("é")') == "6QA="
    assert ev('Left("😀abc", 2)') == "😀a"  # code points, not UTF-16 units


def test_pcase() -> None:
    assert ev('PCase("o\'neil mcDONALD-smith")') == "O'neil Mcdonald-Smith"
    assert ev('PCase("jean_luc  picard")') == "Jean_Luc  Picard"
    assert ev('PCase("émile zola", " ")') == "Émile Zola"
    assert ev('PCase("a-b c", "-")') == "A-B c"


def test_multi_valued_sources_are_mapped_value_by_value() -> None:
    assert ev("ToLower([a])", a=["X", "Y"]) == ["x", "y"]
    assert ev('Append([a], "@c")', a=["x", None, "y"]) == ["x@c", "y@c"]
    assert ev('Join(";", [a], [b])', a=["x", "", "y"], b="z") == "x;y;z"
    assert ev('Join(";", [a], [b])', a=["", None]) is NO_FLOW


def test_a_multi_valued_value_where_one_is_expected_is_an_error() -> None:
    with pytest.raises(ExpressionEvaluationError, match="multi-valued"):
        ev('Switch([a], "d", "x", "1")', a=["x", "y"])


# ---------------------------------------------------------------------------------------- conditions


def test_iif_condition_on_null_or_empty_fails() -> None:
    expr = compile_expression('IIF([country]="",[country],"Other")')
    assert expr.evaluate({"country": ""}) == "Other"
    assert expr.evaluate({}) == "Other"
    expr = compile_expression('IIF([country]<>"USA","not us","us")')
    assert expr.evaluate({}) == "us"  # even <> is false on null, as documented
    assert expr.evaluate({"country": "FR"}) == "not us"


def test_iif_with_functions_and_numbers() -> None:
    assert ev('IIF(IsPresent([c]), [c], "Other")') == "Other"
    assert ev('IIF(IsPresent([c]), [c], "Other")', c="FR") == "FR"
    assert ev('IIF([n] > 5, "big", "small")', n="10") == "big"  # numeric, not "10" < "5"
    assert ev('IIF([n] >= 10, "big", "small")', n=10) == "big"
    assert ev('IIF([a] = [b], "same", "diff")', a="001", b="1") == "diff"  # text equality
    assert ev('IIF(DateDiff("d", CDate("2021-01-01"), CDate([d])) > 5, "late", "soon")', d="2021-01-10") == "late"
    assert ev('IIF([accountEnabled] = "True", "on", "off")', accountEnabled=True) == "on"
    with pytest.raises(ExpressionEvaluationError):
        ev('IIF([a], "x", "y")', a="maybe")


def test_switch_semantics() -> None:
    active = compile_expression('Switch([IsSoftDeleted], , "False", "True", "True", "False")')
    assert active.evaluate({"IsSoftDeleted": True}) == "False"
    assert active.evaluate({"IsSoftDeleted": "False"}) == "True"
    assert active.evaluate({}) is NO_FLOW  # no key "" and no default
    assert ev('Switch([x], "d", "A", "1")', x="a") == "d"  # case-sensitive
    assert ev('Switch([x], "d", [k], "matched")', x="v", k="v") == "matched"  # computed keys
    assert ev('Switch([x], [x], "", "Other")', x="") == "Other"


def test_not_and_cbool() -> None:
    assert ev("Not([a])") is True
    assert ev("Not([a])", a="true") is False
    assert ev("Not([a])", a="banana") is True
    assert ev("CBool([a])", a="0") is False
    assert ev("CBool([a])", a=3) is True
    assert ev("CBool([a])") is False
    assert ev("CStr(CBool([a]))", a="TRUE") == "True"


def test_is_functions() -> None:
    assert ev("IsNull([a])", a="") is False
    assert ev("IsNullOrEmpty([a])", a=[]) is True
    assert ev("IsPresent([a])", a=" ") is True
    assert ev("IsString([a])", a=5) is False


def test_coalesce_skips_only_nulls() -> None:
    assert ev("Coalesce([a], [b])", a="", b="x") == ""
    assert ev("Coalesce([a], [b])", a=[], b="x") == "x"
    assert ev("Coalesce([a], [b])") is NO_FLOW


# -------------------------------------------------------------------------------------------------- dates


def test_dates() -> None:
    assert ev("CDate([d])", d="2021-06-30T10:00:00Z") == "6/30/2021 10:00:00 AM"
    assert ev("CDate([d])", d="20210630120000.0Z") == "6/30/2021 12:00:00 PM"
    assert ev("CDate([d])", d="12/31/2021 11:59:59 PM") == "12/31/2021 11:59:59 PM"
    assert ev("CDate([d])", d="2021-06-30 00:00:00") == "6/30/2021 12:00:00 AM"
    assert ev("CDate([d])") is NO_FLOW
    with pytest.raises(ExpressionEvaluationError):
        ev("CDate([d])", d="2021-02-30")
    assert ev('DateAdd("m", 1, CDate("2021-01-31"))') == "2/28/2021 12:00:00 AM"  # day clamped
    assert ev('DateAdd("yyyy", 1, CDate("2020-02-29"))') == "2/28/2021 12:00:00 AM"
    assert ev('DateAdd("n", -90, CDate("2021-01-01T01:00:00Z"))') == "12/31/2020 11:30:00 PM"
    assert ev('DateAdd([i], 1, CDate("2021-01-01"))', i="d") == "1/2/2021 12:00:00 AM"
    assert ev('DateAdd("d", 1, [d])') is NO_FLOW
    assert ev('DateDiff("q", CDate("2021-03-31"), CDate("2021-04-01"))') == 1
    assert ev('DateDiff("h", CDate("2021-01-01T00:00:00Z"), CDate("2021-01-01T01:59:00Z"))') == 1
    assert ev('DateDiff("h", CDate("2021-01-01T01:59:00Z"), CDate("2021-01-01T00:00:00Z"))') == -1
    assert ev("NumFromDate(DateFromNum([n]))", n="131000000000000000") == 131000000000000000


def test_format_date_time() -> None:
    assert ev('FormatDateTime([d], , "M/d/yyyy h:mm:ss tt", "yyyy-MM-dd")', d="3/5/2021 1:02:03 PM") == "2021-03-05"
    assert ev('FormatDateTime([d], , "yyyy-MM-dd", "dddd, MMMM d, yyyy")', d="2021-03-05") == "Friday, March 5, 2021"
    assert ev('FormatDateTime([d], , "yyyyMMdd", "yy/MM/dd HH\'h\'")', d="20210305") == "21/03/05 00h"
    assert ev('FormatDateTime([d], , "yyyy-MM-ddTHH:mm:ssK", "o")', d="2021-03-05T10:00:00Z") == (
        "2021-03-05T10:00:00.0000000Z"
    )
    assert (
        ev(
            'FormatDateTime([d], "AdjustToUniversal", "yyyy-MM-dd HH:mmzzz", "yyyy-MM-dd HH:mm")',
            d="2021-03-05 23:30-02:00",
        )
        == "2021-03-06 01:30"
    )
    assert ev('FormatDateTime(CDate([d]), , "dd/MM", "yyyy")', d="2021-03-05") == "2021"  # dates skip parsing
    assert ev('FormatDateTime([d], , "yyyy", "yyyy")', d="") is NO_FLOW
    with pytest.raises(ExpressionEvaluationError, match="does not match"):
        ev('FormatDateTime([d], , "yyyyMMdd", "yyyy")', d="2021-03-05")


# ---------------------------------------------------------------------------------------------- Replace


def test_replace_modes_and_dotnet_substitutions() -> None:
    assert ev('Replace([a], "o", , , "0", , )', a="foo") == "f00"
    assert ev('Replace([a], "", , , "0", , )', a="foo") == "foo"
    assert ev('Replace([a], , "(\\\\w+)@(\\\\w+)", , "$2:$1 ($$) [$&]", , )', a="jo@x") == "x:jo ($) [jo@x]"
    assert ev('Replace([a], , "(?<u>\\\\w+)@", , "${u}-${missing}", , )', a="jo@x") == "jo-${missing}x"
    assert ev('Replace([a], , "b", , "[$`|$\']", , )', a="abc") == "a[a|c]c"
    assert ev('Replace([a], , "x", , "y", , )', a=["ax", "bx"]) == ["ay", "by"]
    # replacementAttributeName: the source wins when it has a value
    expr = 'Replace([t], , "(?<n>\\\\d+)", "n", , [m], )'
    assert ev(expr, t="kept", m="call 555") == "kept"
    assert ev(expr, m="call 555") == "555"
    assert ev(expr, m="no digits") is NO_FLOW
    # case-sensitive
    assert ev('Replace([a], "X", , , "y", , )', a="x") == "x"


def test_replace_regex_is_bounded_in_time(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(replace, "REGEX_TIMEOUT", 0.05)
    expr = compile_expression('Replace([a], , "(a|aa)+$", , "", , )')
    with pytest.raises(ExpressionEvaluationError, match="longer than"):
        expr.evaluate({"a": "a" * 40 + "b"})


def test_computed_regex_errors_at_runtime() -> None:
    with pytest.raises(ExpressionEvaluationError, match="invalid regular expression"):
        ev('Replace([a], , [p], , "", , )', a="x", p="(")


# ------------------------------------------------------------------------------------- generators, roles


def test_select_unique_value_asks_the_target() -> None:
    expr = compile_expression(
        'SelectUniqueValue(Join("@", [g], "c.com"), Join("@", Mid([g], 1, 1), "c.com"), Join("@", [s], "c.com"))'
    )
    src = {"g": "John", "s": "Smith"}
    taken = {"John@c.com"}
    assert expr.evaluate(src, is_unique=lambda v: v not in taken) == "J@c.com"
    taken.add("J@c.com")
    assert expr.evaluate(src, is_unique=lambda v: v not in taken) == "Smith@c.com"
    taken.add("Smith@c.com")
    with pytest.raises(NoUniqueValueError, match="already taken"):
        expr.evaluate(src, is_unique=lambda v: v not in taken)
    assert expr.evaluate(src) == "John@c.com"
    assert compile_expression("SelectUniqueValue([x], [y])").evaluate({}) is NO_FLOW
    assert expr.selects_unique_value


def test_random_string_and_guid() -> None:
    expr = compile_expression('RandomString(12, 2, 2, 2, 2, "0O1lI")')
    values = {expr.evaluate({}) for _ in range(20)}
    assert len(values) == 20
    for v in values:
        assert len(v) == 12
        assert not set(v) & set("0O1lI")
        assert sum(c.isdigit() for c in v) >= 2
        assert sum(c in generators.SPECIAL_CHARACTERS for c in v) >= 2
    assert ev("Guid()") != ev("Guid()")
    with pytest.raises(ExpressionEvaluationError):
        ev('RandomString(4, 4, 0, 0, 0, "0123456789")')


def test_app_roles() -> None:
    roles = [
        {"appRoleId": "00000000-0000-0000-0000-000000000000", "value": None, "displayName": None},
        {"appRoleId": "r2", "value": "Admin", "displayName": "Administrator"},
    ]
    assert ev("SingleAppRoleAssignment([appRoleAssignments])", appRoleAssignments=roles) == "Admin"
    assert ev("SingleAppRoleAssignment([appRoleAssignments])", appRoleAssignments=roles[1:]) == "Admin"
    assert ev("SingleAppRoleAssignment([appRoleAssignments])", appRoleAssignments=[]) is NO_FLOW
    out = ev("AppRoleAssignmentsComplex([appRoleAssignments])", appRoleAssignments=roles)
    assert out == [
        {"primary": False, "type": "WindowsAzureActiveDirectoryRole", "display": "Administrator", "value": "Admin"}
    ]
    assert ev("AppRoleAssignmentsComplex([appRoleAssignments])") is NO_FLOW


def test_bitand_and_cstr() -> None:
    assert ev("BitAnd([flags], 2)", flags="514") == 2
    assert ev("BitAnd([flags], &H2)", flags=512) == 0
    assert ev("CStr([n])", n=42) == "42"
    assert ev("CStr([m])", m={"value": "id-1"}) == "id-1"


def test_compiled_expression_is_thread_safe() -> None:
    expr = compile_expression('Join(" ", ToUpper([g]), Mid([s], 1, 3), Switch([d], "x", "a", "1"))')
    errors: list[str] = []

    def work(i: int) -> None:
        for j in range(300):
            src = {"g": f"g{i}", "s": f"surname{j}", "d": "a" if j % 2 else "b"}
            want = f"G{i} sur {'1' if j % 2 else 'x'}"
            if expr.evaluate(src) != want:
                errors.append(want)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
