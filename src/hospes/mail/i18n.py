"""Message catalogs (Babel ``.po`` files compiled in memory on first use) and the choice of a language."""

from __future__ import annotations

import gettext
from functools import cache
from io import BytesIO
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

LOCALE_DIR = Path(__file__).parent / "templates" / "locale"
DEFAULT_LANGUAGE = "en-US"
# Languages with a catalog (plus en-US, the source language of the templates), as BCP 47 tags.
SUPPORTED = ("en-US", "fr-FR", "de-DE", "es-ES", "ja-JP")


def match_language(tag: str | None) -> str | None:
    """The supported language for an RFC 4646 / ISO 639 tag ('fr', 'fr-CA', 'FR_fr' -> 'fr-FR'), or None."""
    if not tag or not isinstance(tag, str):
        return None
    wanted = tag.strip().replace("_", "-").lower()
    for lang in SUPPORTED:
        if lang.lower() == wanted:
            return lang
    primary = wanted.split("-", 1)[0]
    for lang in SUPPORTED:
        if lang.lower().split("-", 1)[0] == primary:
            return lang
    return None


def choose_language(*candidates: str | None) -> str:
    """The first candidate Hospes can render, in the caller's order of precedence; en-US when none fits."""
    for candidate in candidates:
        found = match_language(candidate)
        if found:
            return found
    return DEFAULT_LANGUAGE


def babel_locale(language: str) -> str:
    return language.replace("-", "_")


@cache
def translations(language: str) -> gettext.NullTranslations:
    """Compiled once per process from the ``.po`` source, so the repository holds no binary ``.mo`` files."""
    po = LOCALE_DIR / babel_locale(language) / "messages.po"
    if language == DEFAULT_LANGUAGE or not po.exists():
        return gettext.NullTranslations()
    with po.open("rb") as handle:
        catalog = read_po(handle, locale=babel_locale(language))
    buffer = BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return Translations(fp=buffer)
