"""Rule text → syntax tree, with the one lark grammar of the membership-rule language.

Keywords ignore case, the hyphen before an operator is optional (the reference's own examples write bare ``or``)
and an en dash pasted from documentation counts as one. ``-any``/``-all`` sit inside the predicate because their
bodies may hold ``-and``. Checking property names and operand types is the compiler's job, so a rule on device
properties parses and then fails there.
"""

from __future__ import annotations

import re
from typing import Any

from lark import Lark, Token, Tree
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from hospes.membership_rules import ast
from hospes.membership_rules.errors import INVALID_OBJECT_TYPE, QUERY_COMPILATION, RuleError

MAX_LENGTH = 3072  # the longest rule the reference accepts
MAX_DEPTH = 48  # nesting of parentheses and -not; bounds the recursive passes that follow the parse

GRAMMAR = r"""
start: rule
?rule: direct_reports | or_expr
direct_reports: DIRECT_REPORTS (STRING | SQSTRING)
?or_expr: and_expr (OR and_expr)*
?and_expr: not_expr (AND not_expr)*
?not_expr: NOT not_expr -> negation
         | atom
?atom: "(" or_expr ")"
     | predicate
predicate: PROPERTY CMP value                -> compare
         | PROPERTY SETOP list               -> in_list
         | PROPERTY QUANT "(" lambda_or ")"  -> quantified
         | PROPERTY QUANT ITEM CMP value     -> quantified_bare
?lambda_or: lambda_and (OR lambda_and)*
?lambda_and: lambda_atom (AND lambda_atom)*
?lambda_atom: ITEM CMP value                 -> item_compare
            | ITEM SETOP list                -> item_in_list
            | PROPERTY CMP value             -> compare
            | PROPERTY SETOP list            -> in_list
            | "(" lambda_or ")"
?value: STRING | SQSTRING | NUMBER | TRUE | FALSE | NULL | DATETIME | now_expr
now_expr: SYSTEM_NOW (SHIFT DURATION)?
list: "[" [value ("," value)*] "]"
CMP.2: /[-\u2013]?(eq|ne|(not)?(startsWith|endsWith|contains|match)|le|ge|lt|gt)(?![A-Za-z0-9_])/i
SETOP.2: /[-\u2013]?(in|notIn)(?![A-Za-z0-9_])/i
QUANT.2: /[-\u2013]?(any|all)(?![A-Za-z0-9_])/i
AND.2: /[-\u2013]?and(?![A-Za-z0-9_])/i
OR.2: /[-\u2013]?or(?![A-Za-z0-9_])/i
NOT.2: /[-\u2013]?not(?![A-Za-z0-9_])/i
SHIFT.2: /[-\u2013]?(plus|minus)(?![A-Za-z0-9_])/i
DIRECT_REPORTS.3: /Direct\s+Reports\s+for(?![A-Za-z0-9_])/i
SYSTEM_NOW.3: /system\.now(?![A-Za-z0-9_.])/i
TRUE.2: /true(?![A-Za-z0-9_])/i
FALSE.2: /false(?![A-Za-z0-9_])/i
NULL.2: /\$?null(?![A-Za-z0-9_])/i
ITEM: "_"
PROPERTY: /[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)+/
STRING: /"(\\.|[^"\\])*"/
SQSTRING: /'([^']|'')*'/
DATETIME.3: /\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})/
DURATION: /P(\d+[YMWD])*(T(\d+[HMS])+)?/i
NUMBER: /-?\d+(\.\d+)?/
%ignore /[ \t\r\n]+/
"""

_lark = Lark(GRAMMAR, parser="lalr", lexer="contextual", propagate_positions=True, maybe_placeholders=False)
_DIRECT_REPORTS = re.compile(r"Direct\s+Reports", re.IGNORECASE)
_NODES = ("negation", "or_expr", "and_expr", "lambda_or", "lambda_and", "quantified")


def parse(text: str) -> ast.Node:
    """The syntax tree of ``text``, or a ``RuleError`` at the first character that does not fit."""
    if not isinstance(text, str) or not text.strip():
        raise RuleError(QUERY_COMPILATION, 1)
    if len(text) > MAX_LENGTH:
        raise RuleError(f"The rule is longer than {MAX_LENGTH:,} characters.", MAX_LENGTH + 1)
    try:
        tree = _lark.parse(text)
    except UnexpectedInput as exc:
        raise _syntax_error(text, exc) from None
    _check_depth(tree)
    return _node(tree.children[0])


def _syntax_error(text: str, exc: UnexpectedInput) -> RuleError:
    if isinstance(exc, UnexpectedEOF):
        return RuleError(QUERY_COMPILATION, len(text) + 1)
    pos = exc.pos_in_stream if exc.pos_in_stream is not None else len(text)
    expected: set[str] = set()
    if isinstance(exc, UnexpectedCharacters):
        expected = set(exc.allowed or ())
    elif isinstance(exc, UnexpectedToken):
        expected = set(exc.expected or ())
        if exc.token.type == "$END":
            return RuleError(QUERY_COMPILATION, len(text) + 1)
    # A bare name where a property belongs: the "user." (object type) is missing.
    if "PROPERTY" in expected and text[pos : pos + 1].isalpha() and not _DIRECT_REPORTS.match(text, pos):
        return RuleError(INVALID_OBJECT_TYPE, pos + 1)
    return RuleError(QUERY_COMPILATION, pos + 1)


def _check_depth(tree: Tree[Token]) -> None:
    stack: list[tuple[Any, int]] = [(tree, 0)]
    while stack:
        node, depth = stack.pop()
        if not isinstance(node, Tree):
            continue
        if node.data in _NODES:
            depth += 1
            if depth > MAX_DEPTH:
                raise RuleError(f"The rule nests more than {MAX_DEPTH} levels deep.", node.meta.start_pos + 1)
        stack.extend((child, depth) for child in node.children)


def _span(tree: Tree[Token]) -> tuple[int, int]:
    return tree.meta.start_pos, tree.meta.end_pos


def _op(token: Token) -> str:
    return str(token).lstrip("-\u2013").lower()


def _property(token: Token) -> ast.Property:
    obj, _, name = str(token).partition(".")
    return ast.Property(obj, name, token.start_pos or 0)


def _node(tree: Any) -> ast.Node:
    kind = tree.data
    start, end = _span(tree)
    kids = tree.children
    if kind == "direct_reports":
        return ast.DirectReports(_string(kids[1]), start, end, kids[1].start_pos or 0)
    if kind in ("or_expr", "lambda_or"):
        return ast.Or(tuple(_node(k) for k in kids if isinstance(k, Tree)), start, end)
    if kind in ("and_expr", "lambda_and"):
        return ast.And(tuple(_node(k) for k in kids if isinstance(k, Tree)), start, end)
    if kind == "negation":
        return ast.Not(_node(kids[1]), start, end)
    if kind in ("compare", "item_compare"):
        return ast.Compare(_subject(kids[0]), _op(kids[1]), _value(kids[2]), start, end, kids[1].start_pos or 0)
    if kind in ("in_list", "item_in_list"):
        values = tuple(_value(v) for v in kids[2].children)
        return ast.InList(_subject(kids[0]), _op(kids[1]), values, start, end, kids[1].start_pos or 0)
    if kind == "quantified":
        return ast.Quantified(_property(kids[0]), _op(kids[1]), _node(kids[2]), start, end, kids[1].start_pos or 0)
    if kind == "quantified_bare":
        item_start, op_start = kids[2].start_pos or 0, kids[3].start_pos or 0
        item = ast.Compare(_subject(kids[2]), _op(kids[3]), _value(kids[4]), item_start, end, op_start)
        return ast.Quantified(_property(kids[0]), _op(kids[1]), item, start, end, kids[1].start_pos or 0)
    raise AssertionError(f"unexpected rule node {kind}")  # pragma: no cover - the grammar has no other


def _subject(token: Token) -> ast.Property | ast.Item:
    if token.type == "ITEM":
        return ast.Item(token.start_pos or 0)
    return _property(token)


def _string(token: Token) -> str:
    raw = str(token)
    if token.type == "SQSTRING":
        return raw[1:-1].replace("''", "'")
    # Only \" and \\ are escapes: any other backslash stays, so regular expressions such as "\d+" survive.
    out: list[str] = []
    body, i = raw[1:-1], 0
    while i < len(body):
        if body[i] == "\\" and i + 1 < len(body) and body[i + 1] in '\\"':
            out.append(body[i + 1])
            i += 2
            continue
        out.append(body[i])
        i += 1
    return "".join(out)


def _value(node: Any) -> ast.Value:
    if isinstance(node, Tree):  # now_expr
        start = node.meta.start_pos
        kids = node.children
        shift = (str(kids[1]).lstrip("-\u2013").lower(), str(kids[2])) if len(kids) == 3 else None
        return ast.Value("now", shift, start)
    token: Token = node
    start = token.start_pos or 0
    kind = token.type
    if kind in ("STRING", "SQSTRING"):
        return ast.Value("string", _string(token), start)
    if kind == "NUMBER":
        return ast.Value("number", str(token), start)
    if kind in ("TRUE", "FALSE"):
        return ast.Value("bool", kind == "TRUE", start)
    if kind == "NULL":
        return ast.Value("null", None, start)
    return ast.Value("datetime", str(token), start)
