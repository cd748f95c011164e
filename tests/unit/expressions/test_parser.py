"""Parser and compile-time checks: syntax, positions, expected tokens, names, argument counts, literal types."""

from __future__ import annotations

import pytest

from hospes.expressions import ExpressionError, compile_expression, parse, to_text
from hospes.expressions.ast import Attribute, Call, Compare, Name, Number, Omitted, String
from hospes.expressions.parser import MAX_DEPTH, MAX_LENGTH


def error_of(text: str) -> ExpressionError:
    with pytest.raises(ExpressionError) as info:
        compile_expression(text)
    return info.value


def test_tree_of_a_nested_call_with_skipped_arguments() -> None:
    tree = parse('Replace([mail], "@contoso.com", , ,"", ,)')
    assert tree == Call(
        "Replace",
        (Attribute("mail"), String("@contoso.com"), Omitted(), Omitted(), String(""), Omitted(), Omitted()),
    )


def test_literals() -> None:
    assert parse("BitAnd(&HF, &hf7)") == Call("BitAnd", (Number(15, True), Number(0xF7, True)))
    assert parse("Left([a], -1)") == Call("Left", (Attribute("a"), Number(-1)))
    assert parse('InStr("a", "b", 1, vbTextCompare)').args[3] == Name("vbTextCompare")  # type: ignore[union-attr]
    assert parse('IIF([a] <> "x", 1, 2)').args[0] == Compare("<>", Attribute("a"), String("x"))  # type: ignore[union-attr]
    assert parse("Guid()") == Call("Guid", ())
    assert parse("[ extension_abc_site ]") == Attribute("extension_abc_site")


def test_string_escapes() -> None:
    assert parse(r'"Company name: \"Contoso\""') == String('Company name: "Contoso"')
    assert parse(r'"a\\b"') == String("a\\b")
    assert parse(r'"\d+"') == String(r"\d+")  # unknown escapes stay as typed
    assert parse('"line\nbreak"') == String("line\nbreak")


def test_printer_is_canonical() -> None:
    assert to_text(parse('Replace([mail],"@x", , ,"", ,)')) == 'Replace([mail], "@x", , , "", , )'
    assert to_text(parse('IIF([c]="USA",[c],[d])')) == 'IIF([c] = "USA", [c], [d])'
    assert to_text(parse(r'"q\"\\"')) == r'"q\"\\"'
    assert to_text(parse("BitAnd(&HF, 3)")) == "BitAnd(&HF, 3)"


def test_multiline_expression() -> None:
    text = (
        'Switch([Active], ,\n  "1", IIF(DateDiff("d", Now(), CDate([StatusHireDate])) > 5, "False", "True"),\n'
        '  "0", "False")'
    )
    assert compile_expression(text).attributes == {"Active", "StatusHireDate"}


@pytest.mark.parametrize(
    ("text", "position", "expected"),
    [
        ("Mid([x], 1 3)", 11, {'")"', '","'}),
        ("Join(", 5, {'")"', "[attribute]", "string"}),
        ('Join(" ", [a]', 13, {'")"', '","'}),
        ('"abc', 0, {'"'}),
        ("[abc", 0, {"]"}),
        (")", 0, {"[attribute]", "function name"}),
        ("[a] = [b] = [c]", 10, {"end of expression"}),
        ('Join(" " [a])', 9, {'")"', '","'}),
        ("Left([x], 1)) ", 12, {"end of expression"}),
        ("Left([x], 1) @", 13, set()),
    ],
)
def test_syntax_errors_carry_position_and_expected(text: str, position: int, expected: set[str]) -> None:
    err = error_of(text)
    assert err.position == position, err
    assert expected <= set(err.expected), err.expected
    assert f"position {position}" in str(err)


def test_caret_points_at_the_error() -> None:
    err = error_of("Mid([x], 1 3)")
    assert err.caret("Mid([x], 1 3)") == "Mid([x], 1 3)\n           ^"
    multi = 'Join(" ",\n  [a] [b])'
    err = error_of(multi)
    assert err.caret(multi).splitlines() == ["  [a] [b])", "      ^"]


def test_empty_and_oversized_input() -> None:
    assert error_of("").position == 0
    assert error_of("   ").message == "expression is empty"
    assert "longer than" in error_of('"' + "a" * MAX_LENGTH + '"').message
    deep = "Trim(" * (MAX_DEPTH + 1) + "[a]" + ")" * (MAX_DEPTH + 1)
    assert "nested" in error_of(deep).message
    ok = "ToLower(" * MAX_DEPTH + "[a]" + ")" * MAX_DEPTH
    assert compile_expression(ok).evaluate({"a": "X"}) == "x"


def test_unknown_function_suggests_the_right_case() -> None:
    err = error_of('join(" ", [a])')
    assert err.message == "unknown function 'join' (did you mean Join?)"
    assert err.position == 0
    assert error_of("Foo([a])").message == "unknown function 'Foo'"
    assert "did you mean NormalizeDiacritics" in error_of("NormalizeDiacritic([a])").message


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("Mid([a], 1)", "Mid takes 3 arguments, got 2"),
        ("Append([a])", "Append takes 2 arguments, got 1"),
        ("Guid([a])", "Guid takes 0 arguments, got 1"),
        ('Join(" ")', "Join takes at least 2 arguments, got 1"),
        ('SelectUniqueValue("a")', "at least 2"),
        ('Switch([a], "d", "k", "v", "k2")', "even number"),
        ('Switch([a], "d", "k")', "at least 4"),
        ('Switch([a], , , "v")', "cannot be left empty"),
        ('ToLower([a], "en-US", "x")', "1 to 2"),
        ('Mid([a], "one", 2)', "start must be an integer"),
        ("Mid([a], 0, 2)", "1-based"),
        ("Mid([a], 1, -2)", "must not be negative"),
        ("Item([a], 0)", "1-based"),
        ('DateAdd("days", 1, Now())', "interval must be one of"),
        ('DateDiff("x", Now(), Now())', "interval must be one of"),
        ('InStr("a", "b", 0)', "1-based"),
        ('InStr("a", "b", 1, "vbSomething")', "compareType"),
        ('Replace([a], , "(unclosed", , "", , )', "invalid regular expression"),
        ('Replace([a], , "(?<x>a)", "y", "", , )', "no group named 'y'"),
        ('Replace([a], "x", , , , , )', "Replace needs"),
        ('FormatDateTime([a], , "yyyy-MM-dd\'", "d")', "unterminated quote"),
        ('FormatDateTime([a], "Sideways", "yyyy", "yyyy")', "unknown DateTimeStyles"),
        ('CDate("not a date")', "not a recognised date"),
        ("RandomString(300, 1, 1, 1, 1)", "at most 256"),
        ("RandomString(3, 1, 1, 1, 1)", "smaller than the sum"),
        ('ToUpper([a], "english")', "culture name"),
        ('Split([a], "")', "must not be empty"),
        ('BitAnd("x", 1)', "must be an integer"),
        ('Join(" ", SelectUniqueValue("a", "b"))', "must be the whole expression"),
        ("Left(foo, 1)", "unknown name 'foo'"),
        ("[]", "empty attribute name"),
    ],
)
def test_compile_time_errors(text: str, fragment: str) -> None:
    err = error_of(text)
    assert fragment in err.message, err.message
    assert err.position is not None
    assert 0 <= err.position < len(text)


def test_argument_error_points_at_the_argument() -> None:
    text = 'Join(" ", Mid([a], "x", 2))'
    assert error_of(text).position == text.index('"x"')


def test_numeric_strings_are_accepted_where_integers_are_expected() -> None:
    # Graph's attributeMappingSource stores numeric arguments as string constants.
    assert compile_expression('Mid([a], "2", "3")').evaluate({"a": "abcdef"}) == "bcd"


def test_expression_metadata() -> None:
    expr = compile_expression('Redact(Join(" ", [givenName], [Surname], [givenName]))')
    assert expr.attributes == frozenset({"givenName", "Surname"})
    assert expr.redacted
    assert compile_expression("[mail]").direct_attribute == "mail"
    assert compile_expression('"x"').is_constant
    assert not compile_expression("[mail]").redacted
    with pytest.raises(AttributeError):
        expr.text = "x"
    assert compile_expression('Join( " ",[a])') == compile_expression('Join(" ", [a])')
