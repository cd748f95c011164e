"""The function registry: signatures, documentation, examples and the builder that compiles each call.

Every function of Microsoft's ``functions-for-customizing-application-data`` reference is one ``FunctionSpec``,
registered by the ``@function(...)`` decorator on its builder in the category module beside it. The spec drives,
from one place: compile-time checks (argument count, literal types), evaluation (its ``build`` returns a
closure), the generated ``docs/expressions.md``, Graph ``schema/functions()`` and the reference-example tests.

A builder receives the call and its compiled arguments, checks literal arguments (so mistakes are found when a
mapping is saved), and returns a closure ``fn(source) -> value`` that does no parsing or lookup of its own.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from hospes.expressions.ast import Call, Name, Node, Number, Omitted, String
from hospes.expressions.errors import ExpressionError

Source = Mapping[str, Any]  # one source object: attribute name -> value
Fn = Callable[[Source], Any]
_NO_CONST = object()

# The two parameter kinds most functions use; the others are spelt out where they occur.
STRING = "string"
EXPRESSION = "expression"


@dataclass(frozen=True)
class Param:
    name: str
    kind: str  # string | integer | expression | attribute | datetime | interval | compare | culture | regex | styles
    optional: bool = False
    repeating: bool = False
    doc: str = ""


@dataclass(frozen=True)
class Example:
    expression: str
    source: Mapping[str, Any]
    result: Any
    note: str = ""
    pattern: bool = False  # result is a regular expression the (non-deterministic) output must match


@dataclass
class Arg:
    """One argument slot at compile time: its tree, its compiled closure, and its literal value if any."""

    node: Node
    fn: Fn | None
    const: Any = _NO_CONST

    @property
    def present(self) -> bool:
        return not isinstance(self.node, Omitted)

    @property
    def is_const(self) -> bool:
        return self.const is not _NO_CONST

    def fail(self, message: str) -> ExpressionError:
        return ExpressionError(message, self.node.pos)

    def int_literal(self, what: str) -> int | None:
        """The literal integer, ``None`` when the argument is computed; a non-integer literal is an error."""
        node = self.node
        if isinstance(node, Number):
            return node.value
        if isinstance(node, String):
            try:
                return int(node.value.strip())
            except ValueError:
                raise self.fail(f"{what} must be an integer, not {node.value!r}") from None
        if isinstance(node, Name):
            raise self.fail(f"{what} must be an integer, not {node.name}")
        return None

    def str_literal(self, what: str) -> str | None:
        node = self.node
        if isinstance(node, String):
            return node.value
        if isinstance(node, Number):
            return str(node.value)
        if isinstance(node, Name):
            raise self.fail(f"{what} must be a string, not the name {node.name}")
        return None


Builder = Callable[[Call, list[Arg]], Fn]


def null(_: Source) -> Any:
    return None


def compiled(arg: Arg) -> Fn:
    """The argument's closure; an argument left empty evaluates to null."""
    return arg.fn if arg.fn is not None else null


@dataclass(frozen=True)
class FunctionSpec:
    name: str
    params: tuple[Param, ...]
    summary: str
    build: Builder
    returns: str = "String"
    examples: tuple[Example, ...] = ()
    notes: tuple[str, ...] = ()
    top_level_only: bool = False
    min_repeats: int = 1  # how many values a repeating parameter needs
    pairs: bool = False  # Switch: repeating (key, value) pairs
    extension: bool = False  # a Hospes addition, not one of Entra's functions

    @property
    def min_args(self) -> int:
        """Arguments are positional: an optional slot before a required one must still be written (empty)."""
        position = 0
        minimum = 0
        for p in self.params:
            position += self.min_repeats if p.repeating else 1
            if not p.optional:
                minimum = position
        return minimum

    @property
    def max_args(self) -> int | None:
        if any(p.repeating for p in self.params):
            return None
        return len(self.params)

    @property
    def signature(self) -> str:
        parts: list[str] = []
        for p in self.params:
            label = p.name
            if p.repeating:
                label = f"{p.name}1, ..., {p.name}N"
            if p.optional:
                label = f"[{label}]"
            parts.append(label)
        return f"{self.name}({', '.join(parts)})"

    def param_key(self, index: int, total: int) -> str:
        """The Graph ``parameters[].key`` of the argument at ``index`` (repeating params are numbered)."""
        for fixed_before, p in enumerate(self.params):
            if p.repeating:
                fixed_after = len(self.params) - fixed_before - 1
                repeat_count = total - fixed_before - fixed_after
                if index < fixed_before + repeat_count:
                    return f"{p.name}{index - fixed_before + 1}"
                return self.params[fixed_before + 1 + (index - fixed_before - repeat_count)].name
            if index == fixed_before:
                return p.name
        return f"arg{index + 1}"

    def as_graph(self) -> dict[str, Any]:
        """Shape used by Graph ``schema/functions()`` (Hospes' description of each function)."""
        return {
            "name": self.name,
            "signature": self.signature,
            "description": self.summary,
            "returns": self.returns,
            "parameters": [
                {"name": p.name, "type": p.kind, "optional": p.optional, "repeating": p.repeating} for p in self.params
            ],
        }


@dataclass
class Registry(Mapping[str, FunctionSpec]):
    specs: dict[str, FunctionSpec] = field(default_factory=dict)

    def add(self, spec: FunctionSpec) -> None:
        if spec.name in self.specs:
            raise ValueError(f"function {spec.name} is registered twice")
        self.specs[spec.name] = spec

    def __getitem__(self, key: str) -> FunctionSpec:
        return self.specs[key]

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(sorted(self.specs, key=str.lower))

    def __len__(self) -> int:
        return len(self.specs)


FUNCTIONS = Registry()


def function(
    name: str,
    *,
    params: Sequence[Param],
    summary: str,
    examples: Sequence[Example],
    returns: str = "String",
    notes: Sequence[str] = (),
    top_level_only: bool = False,
    min_repeats: int = 1,
    pairs: bool = False,
    extension: bool = False,
) -> Callable[[Builder], Builder]:
    """Register the decorated builder as the function ``name`` in ``FUNCTIONS``; the builder is returned as is,
    so one builder can carry several registrations (stacked decorators)."""

    def register(build: Builder) -> Builder:
        FUNCTIONS.add(
            FunctionSpec(
                name=name,
                params=tuple(params),
                summary=summary,
                build=build,
                returns=returns,
                examples=tuple(examples),
                notes=tuple(notes),
                top_level_only=top_level_only,
                min_repeats=min_repeats,
                pairs=pairs,
                extension=extension,
            )
        )
        return build

    return register


def suggest(name: str) -> str | None:
    """The registered function a misspelt name most likely meant (functions are case-sensitive)."""
    for known in FUNCTIONS.specs:
        if known.lower() == name.lower():
            return known
    close = difflib.get_close_matches(name, list(FUNCTIONS.specs), n=1, cutoff=0.7)
    return close[0] if close else None
