"""OData query options as Graph uses them: the ``$filter`` grammar (lark), ``$select``, ``$orderby``, ``$search``.

Framework-free: this package turns text into a small AST; ``hospes.storage.query`` turns the AST into SQL.
"""

from hospes.odata.ast import And, Compare, Func, In, Lambda, Literal, Node, Not, Or, Path
from hospes.odata.parser import (
    MAX_FILTER_DEPTH,
    MAX_FILTER_TERMS,
    MAX_ORDERBY_KEYS,
    MAX_SEARCH_TERMS,
    ODataLimitError,
    ODataSyntaxError,
    parse_filter,
    parse_orderby,
    parse_search,
    parse_select,
)

__all__ = [
    "And",
    "Lambda",
    "Compare",
    "Func",
    "In",
    "Literal",
    "Node",
    "MAX_FILTER_DEPTH",
    "MAX_FILTER_TERMS",
    "MAX_ORDERBY_KEYS",
    "MAX_SEARCH_TERMS",
    "Not",
    "ODataLimitError",
    "ODataSyntaxError",
    "Or",
    "Path",
    "parse_filter",
    "parse_orderby",
    "parse_search",
    "parse_select",
]
