"""Functions that change letters: case (ToLower, ToUpper, PCase) and diacritics (NormalizeDiacritics)."""

from __future__ import annotations

import unicodedata
from typing import Any

from hospes.expressions.ast import Call
from hospes.expressions.functions.registry import STRING, Arg, Example, Fn, Param, Source, compiled, function, null
from hospes.expressions.values import lift, text


def _culture(arg: Arg) -> str | None:
    if not arg.present:
        return None
    value = arg.str_literal("culture")
    if value is not None:
        parts = value.split("-")
        if not (2 <= len(parts[0]) <= 3 and parts[0].isalpha() and all(p.isalnum() and p for p in parts[1:])):
            raise arg.fail(f"{value!r} is not a culture name like en-US or tr-TR")
    return value


def _build_case(args: list[Arg], *, upper: bool) -> Fn:
    src = compiled(args[0])
    culture_lit = _culture(args[1]) if len(args) > 1 else None
    culture_fn = compiled(args[1]) if len(args) > 1 else null

    def convert(value: str, culture: str | None) -> str:
        lang = (culture or "").split("-")[0].lower()
        turkic = lang in ("tr", "az")  # Turkish/Azeri dotted and dotless i
        if turkic and upper:
            value = value.replace("i", "İ").replace("ı", "I")
        elif turkic:
            value = value.replace("I", "ı").replace("İ", "i")
        return value.upper() if upper else value.lower()

    def run(s: Source) -> Any:
        culture = culture_lit if culture_lit is not None else text(culture_fn(s))
        return lift(lambda v: convert(v, culture))(src(s))

    return run


@function(
    "ToLower",
    params=[Param("source", STRING), Param("culture", "culture", optional=True)],
    summary="Lower case, invariant culture unless a culture is given (tr-TR and az-AZ change i and I).",
    examples=[
        Example(
            'ToLower(Join("@", NormalizeDiacritics(StripSpaces(Join(".",  [PreferredFirstName], '
            '[PreferredLastName]))), "contoso.com"))',
            {"PreferredFirstName": "John", "PreferredLastName": "Smith"},
            "john.smith@contoso.com",
        ),
    ],
)
def build_to_lower(call: Call, args: list[Arg]) -> Fn:
    return _build_case(args, upper=False)


@function(
    "ToUpper",
    params=[Param("source", STRING), Param("culture", "culture", optional=True)],
    summary="Upper case, invariant culture unless a culture is given.",
    examples=[Example('ToUpper("istanbul", "tr-TR")', {}, "İSTANBUL"), Example('ToUpper("straße")', {}, "STRASSE")],
)
def build_to_upper(call: Call, args: list[Arg]) -> Fn:
    return _build_case(args, upper=True)


_SPECIAL_LETTERS = {"æ": "ae", "Æ": "AE", "ø": "oe", "Ø": "OE", "œ": "oe", "Œ": "OE", "ß": "ss", "ı": "i"}
_SPECIAL_LETTERS |= {"ł": "l", "Ł": "L", "đ": "d", "Đ": "D"}


def normalize_diacritics(value: str) -> str:
    """Reference table (æ→ae, ø→oe, ß→ss, ł→l, ı→i ...) plus every base letter + combining mark sequence."""
    decomposed = unicodedata.normalize("NFD", value)
    out = []
    for ch in decomposed:
        if unicodedata.category(ch) == "Mn":
            continue
        out.append(_SPECIAL_LETTERS.get(ch, ch))
    return unicodedata.normalize("NFC", "".join(out))


@function(
    "NormalizeDiacritics",
    params=[Param("source", STRING)],
    summary="Replaces letters with diacritics by plain ones, per the reference table (æ→ae, ø→oe, ß→ss, ł→l ...).",
    examples=[Example("NormalizeDiacritics([givenName])", {"givenName": "Zoë"}, "Zoe")],
)
def build_normalize_diacritics(call: Call, args: list[Arg]) -> Fn:
    src = compiled(args[0])
    f = lift(normalize_diacritics)
    return lambda s: f(src(s))


_TITLE_SEPARATORS = {"Zs", "Zl", "Zp", "Cc", "Cf", "Pc", "Pd", "Ps", "Pe", "Pi", "Pf", "Po", "Sm", "Sc", "Sk", "So"}


def pcase(value: str, separators: str | None) -> str:
    out: list[str] = []
    start = True
    prev = ""
    for ch in value:
        if separators is not None:
            sep = ch in separators
        else:
            # .NET ToTitleCase: an apostrophe right after a letter does not start a new word (O'neil, don't).
            sep = unicodedata.category(ch) in _TITLE_SEPARATORS and not (ch in "'’" and prev.isalpha())
        if sep:
            out.append(ch)
            start = True
        elif start:
            out.append(ch.upper())
            start = False
        else:
            out.append(ch.lower())
        prev = ch
    return "".join(out)


@function(
    "PCase",
    params=[Param("source", STRING), Param("wordSeparators", STRING, optional=True)],
    summary=(
        "Upper-cases the first letter of each word and lower-cases the rest; words split at spaces and "
        "punctuation (.NET ToTitleCase) or only at the given separator characters."
    ),
    examples=[
        Example("PCase([firstName])", {"firstName": "PABLO GONSALVES (SECOND)"}, "Pablo Gonsalves (Second)"),
        Example('PCase([lastName]," \'-")', {"lastName": "PINTO-DE'SILVA"}, "Pinto-De'Silva"),
        Example(
            'PCase(Join(" ",[firstName],[lastName]))',
            {"firstName": "GREGORY", "lastName": "JAMES"},
            "Gregory James",
        ),
    ],
)
def build_pcase(call: Call, args: list[Arg]) -> Fn:
    src = compiled(args[0])
    seps_arg = args[1] if len(args) > 1 and args[1].present else None
    seps_fn = compiled(seps_arg) if seps_arg else None

    def run(s: Source) -> Any:
        seps = text(seps_fn(s)) if seps_fn else None
        return lift(lambda v: pcase(v, seps))(src(s))

    return run
