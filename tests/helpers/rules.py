"""A generator of valid membership rules, each with an independent Python predicate saying whom it selects, and
of users to try them on (as the mappings rules read, and as Graph user bodies)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st

WORDS = ["", "a", "ab", "Ab", "b", "ba", "A-b"]
# rule property → (Graph property, column)
STRING_PROPS = {
    "department": ("department", "department"),
    "jobTitle": ("jobTitle", "job_title"),
    "companyName": ("companyName", "company_name"),
    "employeeId": ("employeeId", "employee_id"),
}
_NEG = {"ne": "eq", "notStartsWith": "startsWith", "notEndsWith": "endsWith", "notContains": "contains", "notIn": "in"}
Predicate = Callable[[dict[str, Any]], bool]


@dataclass(frozen=True)
class GeneratedRule:
    text: str
    expected: Predicate  # who the rule selects, computed without the rule language


def _quote(word: str) -> str:
    return '"' + word + '"'


def _positive(op: str, value: str | None, wanted: Any) -> bool:
    if not value:
        return False
    v = value.casefold()
    if op == "in":
        return v in {w.casefold() for w in wanted}
    w = str(wanted).casefold()
    return {"eq": v == w, "startsWith": v.startswith(w), "endsWith": v.endswith(w), "contains": w in v}[op]


@st.composite
def string_leaf(draw: st.DrawFn) -> GeneratedRule:
    prop = draw(st.sampled_from(sorted(STRING_PROPS)))
    column = STRING_PROPS[prop][1]
    op = draw(
        st.sampled_from(
            [
                "eq",
                "ne",
                "startsWith",
                "notStartsWith",
                "endsWith",
                "notEndsWith",
                "contains",
                "notContains",
                "in",
                "notIn",
                "eqNull",
                "neNull",
            ]
        )
    )
    if op in ("eqNull", "neNull"):
        wanted_null = op == "eqNull"
        return GeneratedRule(f"user.{prop} -{op[:2]} null", lambda u: (not u[column]) == wanted_null)
    positive = _NEG.get(op, op)
    if positive == "in":
        words = draw(st.lists(st.sampled_from(WORDS[1:]), min_size=1, max_size=3))
        text = f"user.{prop} -{op} [" + ", ".join(_quote(w) for w in words) + "]"
        wanted: Any = words
    else:
        wanted = draw(st.sampled_from(WORDS[1:]))
        text = f"user.{prop} -{op} {_quote(wanted)}"
    if positive == op:
        return GeneratedRule(text, lambda u: _positive(positive, u[column], wanted))
    return GeneratedRule(text, lambda u: not _positive(positive, u[column], wanted))


@st.composite
def other_leaf(draw: st.DrawFn) -> GeneratedRule:
    kind = draw(st.sampled_from(["enabled", "mails", "mailsAll"]))
    if kind == "enabled":
        wanted = draw(st.booleans())
        op = draw(st.sampled_from(["eq", "ne"]))
        text = f"user.accountEnabled -{op} {str(wanted).lower()}"
        return GeneratedRule(text, lambda u: (u["account_enabled"] is wanted) == (op == "eq"))
    word = draw(st.sampled_from(WORDS[1:]))
    if kind == "mails":
        return GeneratedRule(
            f"user.otherMails -any (_ -startsWith {_quote(word)})",
            lambda u: any(m.casefold().startswith(word.casefold()) for m in u["other_mails"]),
        )
    return GeneratedRule(
        f"user.otherMails -all (_ -contains {_quote(word)})",
        lambda u: all(word.casefold() in m.casefold() for m in u["other_mails"]),
    )


def _combine(children: st.SearchStrategy[GeneratedRule]) -> st.SearchStrategy[GeneratedRule]:
    def pair(kind: str) -> st.SearchStrategy[GeneratedRule]:
        def make(a: GeneratedRule, b: GeneratedRule) -> GeneratedRule:
            if kind == "and":
                return GeneratedRule(f"({a.text}) -and ({b.text})", lambda u: a.expected(u) and b.expected(u))
            return GeneratedRule(f"({a.text}) or ({b.text})", lambda u: a.expected(u) or b.expected(u))

        return st.builds(make, children, children)

    negation = st.builds(lambda a: GeneratedRule(f"-not ({a.text})", lambda u: not a.expected(u)), children)
    return st.one_of(pair("and"), pair("or"), negation)


rules = st.recursive(st.one_of(string_leaf(), other_leaf()), _combine, max_leaves=6)


@st.composite
def users(draw: st.DrawFn) -> dict[str, Any]:
    """A user as a rule reads it (columns); ``graph_body`` turns it into a Graph user's properties."""
    row: dict[str, Any] = {column: draw(st.sampled_from([None, *WORDS])) for _, column in STRING_PROPS.values()}
    row["account_enabled"] = draw(st.booleans())
    row["other_mails"] = draw(st.lists(st.sampled_from(["a@x.test", "ab@y.test", "b@z.test"]), max_size=2, unique=True))
    return row


def graph_body(row: dict[str, Any]) -> dict[str, Any]:
    """The Graph properties of a generated user (empty strings become null, as Graph stores them)."""
    body: dict[str, Any] = {graph: (row[column] or None) for graph, column in STRING_PROPS.values()}
    body["accountEnabled"] = row["account_enabled"]
    body["otherMails"] = row["other_mails"]
    return body
