"""Text → syntax tree, with the lark grammar of the Entra provisioning expression language.

Grammar notes: an expression is a function call, an ``[attribute]``, a ``"string"``, a bare
integer or ``&H`` hex literal, a bare name (``True``, ``vbTextCompare``) or a comparison (only meaningful as an
``IIF``/``CBool`` condition). Arguments may be left empty to skip an optional parameter. Names are
case-sensitive; checking them against the function registry happens in ``compiler.py`` so that this module
stays a pure syntax layer.
"""

from __future__ import annotations

from typing import Any

from lark import Lark, Token, Transformer, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from hospes.expressions.ast import Attribute, Call, Compare, Name, Node, Number, Omitted, String
from hospes.expressions.errors import ExpressionError

MAX_LENGTH = 10_000  # the longest expression Entra's provisioning service accepts
MAX_DEPTH = 64  # nesting of calls; bounds the recursive passes (transform, compile, print)

GRAMMAR = r"""
start: _expr
_expr: _operand | compare
compare: _operand COMP _operand
_operand: call | attribute | string | number | hex | name
call: NAME "(" _args ")"
_args: arg ("," arg)*
arg: _expr?
attribute: ATTR
string: STRING
number: INT
hex: HEX
name: NAME

COMP: "<>" | ">=" | "<=" | "=" | ">" | "<"
NAME: /[A-Za-z_][A-Za-z0-9_]*/
ATTR: /\[[^\[\]"]*\]/
STRING: /"(\\.|[^"\\])*"/s
INT: /-?[0-9]+/
HEX: /&[Hh][0-9A-Fa-f]+/
%ignore /[ \t\r\n\f\v]+/
"""

_TERMINAL_NAMES = {
    "LPAR": '"("',
    "RPAR": '")"',
    "COMMA": '","',
    "NAME": "function name",
    "ATTR": "[attribute]",
    "STRING": "string",
    "INT": "integer",
    "HEX": "hex number",
    "COMP": "comparison operator",
    "$END": "end of expression",
}

_lark = Lark(GRAMMAR, parser="lalr", lexer="contextual", maybe_placeholders=False)


def _unescape(body: str) -> str:
    # Only \\ and \" are escapes, as in Entra. Any other backslash stays as typed, so regex patterns such
    # as "\d+" survive (Microsoft's own examples double them: "\\d" - both spellings mean \d).
    out: list[str] = []
    i = 0
    while i < len(body):
        ch = body[i]
        if ch == "\\" and i + 1 < len(body) and body[i + 1] in '\\"':
            out.append(body[i + 1])
            i += 2
            continue
        out.append(ch)
        i += 1
    return "".join(out)


@v_args(inline=True)
class _ToAst(Transformer[Token, Node]):
    def start(self, node: Node) -> Node:
        return node

    def compare(self, left: Node, op: Token, right: Node) -> Node:
        return Compare(str(op), left, right, op.start_pos or 0)

    def call(self, name: Token, *args: Node) -> Node:
        # "F()" is one empty argument slot syntactically; it means "no arguments".
        items = tuple(args)
        if len(items) == 1 and isinstance(items[0], Omitted):
            items = ()
        return Call(str(name), items, name.start_pos or 0)

    def arg(self, node: Node | None = None) -> Node:
        return Omitted() if node is None else node

    def attribute(self, tok: Token) -> Node:
        return Attribute(str(tok)[1:-1].strip(), tok.start_pos or 0)

    def string(self, tok: Token) -> Node:
        return String(_unescape(str(tok)[1:-1]), tok.start_pos or 0)

    def number(self, tok: Token) -> Node:
        return Number(int(str(tok)), False, tok.start_pos or 0)

    def hex(self, tok: Token) -> Node:
        return Number(int(str(tok)[2:], 16), True, tok.start_pos or 0)

    def name(self, tok: Token) -> Node:
        return Name(str(tok), tok.start_pos or 0)


_transformer = _ToAst()


def _check_shape(text: str) -> None:
    """Reject over-long or over-nested text before parsing (keeps every later pass bounded)."""
    if len(text) > MAX_LENGTH:
        raise ExpressionError(f"expression is longer than {MAX_LENGTH} characters", MAX_LENGTH)
    depth = 0
    in_string = False
    i = 0
    while i < len(text):
        ch = text[i]
        if in_string:
            if ch == "\\":
                i += 1
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch == "(":
            depth += 1
            if depth > MAX_DEPTH:
                raise ExpressionError(f"functions are nested more than {MAX_DEPTH} deep", i)
        elif ch == ")":
            depth -= 1
        i += 1


def _expected(names: Any) -> list[str]:
    return sorted({_TERMINAL_NAMES.get(str(n), str(n)) for n in names or ()})


def _syntax_error(text: str, exc: UnexpectedInput) -> ExpressionError:
    pos = exc.pos_in_stream if exc.pos_in_stream is not None else len(text)
    if isinstance(exc, UnexpectedCharacters):
        ch = text[pos] if pos < len(text) else ""
        expected = _expected(exc.allowed)
        if ch == '"':
            return ExpressionError("unterminated string literal", pos, ['"'])
        if ch == "[":
            return ExpressionError("unterminated or invalid [attribute] reference", pos, ["]"])
        return ExpressionError(f"unexpected character {ch!r}", pos, expected)
    if isinstance(exc, UnexpectedEOF):
        return ExpressionError("unexpected end of expression", len(text), _expected(exc.expected))
    if isinstance(exc, UnexpectedToken):
        token = exc.token
        expected = _expected(exc.expected)
        if token.type == "$END":
            return ExpressionError("unexpected end of expression", len(text), expected)
        return ExpressionError(f"unexpected {str(token)!r}", token.start_pos, expected)
    return ExpressionError("syntax error", pos)  # pragma: no cover - lark raises only the three above


def parse(text: str) -> Node:
    """Parse expression text into a tree; raise ``ExpressionError`` with position and expected tokens."""
    if not isinstance(text, str):
        raise ExpressionError("expression must be text")
    _check_shape(text)
    if not text.strip():
        raise ExpressionError("expression is empty", 0, ["[attribute]", "function name", "string"])
    try:
        tree = _lark.parse(text)
    except UnexpectedInput as exc:
        raise _syntax_error(text, exc) from None
    node: Node = _transformer.transform(tree)
    return node
