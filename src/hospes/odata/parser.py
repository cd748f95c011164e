"""Parsers for ``$filter`` (a lark LALR grammar), ``$select``, ``$orderby`` and ``$search``."""

from __future__ import annotations

import datetime as _dt
from functools import lru_cache

from lark import Lark, Token, Transformer, Tree, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken, VisitError

from hospes.odata.ast import And, Compare, Func, In, Lambda, Literal, Node, Not, Or, Path

GRAMMAR = r"""
?start: or_expr
?or_expr: and_expr (_OR and_expr)*  -> or_
?and_expr: unary (_AND unary)*      -> and_
?unary: _NOT unary                  -> not_
      | primary
?primary: "(" or_expr ")"
        | operand COMPOP operand    -> compare
        | path _IN "(" literal ("," literal)* ")" -> in_
        | FUNC "(" path "," literal ")" -> func
        | path _ANY "(" NAME ":" or_expr ")" -> any_
?operand: path | literal
path: NAME ("/" NAME)*
literal: STRING -> string
       | NUMBER -> number
       | _TRUE  -> true
       | _FALSE -> false
       | _NULL  -> null
       | GUID   -> guid
       | DATETIME -> datetime

COMPOP.2: /(eq|ne|gt|ge|lt|le)(?![A-Za-z0-9_])/i
FUNC.2: /(startswith|endswith)(?=\s*\()/i
_AND.2: /and(?![A-Za-z0-9_])/i
_OR.2: /or(?![A-Za-z0-9_])/i
_NOT.2: /not(?![A-Za-z0-9_])/i
_IN.2: /in(?=\s*\()/i
_ANY.3: /\/any(?=\s*\()/i
_TRUE.2: /true(?![A-Za-z0-9_])/
_FALSE.2: /false(?![A-Za-z0-9_])/
_NULL.2: /null(?![A-Za-z0-9_])/
GUID.3: /[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}(?![A-Za-z0-9_-])/
DATETIME.3: /\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})?)?(?![A-Za-z0-9_-])/
STRING: /'([^']|'')*'/
NUMBER: /-?\d+(\.\d+)?/
NAME: /[A-Za-z_@][A-Za-z0-9_.@]*/
%ignore /\s+/
"""


# Limits on what a query may ask, checked before anything walks the query recursively: past them the AST, the SQL
# compiler and the database (SQLite refuses expression trees over 1000 deep; PostgreSQL has max_stack_depth) fail.
MAX_FILTER_DEPTH = 32  # the whole filter, each parenthesized group and each `not` or lambda body is one level
MAX_FILTER_TERMS = 100  # comparisons and functions, each value of an `in` list counting one
MAX_SEARCH_TERMS = 100
MAX_ORDERBY_KEYS = 8


class ODataSyntaxError(ValueError):
    def __init__(self, message: str, position: int | None = None) -> None:
        super().__init__(message)
        self.position = position


class ODataLimitError(ODataSyntaxError):
    """A well-formed query beyond one of the limits above."""


@v_args(inline=True)
class _ToAst(Transformer[Token, Node]):
    def or_(self, *items: Node) -> Node:
        return items[0] if len(items) == 1 else Or(tuple(items))

    def and_(self, *items: Node) -> Node:
        return items[0] if len(items) == 1 else And(tuple(items))

    def not_(self, item: Node) -> Node:
        return Not(item)

    def compare(self, left: Path | Literal, op: Token, right: Path | Literal) -> Node:
        return Compare(str(op).lower(), left, right)

    def in_(self, path: Path, *values: Literal) -> Node:
        return In(path, tuple(values))

    def func(self, name: Token, path: Path, value: Literal) -> Node:
        return Func(str(name).lower(), path, value)

    def any_(self, collection: Path, variable: Token, body: Node) -> Node:
        return Lambda(collection, str(variable), body)

    def path(self, *names: Token) -> Path:
        return Path(tuple(str(n) for n in names))

    def string(self, token: Token) -> Literal:
        return Literal(str(token)[1:-1].replace("''", "'"))

    def number(self, token: Token) -> Literal:
        text = str(token)
        return Literal(float(text) if "." in text else int(text))

    def true(self) -> Literal:
        return Literal(True)

    def false(self) -> Literal:
        return Literal(False)

    def null(self) -> Literal:
        return Literal(None)

    def guid(self, token: Token) -> Literal:
        return Literal(str(token))

    def datetime(self, token: Token) -> Literal:
        text = str(token)
        value = _dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
        return Literal(value if value.tzinfo else value.replace(tzinfo=_dt.UTC))


@lru_cache(maxsize=1)
def _parser() -> Lark:
    return Lark(GRAMMAR, parser="lalr", maybe_placeholders=False)


@lru_cache(maxsize=512)
def parse_filter(text: str) -> Node:
    """Parse a ``$filter`` value; raise ``ODataSyntaxError`` with the failing position."""
    if not text.strip():
        raise ODataSyntaxError("Invalid filter clause: the filter is empty.", 0)
    try:
        tree = _parser().parse(text)
        _check_limits(tree)
        node = _ToAst().transform(tree)
    except (UnexpectedToken, UnexpectedCharacters, UnexpectedEOF) as exc:
        position = getattr(exc, "pos_in_stream", None)
        column = getattr(exc, "column", None)
        where = f" at position {column}" if isinstance(column, int) and column > 0 else ""
        raise ODataSyntaxError(f"Invalid filter clause: syntax error{where}.", position) from None
    except (UnexpectedInput, VisitError) as exc:
        raise ODataSyntaxError(f"Invalid filter clause: {exc}") from None
    if isinstance(node, Path | Literal):
        raise ODataSyntaxError("Invalid filter clause: a filter must be a boolean expression.", 0)
    return node


def _check_limits(tree: Tree[Token]) -> None:
    """Iterative, so that the check itself does not recurse as deep as the query."""
    terms = 0
    stack: list[tuple[Tree[Token] | Token, int]] = [(tree, 0)]
    while stack:
        node, depth = stack.pop()
        if not isinstance(node, Tree):
            continue
        if node.data in ("or_", "not_"):
            depth += 1
            if depth > MAX_FILTER_DEPTH:
                raise ODataLimitError(f"Invalid filter clause: nested deeper than {MAX_FILTER_DEPTH} levels.")
        elif node.data in ("compare", "func"):
            terms += 1
        elif node.data == "in_":
            terms += len(node.children) - 1
        if terms > MAX_FILTER_TERMS:
            raise ODataLimitError(f"Invalid filter clause: more than {MAX_FILTER_TERMS} terms.")
        stack.extend((child, depth) for child in node.children)


def parse_select(text: str | None) -> list[str] | None:
    if text is None:
        return None
    names = [part.strip() for part in text.split(",") if part.strip()]
    return names or None


def parse_orderby(text: str | None) -> list[tuple[str, bool]]:
    """``displayName desc, id`` -> ``[("displayName", True), ("id", False)]`` (second item: descending)."""
    if not text:
        return []
    out: list[tuple[str, bool]] = []
    for part in text.split(","):
        words = part.split()
        if not words or len(words) > 2 or (len(words) == 2 and words[1].lower() not in ("asc", "desc")):
            raise ODataSyntaxError(f"Invalid $orderby clause: '{part.strip()}'.")
        out.append((words[0], len(words) == 2 and words[1].lower() == "desc"))
        if len(out) > MAX_ORDERBY_KEYS:
            raise ODataLimitError(f"Invalid $orderby clause: more than {MAX_ORDERBY_KEYS} properties.")
    return out


def parse_search(text: str) -> list[tuple[str, str]]:
    """``"displayName:ada" OR "mail:ada"`` -> ``[("displayName", "ada"), ("mail", "ada")]`` (ORed terms).

    Graph requires each term quoted; terms are joined by OR (AND is accepted and treated as OR-free conjunction
    is rare for directory search, so it is refused to avoid silently widening a query).
    """
    terms: list[tuple[str, str]] = []
    rest = text.strip()
    while rest:
        if not rest.startswith('"'):
            raise ODataSyntaxError('Syntax error: $search terms must be enclosed in double quotes: "property:value".')
        end = rest.find('"', 1)
        if end < 0:
            raise ODataSyntaxError("Syntax error: unterminated $search term.")
        term = rest[1:end]
        if ":" not in term:
            raise ODataSyntaxError(f"Syntax error: $search term '{term}' must be of the form property:value.")
        prop, value = term.split(":", 1)
        terms.append((prop.strip(), value.strip()))
        if len(terms) > MAX_SEARCH_TERMS:
            raise ODataLimitError(f"Syntax error: more than {MAX_SEARCH_TERMS} $search terms.")
        rest = rest[end + 1 :].strip()
        if rest:
            word, _, rest = rest.partition(" ")
            if word.upper() != "OR":
                raise ODataSyntaxError("Syntax error: only OR may join $search terms.")
            rest = rest.strip()
    return terms
