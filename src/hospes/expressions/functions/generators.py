"""Functions that generate a new value on every evaluation: Guid and RandomString (cryptographic RNG)."""

from __future__ import annotations

import secrets
import string
import uuid
from typing import Any

from hospes.expressions.ast import Call
from hospes.expressions.errors import ExpressionEvaluationError
from hospes.expressions.functions.registry import STRING, Arg, Example, Fn, Param, Source, compiled, function, null
from hospes.expressions.values import text, to_int

SPECIAL_CHARACTERS = "~!@#$%^&*_-+=`|\\(){}[]:;\"'<>,.?/"


@function(
    "Guid",
    params=[],
    summary="A new random GUID.",
    examples=[
        Example("Guid()", {}, r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", pattern=True),
    ],
)
def build_guid(call: Call, args: list[Arg]) -> Fn:
    return lambda s: str(uuid.uuid4())


@function(
    "RandomString",
    params=[
        Param("Length", "integer"),
        Param("MinimumNumbers", "integer"),
        Param("MinimumSpecialCharacters", "integer"),
        Param("MinimumCapital", "integer"),
        Param("MinimumLowerCase", "integer"),
        Param("CharactersToAvoid", STRING, optional=True),
    ],
    summary="A random string (cryptographic RNG) of Length ≤ 256 characters with the given minimum counts.",
    examples=[
        Example("RandomString(6,3,0,0,3)", {}, r"(?=(?:.*\d){3})(?=(?:.*[a-z]){3})[0-9a-z]{6}", pattern=True),
        Example('RandomString(10,2,2,2,1,"?,")', {}, r"(?=(?:.*\d){2})(?=(?:.*[A-Z]){2})[^?,]{10}", pattern=True),
    ],
)
def build_random_string(call: Call, args: list[Arg]) -> Fn:
    names = ("Length", "MinimumNumbers", "MinimumSpecialCharacters", "MinimumCapital", "MinimumLowerCase")
    lits: list[int | None] = [a.int_literal(n) for a, n in zip(args[:5], names, strict=True)]
    for a, n, v in zip(args, names, lits, strict=False):
        if v is not None and v < 0:
            raise a.fail(f"{n} must not be negative")
    if lits[0] is not None and lits[0] > 256:
        raise args[0].fail("Length is at most 256")
    if all(v is not None for v in lits) and sum(v or 0 for v in lits[1:]) > (lits[0] or 0):
        raise args[0].fail("Length is smaller than the sum of the minimums")
    fns = [compiled(a) for a in args[:5]]
    avoid_fn = compiled(args[5]) if len(args) > 5 else null
    rng = secrets.SystemRandom()

    def run(s: Source) -> Any:
        length, digits, special, upper, lower = (
            v if v is not None else to_int(f(s), n) for v, f, n in zip(lits, fns, names, strict=True)
        )
        if length is None or digits is None or special is None or upper is None or lower is None:
            return None
        if length > 256 or digits + special + upper + lower > length or min(digits, special, upper, lower) < 0:
            raise ExpressionEvaluationError("RandomString lengths are inconsistent")
        avoid = set(text(avoid_fn(s)) or "")
        pools = [
            [c for c in string.digits if c not in avoid],
            [c for c in SPECIAL_CHARACTERS if c not in avoid],
            [c for c in string.ascii_uppercase if c not in avoid],
            [c for c in string.ascii_lowercase if c not in avoid],
        ]
        chars: list[str] = []
        for pool, count in zip(pools, (digits, special, upper, lower), strict=True):
            if count and not pool:
                raise ExpressionEvaluationError("CharactersToAvoid removes a whole required character class")
            chars.extend(rng.choice(pool) for _ in range(count))
        everything = [c for pool in pools for c in pool]
        if len(chars) < length and not everything:
            raise ExpressionEvaluationError("CharactersToAvoid removes every character")
        chars.extend(rng.choice(everything) for _ in range(length - len(chars)))
        rng.shuffle(chars)
        return "".join(chars)

    return run
